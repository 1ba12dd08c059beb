from odoo import fields
from odoo.tests import tagged

from .common import PulseHttpCase


@tagged("post_install", "-at_install")
class TestTours(PulseHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        customer = cls.make_customer("Tour Customer", is_company=False)
        order = cls.make_order(customer, None)
        cls.make_invoice(order, fields.Date.context_today(order))
        lapsed = cls.env["res.partner"].create({"name": "Lapsed Tour Customer"})
        cls.make_order(lapsed, "2020-01-01")
        cls.env["pulse.facts.engine"]._refresh_all()

    def test_open_app(self):
        """A Customer Pulse user opens the app and sees the customer list."""
        self.start_tour("/odoo", "customer_pulse_open_app", login="pulse_user")

    def test_pulse_card_to_invoices(self):
        """An accountant opens a customer's pulse card and clicks through to its invoices."""
        self.start_tour("/odoo", "customer_pulse_card", login="pulse_accountant")

    def test_segment_refresh_and_members(self):
        """A marketer builds a segment with the domain editor, refreshes it and opens its
        members."""
        self.start_tour("/odoo", "customer_pulse_segment", login="pulse_marketer")

    def test_segment_form_hides_revenue_from_marketers(self):
        """A marketer opens a shipped segment: member figures yes, revenue figures no."""
        self.env["pulse.segment"].search([])._refresh_safely()
        lapsed = self.env.ref("customer_pulse.segment_lapsed")
        self.assertTrue(lapsed.member_ids, "the tour needs members to show the key figures")
        self.start_tour("/odoo", "customer_pulse_segment_rights", login="pulse_marketer")

    def test_rule_build_preview_start(self):
        """A marketer builds a two-step rule, previews it and switches it on."""
        self.start_tour("/odoo", "customer_pulse_rule", login="pulse_marketer")
        rule = self.env["pulse.rule"].search([("name", "=", "Come back, please")])
        self.assertEqual(rule.state, "running")
        self.assertEqual(rule.step_ids.mapped("action"), ["email", "activity"])

    def test_survey_answer_fills_profile(self):
        """A customer answers a mapped survey in the browser; a salesperson sees the values on
        their partner form, and the history behind one."""
        customer = self.make_customer("Survey Tour Co", email="survey@tour.example")
        survey = self.env.ref("customer_pulse.survey_first_order")
        satisfaction = self.env.ref("customer_pulse.attribute_satisfaction")
        # an earlier assessment, so that the history has two rows
        self.env["pulse.attribute.value"].create(
            {
                "partner_id": customer.id,
                "attribute_id": satisfaction.id,
                "option_id": self.env.ref("customer_pulse.option_satisfaction_neutral").id,
                "date": "2026-01-01 10:00:00",
            }
        )
        answer = survey._create_answer(partner=customer, check_attempts=False)
        self.start_tour(
            f"/survey/start/{survey.access_token}?answer_token={answer.access_token}",
            "customer_pulse_survey_answer",
        )
        self.assertEqual(answer.state, "done")
        values = answer.pulse_value_ids
        self.assertEqual(
            sorted(values.mapped("value_display")), ["Deliver on Saturdays", "Very satisfied"]
        )
        self.assertEqual(values.partner_id, customer)
        self.start_tour("/odoo", "customer_pulse_profile", login="pulse_user")
