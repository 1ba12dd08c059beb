from odoo.tests import tagged

from .common import PulseHttpCase


@tagged("post_install", "-at_install")
class TestToursRuleReturn(PulseHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # a rule's fixed cost is a line of the report from the day it is created
        cls.make_rule(name="Tour return rule", fixed_cost=120.0)

    def test_manager_reads_the_return_on_rules(self):
        self.start_tour("/odoo", "customer_pulse_rule_return", login="pulse_manager")
