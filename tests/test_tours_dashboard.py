from dateutil.relativedelta import relativedelta

from odoo import fields
from odoo.tests import tagged

from .common import PulseHttpCase


@tagged("post_install", "-at_install")
class TestToursDashboard(PulseHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # a lapsed customer and a quotation of the month, so that the figures are not empty
        lapsed = cls.make_customer("Dashboard Tour Lapsed")
        cls.make_order(lapsed, fields.Date.today() - relativedelta(years=2))
        cls.make_order(cls.make_customer("Dashboard Tour Buyer"), None, confirm=False)
        cls.env["pulse.facts.engine"]._refresh_all()
        cls.env.ref("customer_pulse.segment_lapsed")._refresh_safely()

    def test_manager_opens_the_dashboard(self):
        """A manager opens Dashboards › Customer Pulse: the spreadsheet renders its figures,
        and a figure leads to the report behind it."""
        self.start_tour("/odoo", "customer_pulse_dashboard", login="pulse_manager")
