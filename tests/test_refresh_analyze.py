from unittest.mock import patch

from freezegun import freeze_time

from odoo import Command
from odoo.tests import tagged

from .common import PulseFactsCase

TODAY = "2026-06-15"
ANALYZE = "odoo.addons.customer_pulse.tools.analyze"


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestRefreshAnalyze(PulseFactsCase):
    """A refresh that writes many rows analyses what it wrote before anything reads it (the
    first read of a segment's key figures after the first refresh at 100k customers took
    418 s on a never-analysed membership table); a small refresh does not."""

    def last_analyzed(self):
        # the statistics a transaction reads are a snapshot taken at its first read of them
        self.env.cr.execute("SELECT pg_stat_clear_snapshot()")
        self.env.cr.execute(
            "SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [["pulse_partner_stats", "pulse_category_affinity", "pulse_segment_member"]],
        )
        return dict(self.env.cr.fetchall())

    def analysed_since(self, before):
        return {table for table, at in self.last_analyzed().items() if at != before.get(table)}

    def test_large_segment_refresh_analyses_memberships(self):
        """A refresh that opens more than a thousand memberships analyses the table, and
        the segment's key figures read right after it."""
        self.env["res.partner"].create(
            [{"name": f"Bulk {i}", "ref": "pulse-bulk"} for i in range(1100)]
        )
        segment = self.env["pulse.segment"].create(
            {"name": "Bulk", "domain": "[('ref', '=', 'pulse-bulk')]"}
        )
        before = self.last_analyzed()
        entered, left = segment._refresh_members()[segment]
        self.assertEqual((entered, left), (1100, 0))
        self.assertIn("pulse_segment_member", self.analysed_since(before))
        self.assertEqual(segment.member_count, 1100)
        self.assertEqual(segment.kpi_orders_per_member_year, 0)

    def test_small_refresh_does_not_analyse(self):
        self.make_order(self.customer, "2026-06-01")
        self.Facts._refresh_all(derived=False)
        segment = self.env["pulse.segment"].create(
            {"name": "Buyers", "domain": "[('pulse_order_count', '>', 0)]"}
        )
        before = self.last_analyzed()
        self.assertEqual(segment._refresh_members()[segment], (1, 0))
        self.make_order(self.customer, "2026-06-02")
        self.assertEqual(self.Facts._refresh_queue(), 1)
        self.assertEqual(self.analysed_since(before), set())

    def test_full_refresh_analyses_what_it_wrote(self):
        """The full refresh, its derived figures (category affinity, recommendations) and a
        segment refresh, each writing "many" rows (the bar lowered to one row for this
        small history), analyse the facts, the affinity and the memberships."""
        other_categ = self.env["product.category"].create({"name": "Pulse test extras"})
        extra = self.env["product.product"].create(
            {"name": "Pulse extra", "type": "consu", "categ_id": other_categ.id, "taxes_id": []}
        )
        for name in ("Basket A", "Basket B"):
            order = self.env["sale.order"].create(
                {
                    "partner_id": self.env["res.partner"].create({"name": name}).id,
                    "order_line": [
                        Command.create({"product_id": product.id, "price_unit": 10, "tax_id": []})
                        for product in (self.product, extra)
                    ],
                }
            )
            order.action_confirm()
        with patch(f"{ANALYZE}.ANALYZE_MIN_ROWS", 1), patch(f"{ANALYZE}.ANALYZE_MIN_SHARE", 0):
            before = self.last_analyzed()
            self.Facts._refresh_all()
            self.assertEqual(
                self.analysed_since(before), {"pulse_partner_stats", "pulse_category_affinity"}
            )
            self.env.cr.execute("SELECT COUNT(*) FROM pulse_category_affinity")
            self.assertEqual(self.env.cr.fetchone()[0], 2)
            before = self.last_analyzed()
            segment = self.env["pulse.segment"].create(
                {"name": "Buyers", "domain": "[('pulse_order_count', '>', 0)]"}
            )
            segment._refresh_members()
            self.assertEqual(self.analysed_since(before), {"pulse_segment_member"})
