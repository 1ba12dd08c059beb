from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestTours(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        new_test_user(
            cls.env,
            login="tour_pulse_user",
            password="tour_pulse_user",
            groups="base.group_user,customer_pulse.group_pulse_user",
        )
        new_test_user(
            cls.env,
            login="tour_pulse_accountant",
            password="tour_pulse_accountant",
            groups="base.group_user,customer_pulse.group_pulse_accountant",
        )
        customer = cls.env["res.partner"].create({"name": "Tour Customer", "customer_rank": 1})
        product = cls.env["product.product"].create(
            {"name": "Tour widget", "list_price": 42.0, "invoice_policy": "order"}
        )
        order = cls.env["sale.order"].create(
            {"partner_id": customer.id, "order_line": [(0, 0, {"product_id": product.id})]}
        )
        order.action_confirm()
        order._create_invoices().action_post()
        lapsed = cls.env["res.partner"].create({"name": "Lapsed Tour Customer"})
        old = cls.env["sale.order"].create(
            {"partner_id": lapsed.id, "order_line": [(0, 0, {"product_id": product.id})]}
        )
        old.action_confirm()
        old.date_order = "2020-01-01 10:00:00"
        new_test_user(
            cls.env,
            login="tour_pulse_marketer",
            password="tour_pulse_marketer",
            groups="base.group_user,customer_pulse.group_pulse_marketer",
        )
        cls.env["pulse.partner.stats"]._refresh_all()

    def test_open_app(self):
        """A Customer Pulse user opens the app and sees the customer list."""
        self.start_tour("/odoo", "customer_pulse_open_app", login="tour_pulse_user")

    def test_pulse_card_to_invoices(self):
        """An accountant opens a customer's pulse card and clicks through to its invoices."""
        self.start_tour("/odoo", "customer_pulse_card", login="tour_pulse_accountant")

    def test_segment_refresh_and_members(self):
        """A marketer builds a segment with the domain editor, refreshes it and opens its
        members."""
        self.start_tour("/odoo", "customer_pulse_segment", login="tour_pulse_marketer")

    def test_segment_form_hides_revenue_from_marketers(self):
        """A marketer opens a shipped segment: member figures yes, revenue figures no."""
        self.env["pulse.segment"].search([])._refresh_safely()
        lapsed = self.env.ref("customer_pulse.segment_lapsed")
        self.assertTrue(lapsed.member_ids, "the tour needs members to show the key figures")
        self.start_tour("/odoo", "customer_pulse_segment_rights", login="tour_pulse_marketer")

    def test_rule_build_preview_start(self):
        """A marketer builds a two-step rule, previews it and switches it on."""
        self.start_tour("/odoo", "customer_pulse_rule", login="tour_pulse_marketer")
        rule = self.env["pulse.rule"].search([("name", "=", "Come back, please")])
        self.assertEqual(rule.state, "running")
        self.assertEqual(rule.step_ids.mapped("action"), ["email", "activity"])

    def test_survey_answer_fills_profile(self):
        """A customer answers a mapped survey in the browser; a salesperson sees the values on
        their partner form, and the history behind one."""
        customer = self.env["res.partner"].create(
            {"name": "Survey Tour Co", "is_company": True, "email": "survey@tour.example"}
        )
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
        new_test_user(
            self.env,
            login="tour_pulse_sales",
            password="tour_pulse_sales",
            groups="base.group_user,customer_pulse.group_pulse_user",
        )
        self.start_tour(
            f"/odoo/res.partner/{customer.id}", "customer_pulse_profile", login="tour_pulse_sales"
        )
