"""Filters respect the reader (issue 12, point 1): searches by financial facts are for
people who may see invoices, and segment and rule filters run with a named user's rights
and companies, never as the superuser. Each test plays the attack."""

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from .common import PulseFactsCase

OVERDUE = "[('pulse_amount_overdue', '>', 0)]"
OVERDUE_T = ("pulse_amount_overdue", ">", 0)
FINANCIAL_FILTERS = [
    ("pulse_amount_due", ">", 0),
    ("pulse_amount_overdue", ">", 0),
    ("pulse_invoiced_amount", ">", 0),
    ("pulse_window_amount", ">", 0),
    ("pulse_last_payment_date", "!=", False),
    ("pulse_oldest_overdue_date", "!=", False),
]


@tagged("post_install", "-at_install")
class TestFilterRights(PulseFactsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Segment = cls.env["pulse.segment"]
        cls.debtor = cls.env["res.partner"].create(
            {"name": "Debtor Ltd", "email": "debtor@pulse.example"}
        )
        with freeze_time("2026-03-01"):
            order = cls.make_order(cls.debtor, "2026-01-05")
            invoice = cls.make_invoice(order, "2026-01-05")
            cls.pay(invoice, "2026-01-20", amount=30.0)  # partly paid, rest overdue
            cls.Facts._refresh_all()
        # a customer of another company only
        cls.company_b = cls.env["res.company"].create({"name": "Pulse B"})
        cls.b_only = cls.env["res.partner"].create(
            {"name": "B Only", "company_id": cls.company_b.id, "customer_rank": 1}
        )
        cls.manager_ab = cls.make_user(
            "pulse_manager_ab", "manager", companies=cls.env.company | cls.company_b
        )
        cls.finance_marketer = cls.make_user("pulse_finance_marketer", "marketer", "accountant")

    # ------------------------------------------------------------ searches
    def test_financial_searches_need_invoice_rights(self):
        """Attack: a salesperson, a marketer or a plain employee lists the customers who
        owe money by searching on the hidden figures (the search used to run as
        superuser)."""
        Partner = self.env["res.partner"]
        self.assertIn(self.debtor, Partner.with_user(self.pulse_accountant).search([OVERDUE_T]))
        for user in (self.pulse_user, self.pulse_marketer, self.internal_user):
            for condition in FINANCIAL_FILTERS:
                with (
                    self.subTest(user=user.login, condition=condition),
                    self.assertRaises(AccessError),
                ):
                    Partner.with_user(user).search([condition])
        # the accountant may use every one of them
        for condition in FINANCIAL_FILTERS:
            with self.subTest(condition=condition):
                found = Partner.with_user(self.pulse_accountant).search([condition])
                self.assertIn(self.debtor, found)

    def test_plain_employee_cannot_search_any_fact(self):
        """A plain employee has no Customer Pulse rights: no fact answers a search."""
        with self.assertRaises(AccessError):
            self.env["res.partner"].with_user(self.internal_user).search(
                [("pulse_order_count", ">", 0)]
            )
        # a salesperson may search the commercial facts
        found = (
            self.env["res.partner"]
            .with_user(self.pulse_user)
            .search([("pulse_order_count", ">", 0)])
        )
        self.assertIn(self.debtor, found)

    def test_category_facts_search_as_the_reader(self):
        """Attack: 'Category facts matches any of amount > 0' read the category facts
        as superuser; now their own rules apply (a portal user gets nothing)."""
        Partner = self.env["res.partner"]
        domain = [("pulse_category_stat_ids", "any", [("amount", ">", 0)])]
        self.assertIn(self.debtor, Partner.with_user(self.pulse_user).search(domain))
        with self.assertRaises(AccessError):
            Partner.with_user(self.internal_user).search(domain)
        with self.assertRaises(AccessError):
            Partner.with_user(self.internal_user).search(
                [("pulse_category_ids", "in", self.product.categ_id.ids)]
            )

    # ------------------------------------------------------------ segments
    def test_segment_filter_on_unreadable_field_refused(self):
        """Attack: a marketer builds a segment of debtors to read who owes money."""
        with self.assertRaises(ValidationError) as caught:
            self.Segment.with_user(self.pulse_marketer).create(
                {"name": "Who owes", "domain": OVERDUE}
            )
        self.assertIn("pulse_marketer", str(caught.exception))
        self.assertIn("invoices", str(caught.exception))
        segment = self.Segment.with_user(self.pulse_marketer).create({"name": "All"})
        with self.assertRaises(ValidationError):
            segment.write({"domain": OVERDUE})
        # a marketer who may see invoices may
        segment = self.Segment.with_user(self.finance_marketer).create(
            {"name": "Who owes", "domain": OVERDUE}
        )
        self.assertEqual(segment.user_id, self.finance_marketer)
        segment.sudo()._refresh_members()
        self.assertIn(self.debtor, segment.member_ids.partner_id)

    def test_only_a_manager_hands_a_filter_to_someone_else(self):
        """Attack: a marketer makes the administrator responsible of their segment, so
        that its filter runs with the administrator's rights."""
        admin = self.env.ref("base.user_admin")
        with self.assertRaises(UserError):
            self.Segment.with_user(self.pulse_marketer).create(
                {"name": "Borrowed rights", "user_id": admin.id}
            )
        segment = self.Segment.with_user(self.pulse_marketer).create({"name": "Mine"})
        with self.assertRaises(UserError):
            segment.write({"user_id": admin.id})
        segment.with_user(self.pulse_manager).write({"user_id": self.finance_marketer.id})
        self.assertEqual(segment.user_id, self.finance_marketer)
        rule = (
            self.env["pulse.rule"]
            .with_user(self.pulse_marketer)
            .create({"name": "Mine", "trigger": "no_purchase"})
        )
        with self.assertRaises(UserError):
            rule.write({"user_id": admin.id})

    def test_segment_runs_with_its_responsible_companies(self):
        """Members are the customers the responsible may see: a customer of a company the
        responsible has no access to never enters (the superuser saw them all)."""
        everyone = "[('customer_rank', '>', 0)]"
        segment = self.Segment.with_user(self.pulse_marketer).create(
            {"name": "Everyone", "domain": everyone}
        )
        segment.sudo()._refresh_members()  # the cron runs as superuser: rights still apply
        self.assertNotIn(self.b_only, segment.member_ids.partner_id)
        # a responsible with both companies sees them in company B's segment
        segment_b = self.Segment.with_user(self.manager_ab).create(
            {"name": "Everyone B", "domain": everyone, "company_id": self.company_b.id}
        )
        segment_b.sudo()._refresh_members()
        self.assertIn(self.b_only, segment_b.member_ids.partner_id)
        # a responsible without company B cannot run a company B segment
        with self.assertRaises(ValidationError):
            segment_b.with_user(self.manager_ab).write({"user_id": self.pulse_marketer.id})

    def test_responsible_who_lost_rights_fails_the_refresh(self):
        """A debtors segment whose responsible later loses the invoice rights: the refresh
        is refused with the reason instead of leaking the debtors."""
        segment = self.Segment.with_user(self.finance_marketer).create(
            {"name": "Who owes", "domain": OVERDUE}
        )
        self.finance_marketer.write(
            {
                "groups_id": [
                    Command.unlink(self.env.ref("customer_pulse.group_pulse_accountant").id),
                    Command.unlink(self.env.ref("account.group_account_invoice").id),
                    Command.link(self.env.ref("customer_pulse.group_pulse_marketer").id),
                ]
            }
        )
        segment.sudo()._refresh_safely()
        self.assertEqual(segment.refresh_state, "error")
        self.assertIn("invoices", segment.refresh_error)
        self.assertFalse(segment.member_ids)

    def test_superuser_is_never_the_responsible(self):
        segment = self.Segment.create({"name": "System made"})
        self.assertEqual(segment.user_id, self.env.ref("base.user_admin"))
        with self.assertRaises(UserError):
            self.Segment._customers_query("[]", self.env.company, self.env.ref("base.user_root"))

    # --------------------------------------------------------------- rules
    def test_rule_filters_checked_and_run_as_responsible(self):
        """Attack: a marketer targets debtors through a rule's audience, exit filter, step
        condition or an invoice trigger, or previews who would enter."""
        Rule = self.env["pulse.rule"].with_user(self.pulse_marketer)
        base = {"name": "Sneaky", "trigger": "no_purchase"}
        with self.assertRaises(ValidationError):
            Rule.create(dict(base, domain=OVERDUE))
        with self.assertRaises(ValidationError):
            Rule.create(dict(base, exit_domain=OVERDUE))
        with self.assertRaises(ValidationError):
            Rule.create(dict(base, trigger="invoice_overdue", trigger_days=10))
        rule = Rule.create(base)
        with self.assertRaises(ValidationError):
            rule.write(
                {
                    "step_ids": [
                        Command.create({"name": "Note", "action": "note", "condition": OVERDUE})
                    ]
                }
            )
        # the audience runs with the responsible's companies
        rule.write({"domain": "[('customer_rank', '>', 0)]"})
        self.env.flush_all()
        self.env.cr.execute(rule._partner_query(rule.domain))
        ids = {r[0] for r in self.env.cr.fetchall()}
        self.assertIn(self.debtor.id, ids)
        self.assertNotIn(self.b_only.id, ids)
        # a marketer who may see invoices may build the debtors' rule
        self.env["pulse.rule"].with_user(self.finance_marketer).create(
            dict(base, domain=OVERDUE, trigger="invoice_overdue", trigger_days=10)
        )

    def test_preview_runs_as_the_responsible(self):
        with freeze_time("2026-03-01"):
            self.make_order(self.b_only, "2024-06-01", company_id=self.company_b.id)
            self.make_order(self.customer, "2024-06-01")
            self.Facts._refresh_all()
            rule = (
                self.env["pulse.rule"]
                .with_user(self.manager_ab)
                .create(
                    {
                        "name": "B win-back",
                        "trigger": "no_purchase",
                        "company_id": self.company_b.id,
                        "domain": "[('customer_rank', '>', 0)]",
                        "step_ids": [
                            Command.create({"name": "Note", "action": "note", "note_body": "Hi"})
                        ],
                    }
                )
            )
            preview = (
                self.env["pulse.rule.preview"]
                .with_user(self.manager_ab)
                .create({"rule_id": rule.id})
            )
            self.assertIn(self.b_only, preview.partner_ids)
            # handed to someone without company B (by the superuser, bypassing the check)
            self.env.cr.execute(
                "UPDATE pulse_rule SET user_id = %s WHERE id = %s",
                [self.pulse_manager.id, rule.id],
            )
            rule.invalidate_recordset()
            preview = self.env["pulse.rule.preview"].with_user(self.manager_ab)
            with self.assertRaises(UserError):
                preview.create({"rule_id": rule.id}).read(["candidate_count"])

    # ------------------------------------------------------------ key figures
    def test_revenue_figures_for_invoice_users_only(self):
        """Attack: a marketer reads a segment's revenue or a rule's attributed revenue."""
        segment = self.Segment.create({"name": "Everyone", "domain": "[('customer_rank','>',0)]"})
        segment._refresh_members()
        rule = self.env["pulse.rule"].create({"name": "R", "trigger": "no_purchase"})
        for user in (self.pulse_user, self.pulse_marketer):
            with self.subTest(user=user.login):
                for fname in ("kpi_revenue", "kpi_revenue_share", "kpi_forecast_revenue"):
                    with self.assertRaises(AccessError):
                        segment.with_user(user).read([fname])
                with self.assertRaises(AccessError):
                    rule.with_user(user).read(["revenue"])
                with self.assertRaises(AccessError):
                    self.env["pulse.segment.kpi"].with_user(user).search_read([], ["revenue"])
                # the screens still open: the figures they may see are there
                seg = segment.with_user(user)
                self.assertGreater(seg.member_count, 0)
                seg.read(["kpi_forecast_orders", "kpi_avg_order_value"])
                rule.with_user(user).read(["enrolled_count", "run_done_count"])
                views = seg.get_views([(False, "form")])
                self.assertNotIn("kpi_revenue", views["views"]["form"]["arch"])
        acc_segment = segment.with_user(self.pulse_accountant)
        self.assertGreater(acc_segment.kpi_revenue, 0)
        rule.with_user(self.pulse_accountant).read(["revenue"])
