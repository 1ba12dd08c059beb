from datetime import date

from freezegun import freeze_time

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged
from odoo.tools import SQL

from ..tools import demo_rule_return
from .common import PulseFactsCase

EMAIL_1_COST = 0.5
EMAIL_2_COST = 1.0
FIXED_COST = 10.0


@tagged("post_install", "-at_install")
class TestRuleReturn(PulseFactsCase):
    """Cost, attribution per step and return of a rule with two emails, read on the rule, its
    steps and the reports, by who may read them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].set_param("customer_pulse.cap_touches", 0)
        template = cls.env.ref("customer_pulse.mail_template_winback")
        cls.rule = cls.make_rule(
            steps=[
                {
                    "name": "First email",
                    "action": "email",
                    "mail_template_id": template.id,
                    "cost_per_run": EMAIL_1_COST,
                }
            ],
            name="Return rule",
            fixed_cost=FIXED_COST,
        )
        cls.step_1 = cls.rule.step_ids
        cls.step_2 = cls.add_email_step(cls.step_1, delay=7, cost_per_run=EMAIL_2_COST)
        # A buys after the first email, B after both, C too late for the window, D never
        cls.a, cls.b, cls.c, cls.d = (
            cls.make_customer(f"Return {name}", email=f"{name}@return.example") for name in "ABCD"
        )
        cls.segment = cls.env["pulse.segment"].create({"name": "Return watchers", "kind": "static"})
        cls.Member = cls.env["pulse.segment.member"]
        # A and B were members when the rule touched them; C only after
        cls.Member.create(
            [
                {
                    "segment_id": cls.segment.id,
                    "partner_id": partner.id,
                    "date_entered": "2026-01-01 08:00:00",
                }
                for partner in (cls.a, cls.b)
            ]
            + [
                {
                    "segment_id": cls.segment.id,
                    "partner_id": cls.c.id,
                    "date_entered": "2026-01-11 08:00:00",
                }
            ]
        )
        with freeze_time("2026-01-10 09:00:00"):
            for partner in (cls.a, cls.b, cls.c, cls.d):
                cls.make_order(partner, "2024-06-01")
            cls.Facts._refresh_all()
            cls.rule.action_start()
            cls.engine()
        with freeze_time("2026-01-13 10:00:00"):
            cls.make_invoice(cls.make_order(cls.a, "2026-01-13"), "2026-01-13")
            cls.engine()
        with freeze_time("2026-01-17 10:00:00"):
            cls.engine()  # the second email, to B, C and D (A has bought)
        with freeze_time("2026-01-20 10:00:00"):
            cls.make_invoice(cls.make_order(cls.b, "2026-01-20", price=200.0), "2026-01-20")
            cls.engine()
        with freeze_time("2026-02-24 10:00:00"):
            cls.make_invoice(cls.make_order(cls.c, "2026-02-24", price=400.0), "2026-02-24")
            cls.engine()
        cls.env.invalidate_all()

    @classmethod
    def engine(cls):
        return cls.env["pulse.rule.engine"]._cron_run_engine()

    def enrolment(self, partner):
        return self.rule.enrolment_ids.filtered(lambda e: e.partner_id == partner)

    def figures(self, groupby, fields, user=None, domain=None, company=None):
        """{group: {field: value}} of the return on rules."""
        Report = self.env["pulse.rule.return"]
        if user:
            Report = Report.with_user(user)
        if company:
            Report = Report.with_context(allowed_company_ids=company.ids)
        rows = Report._read_group(
            domain or [("rule_id", "=", self.rule.id)],
            groupby,
            [f"{name}:sum" for name in fields],
        )
        return {row[0]: dict(zip(fields, row[len(groupby) :], strict=True)) for row in rows}

    # ------------------------------------------------------------- attribution
    def test_revenue_goes_to_the_last_touch_before_the_first_invoice(self):
        a, b, c, d = (self.enrolment(p) for p in (self.a, self.b, self.c, self.d))
        self.assertEqual(a.converting_step_id, self.step_1, "bought after the first email")
        self.assertEqual(a.attributed_revenue, 100.0)
        self.assertEqual(a.run_ids.filtered(lambda r: r.step_id == self.step_2).state, "cancelled")
        self.assertEqual(b.converting_step_id, self.step_2, "two touches: the last one")
        self.assertEqual(b.attributed_revenue, 200.0)
        self.assertFalse(c.converting_step_id, "bought after the attribution window")
        self.assertEqual(c.attributed_revenue, 0.0)
        self.assertFalse(d.converting_step_id)

    def test_return_per_rule_and_step_matches_a_hand_count(self):
        measures = ["enrolled", "touched", "converted", "cost", "revenue", "return_amount"]
        per_step = self.figures(["step_id"], [*measures, "conversion_rate", "roi"])
        runs_1, runs_2 = 4, 3  # the second email: B, C and D
        self.assertEqual(
            per_step[self.step_1],
            {
                "enrolled": 0,
                "touched": runs_1,
                "converted": 1,
                "cost": runs_1 * EMAIL_1_COST,
                "revenue": 100.0,
                "return_amount": 100.0 - runs_1 * EMAIL_1_COST,
                "conversion_rate": 25.0,
                "roi": (100.0 - runs_1 * EMAIL_1_COST) / (runs_1 * EMAIL_1_COST),
            },
        )
        self.assertEqual(per_step[self.step_2]["touched"], runs_2)
        self.assertEqual(per_step[self.step_2]["cost"], runs_2 * EMAIL_2_COST)
        self.assertEqual(per_step[self.step_2]["revenue"], 200.0)
        self.assertAlmostEqual(per_step[self.step_2]["conversion_rate"], 100.0 / 3)
        no_step = self.env["pulse.rule.step"]
        self.assertEqual(per_step[no_step]["enrolled"], 4, "the rule's own line")
        self.assertEqual(per_step[no_step]["cost"], FIXED_COST)
        cost = FIXED_COST + runs_1 * EMAIL_1_COST + runs_2 * EMAIL_2_COST
        per_rule = self.figures(["rule_id"], [*measures, "conversion_rate", "roi"])[self.rule]
        self.assertEqual(
            per_rule,
            {
                "enrolled": 4,
                "touched": runs_1 + runs_2,
                "converted": 2,
                "cost": cost,
                "revenue": 300.0,
                "return_amount": 300.0 - cost,
                "conversion_rate": 50.0,
                "roi": (300.0 - cost) / cost,
            },
        )
        per_month = self.figures(["date:month"], ["enrolled", "cost"])
        self.assertEqual(len(per_month), 1, "everyone entered in January, when it started")
        self.assertEqual(next(iter(per_month.values())), {"enrolled": 4, "cost": cost})
        # the rule's form and its steps say the same
        self.assertEqual(self.rule.cost, cost)
        self.assertEqual(self.rule.revenue, 300.0)
        self.assertEqual(self.rule.return_amount, 300.0 - cost)
        self.assertAlmostEqual(self.rule.roi, (300.0 - cost) / cost)
        self.assertEqual(self.rule.touch_converted_count, 2)
        self.assertEqual(self.rule.conversion_rate, 50.0)
        self.assertEqual(self.step_2.run_cost, runs_2 * EMAIL_2_COST)
        self.assertEqual((self.step_1.converted_count, self.step_1.revenue), (1, 100.0))
        self.assertEqual((self.step_2.converted_count, self.step_2.revenue), (1, 200.0))

    def test_test_mode_runs_cost_nothing(self):
        run = self.enrolment(self.d).run_ids.filtered(lambda r: r.step_id == self.step_2)
        run.test_mode = True
        self.assertEqual(self.figures(["step_id"], ["touched", "cost"])[self.step_2]["touched"], 2)
        self.rule.invalidate_recordset()
        self.assertEqual(self.rule.cost, FIXED_COST + 4 * EMAIL_1_COST + 2 * EMAIL_2_COST)

    def test_the_order_that_made_the_enrolment_is_not_its_revenue(self):
        """A thank-you for an order is not paid by that order: only what the customer buys
        after it is the rule's revenue."""
        template = self.env.ref("customer_pulse.mail_template_first_order")
        rule = self.make_rule(
            steps=[{"name": "Thanks", "action": "email", "mail_template_id": template.id}],
            name="Thank you",
            trigger="order_confirmed",
            reentry="once",
            exit_on_purchase=False,
        )
        customer = self.make_customer("Newcomer", email="new@return.example")
        with freeze_time("2026-03-02 09:00:00"):
            rule.action_start()
        with freeze_time("2026-03-02 10:00:00"):
            first = self.make_order(customer, "2026-03-02")
            self.engine()
            self.make_invoice(first, "2026-03-02")
            self.engine()
            enrolment = rule.enrolment_ids
            self.assertEqual(enrolment.trigger_key, f"order,{first.id}")
            self.assertEqual(enrolment.attributed_revenue, 0.0)
            self.assertFalse(enrolment.converting_step_id)
        with freeze_time("2026-03-10 10:00:00"):
            self.make_invoice(self.make_order(customer, "2026-03-10", price=70.0), "2026-03-10")
            self.engine()
            enrolment.invalidate_recordset()
            self.assertEqual(enrolment.attributed_revenue, 70.0, "the next order is")
            self.assertEqual(enrolment.converting_step_id, rule.step_ids)

    def test_views_open_for_every_role(self):
        for user in (self.pulse_user, self.pulse_marketer, self.pulse_accountant):
            for model in (
                "pulse.rule.return",
                "pulse.segment.revenue",
                "pulse.segment.action.return",
            ):
                self.env[model].with_user(user).get_views(
                    [(False, "pivot"), (False, "graph"), (False, "list"), (False, "search")]
                )
            self.env["pulse.rule"].with_user(user).get_views([(False, "form"), (False, "list")])
            self.rule.with_user(user).read(["cost", "conversion_rate", "touch_converted_count"])

    # ---------------------------------------------------------------- segments
    def test_segment_revenue_counts_invoices_during_membership_only(self):
        customer = self.make_customer("Member Mia")
        for day in ("2026-03-15", "2026-04-10", "2026-05-05", "2026-06-10"):
            self.make_move(customer, day, amount=50.0)
        segment = self.env["pulse.segment"].create({"name": "Mia's segment", "kind": "static"})
        self.Member.create(
            [
                {
                    "segment_id": segment.id,
                    "partner_id": customer.id,
                    "date_entered": "2026-04-01 08:00:00",
                    "date_left": "2026-05-01 08:00:00",
                },
                {
                    "segment_id": segment.id,
                    "partner_id": customer.id,
                    "date_entered": "2026-06-01 08:00:00",
                },
            ]
        )
        rows = self.env["pulse.segment.revenue"]._read_group(
            [("segment_id", "=", segment.id)],
            ["date:month"],
            ["revenue:sum", "buyer_count:sum", "invoice_count:sum"],
        )
        self.assertEqual(
            [
                (month.strftime("%Y-%m"), revenue, buyers, count)
                for month, revenue, buyers, count in rows
            ],
            [("2026-04", 50.0, 1, 1), ("2026-06", 50.0, 1, 1)],
            "March is before entering, May after leaving",
        )

    def test_segment_revenue_rows_filtered_first(self):
        """A reading of a segment or a period filters the memberships and invoices read, not
        the result: its rows are those of the whole report, ids included (computed from the
        segment and the month), and no two rows share an id."""
        customers = [self.make_customer(f"Member {i}") for i in range(2)]
        for customer in customers:
            for day in ("2025-12-15", "2026-02-10", "2026-03-05"):
                self.make_move(customer, day, amount=40.0)
        segments = self.env["pulse.segment"].create(
            [{"name": f"Revenue {i}", "kind": "static"} for i in range(2)]
        )
        # both customers in the first segment, the first one in the second
        pairs = [
            (segments[0], customers[0]),
            (segments[0], customers[1]),
            (segments[1], customers[0]),
        ]
        self.Member.create(
            [
                {"segment_id": segment.id, "partner_id": customer.id, "date_entered": "2025-12-01"}
                for segment, customer in pairs
            ]
        )
        Report = self.env["pulse.segment.revenue"]
        fields = ["segment_id", "date", "buyer_count", "invoice_count", "revenue"]
        everything = Report.search_read([("segment_id", "in", segments.ids)], fields)
        self.assertEqual(len({row["id"] for row in everything}), len(everything), "unique ids")
        self.assertEqual(len(everything), 6)
        period = [("date", ">=", "2026-01-01"), ("date", "<=", "2026-12-31")]
        filtered = Report.search_read([("segment_id", "=", segments[0].id), *period], fields)
        self.assertEqual(
            sorted(filtered, key=lambda r: r["id"]),
            sorted(
                (
                    r
                    for r in everything
                    if r["segment_id"][0] == segments[0].id and str(r["date"]) >= "2026-01-01"
                ),
                key=lambda r: r["id"],
            ),
        )
        self.assertEqual([(r["buyer_count"], r["revenue"]) for r in filtered], [(2, 80.0)] * 2)

    def test_revenue_after_each_action_on_a_segment(self):
        Report = self.env["pulse.segment.action.return"]
        rows = {
            step: (actions, buyers, rate, revenue)
            for step, actions, buyers, rate, revenue in Report._read_group(
                [("segment_id", "=", self.segment.id)],
                ["step_id"],
                ["action_count:sum", "buyer_count:sum", "purchase_rate:sum", "revenue:sum"],
            )
        }
        # the first email reached A and B as members (C entered the segment after it): both
        # bought within 30 days; the second reached B (A had bought) and C
        self.assertEqual(rows[self.step_1], (2, 2, 100.0, 300.0))
        self.assertEqual(rows[self.step_2], (2, 1, 50.0, 200.0), "C bought too late")

    def test_segment_return_as_recorded_is_as_looked_up(self):
        """The engine records what followed each run (its segments then, the revenue within
        the window after it): the report reads the same from the record as from a look-up
        of the runs done since the engine's last call."""
        Report = self.env["pulse.segment.action.return"]

        def figures():
            return Report._read_group(
                [],
                ["segment_id", "step_id", "date:month"],
                ["action_count:sum", "buyer_count:sum", "revenue:sum"],
            )

        self.env.flush_all()
        self.env.cr.execute(
            "SELECT COUNT(*) FILTER (WHERE outcome_at IS NULL), COUNT(*) FROM pulse_step_run"
            " WHERE state = 'done'"
        )
        todo, done = self.env.cr.fetchone()
        self.assertEqual((todo, done), (0, 7), "the engine recorded every run's outcome")
        recorded = figures()
        self.assertEqual(
            sum(row[3] for row in recorded if row[0] == self.segment),
            4,
            "A and B, then B and C, as members",
        )
        Totals = self.env["pulse.segment.action.total"]
        self.assertTrue(Totals.search_count([]), "the engine added them up")
        # as if the engine had not been called since the runs were done
        self.env.cr.execute(
            "UPDATE pulse_step_run SET outcome_at = NULL, outcome_revenue = NULL,"
            " outcome_bought = NULL, outcome_segment_ids = NULL;"
            " DELETE FROM pulse_segment_action_total"
        )
        self.assertEqual(figures(), recorded, "looked up, as recorded")
        self.env["pulse.step.run"]._record_outcomes(SQL("TRUE"))
        self.assertEqual(figures(), recorded, "recorded again")
        Totals._recount()
        self.assertEqual(figures(), recorded, "added up again")

    def test_segment_totals_leave_deleted_runs_at_the_daily_recount(self):
        Report = self.env["pulse.segment.action.return"]

        def actions():
            [(count,)] = Report._read_group(
                [("segment_id", "=", self.segment.id)], [], ["action_count:sum"]
            )
            return count

        self.assertEqual(actions(), 4)
        # A's enrolment goes (with A): its first email, on the segment, with it
        self.enrolment(self.a).unlink()
        self.env["pulse.segment.action.total"]._recount()
        self.assertEqual(actions(), 3)

    # ------------------------------------------------------------------ access
    def test_marketer_sees_counts_and_costs_not_revenue(self):
        marketer = self.pulse_marketer
        figures = self.figures(["rule_id"], ["enrolled", "cost"], user=marketer)
        self.assertEqual(figures[self.rule]["enrolled"], 4)
        for name in ("revenue", "return_amount", "roi"):
            with self.assertRaises(AccessError):
                self.figures(["rule_id"], [name], user=marketer)
        self.assertNotIn("revenue", self.env["pulse.rule.return"].with_user(marketer).fields_get())
        with self.assertRaises(AccessError):
            self.env["pulse.segment.revenue"].with_user(marketer)._read_group(
                [], [], ["revenue:sum"]
            )
        rule = self.rule.with_user(marketer)
        self.assertEqual(rule.cost, FIXED_COST + 4 * EMAIL_1_COST + 3 * EMAIL_2_COST)
        with self.assertRaises(AccessError):
            rule.read(["return_amount"])

    def test_accountant_sees_revenue(self):
        figures = self.figures(["rule_id"], ["revenue"], user=self.pulse_accountant)
        self.assertEqual(figures[self.rule]["revenue"], 300.0)
        self.assertEqual(self.rule.with_user(self.pulse_accountant).revenue, 300.0)

    def test_company_isolation(self):
        company_b = self.make_company("Return B")
        rule_b = self.make_rule(name="Rule of B", company_id=company_b.id, fixed_cost=7.0)
        everything = [("rule_id", "in", (self.rule | rule_b).ids)]
        here = self.figures(["rule_id"], ["cost"], user=self.pulse_manager, domain=everything)
        self.assertNotIn(rule_b, here, "company B's rule is not shown in company A")
        manager_ab = self.make_user(
            "return_manager_ab", "manager", companies=self.env.company | company_b
        )
        both = self.figures(["rule_id"], ["cost"], user=manager_ab, domain=everything)
        self.assertEqual(both[rule_b]["cost"], 7.0)
        self.assertIn(self.rule, both)
        only_a = self.figures(
            ["rule_id"], ["cost"], user=manager_ab, domain=everything, company=self.env.company
        )
        self.assertNotIn(rule_b, only_a, "only the companies chosen in the switcher")

    def test_demo_history_of_the_shipped_rules(self):
        counts = demo_rule_return.generate(self.env, today=date(2026, 3, 1))
        winback = self.env.ref("customer_pulse.rule_winback")
        lapsed = self.env.ref("customer_pulse.segment_lapsed")
        # A, B and C lapsed in June 2025 and came back; D is still lapsed
        self.assertEqual(len(winback.enrolment_ids), 4)
        self.assertEqual(counts["past stays in the lapsed segment"], 3)
        stays = self.Member.search([("segment_id", "=", lapsed.id), ("partner_id", "=", self.a.id)])
        self.assertEqual(str(stays.date_entered.date()), "2025-06-01")
        self.assertEqual(str(stays.date_left.date()), "2026-01-14", "the night after the order")
        self.assertEqual(
            set(winback.enrolment_ids.mapped("trigger_key")),
            {f"member,{stay.id}" for stay in self.Member.search([("segment_id", "=", lapsed.id)])}
            | {"demo-lapse,2024-06-01"},
        )
        self.assertEqual(winback.state, "draft", "the rules stay drafts")
        self.assertEqual(
            winback.fixed_cost, demo_rule_return.FIXED_COSTS[winback.get_external_id()[winback.id]]
        )
        enrolled = self.figures(["rule_id"], ["enrolled"], domain=[("rule_id", "=", winback.id)])
        self.assertEqual(enrolled[winback]["enrolled"], 4)
        again = demo_rule_return.generate(self.env, today=date(2026, 3, 1))
        self.assertEqual(again["enrolments"], 0, "made once")

    # --------------------------------------------------------------- bad input
    def test_negative_costs_are_refused(self):
        with self.assertRaisesRegex(ValidationError, "cost per run cannot be negative"):
            self.step_1.cost_per_run = -1
        with self.assertRaisesRegex(ValidationError, "fixed cost cannot be negative"):
            self.rule.fixed_cost = -5

    def test_a_step_starts_from_its_actions_cost(self):
        step = self.env["pulse.rule.step"].create(
            {"rule_id": self.rule.id, "name": "Text", "action": "sms"}
        )
        self.assertEqual(step.cost_per_run, 0.08)
        step.action = "activity"
        self.assertEqual(step.cost_per_run, 2.0, "the new action's usual cost")
        step.action = "tag_add"
        self.assertEqual(step.cost_per_run, 0.0)
