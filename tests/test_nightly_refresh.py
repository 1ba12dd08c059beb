from datetime import date, timedelta
from unittest.mock import patch

from freezegun import freeze_time

from odoo.tests import tagged
from odoo.tools import SQL

from ..tools.params import param_key
from .common import PulseFactsCase

TODAY = "2026-06-15"


@tagged("post_install", "-at_install")
class TestNightlyRefresh(PulseFactsCase):
    """The nightly refresh moves the facts on to the new day, recomputing only the
    customers whose facts the date changes (an order or invoice leaving the RFM window,
    entering or leaving the figures of 30 days ago, an invoice falling overdue), then
    rescoring everyone against the day's boundaries; the purchase habits follow what the
    date changes in them. Across days of orders, invoices, payments, refunds, cancellations
    and overdue invoices, a full recompute after each night finds nothing to change."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Value = cls.env["pulse.attribute.value"]
        with freeze_time(TODAY):
            cls.customers = cls.env["res.partner"].create(
                [{"name": f"Night {i}", "is_company": True, "customer_rank": 1} for i in range(12)]
            )
            c = cls.customers
            history = {
                # leaves the RFM window on the 17th (the window starts 2025-06-17)
                0: ("2025-06-16", "2026-03-01"),
                # enters the figures of 30 days ago on the 16th (they run to 2026-05-17)
                1: ("2024-09-01", "2026-05-17"),
                # leaves the window of 30 days ago on the 17th (it starts 2025-05-18)
                2: ("2025-05-17", "2026-06-01"),
                6: ("2025-09-01", "2025-12-01", "2026-02-01", "2026-04-01", "2026-06-10"),
                7: ("2026-01-10",),
                8: ("2025-07-01", "2025-08-01"),
                9: ("2026-05-20", "2026-06-05", "2026-06-12"),
                10: ("2024-03-01",),
                11: ("2025-10-10", "2026-05-30"),
            }
            for i, days in history.items():
                for day in days:
                    cls.make_order(c[i], day, price=100 * (i + 1))
            # open invoices falling overdue on the 17th and the 19th
            cls.make_move(c[3], "2026-06-01", amount=700, due="2026-06-16")
            cls.make_move(c[3], "2026-06-02", amount=300, due="2026-06-18")
            # open since the 13th: 2 days late today (on time), 4 on the 17th (late)
            cls.overdue = cls.make_move(c[4], "2026-06-05", amount=400, due="2026-06-13")
            cls.paid = cls.make_move(c[5], "2026-05-01", amount=900, due="2026-05-15")
            cls.pay(cls.paid, "2026-05-15")
            # invoiced amounts leaving the RFM window, and that of 30 days ago
            cls.make_move(c[6], "2025-06-16", amount=250)
            cls.make_move(c[8], "2025-05-17", amount=650)
            cls.to_refund = cls.make_move(c[9], "2026-06-12", amount=500, due="2026-07-12")
            cls.Facts._refresh_all()

    def business(self, day):
        """What happens during `day` (before the queue's refresh)."""
        c = self.customers
        if day == date(2026, 6, 15):
            order = self.make_order(c[7], "2026-06-15", price=1200)
            self.make_invoice(order, "2026-06-15")
        elif day == date(2026, 6, 16):
            self.refund(self.to_refund, "2026-06-16")
            self.pay(self.overdue, "2026-06-16", amount=100)  # partly: still late
        elif day == date(2026, 6, 18):
            self.env["sale.order"].search(
                [("partner_id", "=", c[11].id), ("state", "=", "sale")], limit=1
            )._action_cancel()
            self.make_order(self.env["res.partner"].create({"name": "Newcomer"}), "2026-06-18")

    def night(self, day):
        """The nightly crons of the night after `day`, at 02:00; returns the customers whose
        facts were recomputed."""
        recomputed = set()
        refresh = type(self.Facts)._refresh_dates

        def spy(engine, partner_ids):
            recomputed.update(partner_ids)
            return refresh(engine, partner_ids)

        with (
            freeze_time(f"{day + timedelta(days=1)} 02:00:00"),
            patch.object(type(self.Facts), "_refresh_dates", spy),
            patch.object(type(self.Facts), "_vacuum_facts"),
        ):
            self.assertFalse(self.Facts._refresh_nightly(), "moved on, not recomputed")
            self.Facts._cron_refresh_derived()
            self.Value._cron_refresh_purchase_attributes()
        return recomputed

    def assert_full_recompute_changes_nothing(self, day):
        with freeze_time(f"{day} 03:00:00"):
            self.env.cr.execute("SELECT * FROM pulse_category_affinity ORDER BY id")
            affinity = [row[1:] for row in self.env.cr.fetchall()]
            written, deleted = self.Facts._refresh_all(derived=False)
            self.assertEqual((written, deleted), (0, 0), f"facts differ on {day}")
            self.env["pulse.category.affinity"]._recompute()
            self.env.cr.execute("SELECT * FROM pulse_category_affinity ORDER BY id")
            self.assertEqual([row[1:] for row in self.env.cr.fetchall()], affinity)
            self.assertEqual(self.Facts._compute_recommendations(), 0)
            self.assertEqual(self.Value._refresh_purchase_attributes(), 0)

    def then(self, partner, column):
        """A figure of 30 days ago (a column of the facts without a field)."""
        self.env.flush_all()
        [(value,)] = self.env.execute_query(
            SQL(
                "SELECT %s FROM pulse_partner_stats WHERE partner_id = %s",
                SQL.identifier(column),
                partner.id,
            )
        )
        return value

    def habit(self, partner, key):
        return self.Value.search(
            [
                ("partner_id", "=", partner.id),
                ("attribute_id.key", "=", key),
                ("is_current", "=", True),
            ]
        ).option_id.key

    def test_nights_equal_full_recompute(self):
        c = self.customers
        self.assertEqual(self.facts(c[3]).amount_overdue, 0)
        self.assertEqual(self.facts(c[0]).rfm_window_orders, 2)
        self.assertEqual(self.then(c[2], "previous_rfm_window_orders"), 1)
        self.assertEqual(self.habit(c[4], "payment_behaviour"), "on_time")
        days = [date(2026, 6, 15), date(2026, 6, 16), date(2026, 6, 18), date(2026, 6, 19)]
        for day in days:
            with freeze_time(f"{day} 11:00:00"):
                self.business(day)
                self.Facts._refresh_queue()  # the 5-minute cron
            recomputed = self.night(day)
            # customers whose dates do not move are not recomputed (c[10]: one old order)
            self.assertNotIn(c[10].id, recomputed)
            self.assert_full_recompute_changes_nothing(day + timedelta(days=1))
            if day == date(2026, 6, 16):
                self.assertIn(c[0].id, recomputed)
                self.assertEqual(self.facts(c[0]).rfm_window_orders, 1)
                self.assertEqual(self.then(c[2], "previous_rfm_window_orders"), 0)
                self.assertEqual(self.facts(c[3]).amount_overdue, 700)
                self.assertEqual(self.habit(c[4], "payment_behaviour"), "late")
        # the night after two days without one (the 17th): both days' changes
        self.assertEqual(self.facts(c[3]).amount_overdue, 1000)
        self.assertEqual(self.then(c[1], "previous_last_order_date"), date(2026, 5, 17))

    def test_full_refresh_when_it_cannot_move_on(self):
        """The facts are recomputed in full when the RFM window changed since, or the day
        they stand at is unknown or more than a week back; otherwise moved on."""
        ICP = self.env["ir.config_parameter"]
        for case, night, full_expected in (
            ("next day", "2026-06-16", False),
            ("window changed", "2026-06-16", True),
            ("day unknown", "2026-06-16", True),
            ("a month later", "2026-07-15", True),
        ):
            with self.subTest(case):
                with freeze_time(TODAY):
                    self.Facts._refresh_all(derived=False)
                with freeze_time(f"{night} 02:00:00"):
                    if case == "window changed":
                        ICP.set_param(param_key("rfm_window_days"), "180")
                    elif case == "day unknown":
                        ICP.set_param(param_key("facts_basis"), False)
                    with patch.object(type(self.Facts), "_refresh_all") as full:
                        self.Facts._refresh_nightly()
                    self.assertEqual(full.called, full_expected)
                ICP.set_param(param_key("rfm_window_days"), False)
