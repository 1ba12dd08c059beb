from datetime import timedelta

from odoo import fields
from odoo.addons.customer_pulse.tools import demo_history
from odoo.tests import tagged
from odoo.tests.common import TransactionCase


@tagged("post_install", "-at_install")
class TestDemoHistory(TransactionCase):
    """The generator makes genuine accounting and every customer archetype."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.today = fields.Date.today()
        cls.counts = demo_history.generate(cls.env, scale="tiny", seed=7)
        cls.archetypes = cls.counts["archetypes"]

    def _orders(self, partner_id):
        return self.env["sale.order"].search(
            [("partner_id", "child_of", partner_id), ("state", "=", "sale")], order="date_order"
        )

    def test_counts(self):
        for key in ("customers", "orders", "invoices", "payments", "refunds", "leads"):
            self.assertGreater(self.counts[key], 0, key)
        self.assertGreater(self.counts["survey_answers"], 1)
        self.assertEqual(set(self.archetypes), set(demo_history.ARCHETYPES))

    def test_invoices_posted_and_balanced(self):
        moves = self.env["account.move"].search(
            [("move_type", "in", ("out_invoice", "out_refund"))]
        )
        self.assertEqual(
            len(moves.filtered(lambda m: m.move_type == "out_invoice")), self.counts["invoices"]
        )
        self.assertEqual(set(moves.mapped("state")), {"posted"})
        for move in moves:
            debit = sum(move.line_ids.mapped("debit"))
            credit = sum(move.line_ids.mapped("credit"))
            self.assertAlmostEqual(debit, credit, places=2, msg=move.name)
        self.assertTrue(moves.filtered(lambda m: m.move_type == "out_refund"))
        self.assertTrue(
            moves.filtered(lambda m: m.currency_id != m.company_id.currency_id),
            "some invoices are in a foreign currency",
        )

    def test_payments_reconciled(self):
        payments = self.env["account.payment"].search([("partner_type", "=", "customer")])
        self.assertEqual(len(payments), self.counts["payments"])
        # bank payments not yet matched with a statement line are "in process" in 18.0
        self.assertLessEqual(set(payments.mapped("state")), {"paid", "in_process"})
        receivable = payments.move_id.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        self.assertTrue(
            all(receivable.mapped("reconciled"))
            or all(line.matched_debit_ids for line in receivable)
        )
        invoices = self.env["account.move"].search([("move_type", "=", "out_invoice")])
        states = set(invoices.mapped("payment_state"))
        self.assertIn("paid", states)
        self.assertIn("partial", states)
        self.assertIn("not_paid", states)
        # Odoo's own aging agrees: whatever is open on invoices is open on the ledger.
        open_lines = self.env["account.move.line"].search(
            [
                ("account_id.account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
                ("reconciled", "=", False),
            ]
        )
        self.assertAlmostEqual(
            sum(open_lines.mapped("amount_residual")),
            sum(invoices.mapped("amount_residual_signed"))
            + sum(
                self.env["account.move"]
                .search([("move_type", "=", "out_refund")])
                .mapped("amount_residual_signed")
            ),
            places=1,
        )

    def test_archetypes_behave(self):
        today = self.today
        for pid in self.archetypes["lapsed"]:
            last = self._orders(pid)[-1].date_order.date()
            self.assertTrue(
                today - timedelta(days=24 * 31) <= last <= today - timedelta(days=13 * 30),
                f"lapsed customer's last order {last}",
            )
        for pid in self.archetypes["new"]:
            self.assertGreaterEqual(
                self._orders(pid)[0].date_order.date(), today - timedelta(days=90)
            )
        for pid in self.archetypes["one_time"]:
            self.assertLessEqual(len(self._orders(pid)), 1)
        for pid in self.archetypes["loyal"] + self.archetypes["big"]:
            orders = self._orders(pid)
            self.assertGreater(len(orders), 15)
            self.assertGreater(orders[-1].date_order.date(), today - timedelta(days=70))
        for pid in self.archetypes["seasonal"]:
            months = set(self._orders(pid).mapped(lambda o: o.date_order.month))
            self.assertLessEqual(len(months), 2)
        late = self.env["account.move"].search(
            [
                ("move_type", "=", "out_invoice"),
                ("partner_id", "child_of", self.archetypes["late"]),
            ]
        )
        overdue_or_late = late.filtered(
            lambda m: (m.payment_state == "not_paid" and m.invoice_date_due < today)
            or any(
                partial.credit_move_id.date > m.invoice_date_due
                for partial in m.line_ids.matched_credit_ids
            )
        )
        self.assertTrue(overdue_or_late, "late payers pay late or owe overdue money")

    def test_contacts_buy_for_their_company(self):
        companies = self.env["res.partner"].browse(self.archetypes["big"])
        orders = self.env["sale.order"].search([("partner_id", "child_of", companies.ids)])
        self.assertTrue(orders.filtered(lambda o: o.partner_id.parent_id))
        self.assertTrue(all(o.partner_id.commercial_partner_id in companies for o in orders))

    def test_deterministic_plan(self):
        """Same seed, same day: the same plan of orders."""
        gen_a = demo_history.DemoHistory(self.env, scale="tiny", seed=11, today=self.today)
        gen_b = demo_history.DemoHistory(self.env, scale="tiny", seed=11, today=self.today)
        self.assertEqual(
            [gen_a._order_dates(a) for a in demo_history.ARCHETYPES],
            [gen_b._order_dates(a) for a in demo_history.ARCHETYPES],
        )

    def test_profiles(self):
        """The demo survey fills profiles; departments assess; some answers wait for a
        customer."""
        self.assertGreater(self.counts["profile_values"], 0)
        survey_values = self.env["pulse.attribute.value"].search([("source", "=", "survey")])
        self.assertTrue(survey_values)
        self.assertEqual(set(survey_values.mapped("parse_state")), {"ok"})
        waiting = self.env["survey.user_input"].search([("pulse_profile_state", "=", "unmatched")])
        self.assertEqual(len(waiting), 3)
        graded = self.env["pulse.attribute.value"].search(
            [("attribute_id.key", "=", "grade"), ("department_id", "!=", False)]
        )
        self.assertTrue(graded)
