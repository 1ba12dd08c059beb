from odoo import fields
from odoo.tests import tagged

from .common import PulseHttpCase


@tagged("post_install", "-at_install")
class TestToursFinance(PulseHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        customer = cls.make_customer("Tour Collect Co")
        today = fields.Date.context_today(customer)
        # invoiced today, 400 of 1,000 paid: the earliest expected payment
        invoice = cls.make_invoice(cls.make_order(customer, None, qty=10), today)
        cls.pay(invoice, today, amount=400.0)
        # still to invoice, expected in 45 days
        cls.make_order(
            customer,
            None,
            qty=10,
            payment_term_id=cls.env.ref("account.account_payment_term_45days").id,
        )

    def test_to_collect_by_expected_week(self):
        """An accountant opens Follow-ups > To collect, groups by expected week and opens an
        item."""
        self.start_tour("/odoo", "customer_pulse_to_collect", login="pulse_accountant")
