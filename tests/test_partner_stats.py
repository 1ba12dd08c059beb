from datetime import date, datetime
from unittest.mock import patch

import psycopg2
from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError
from odoo.modules.migration import load_script
from odoo.tests import tagged
from odoo.tools import SQL, sql

from .common import PulseFactsCase

TODAY = "2026-06-15"
MIGRATIONS = "customer_pulse/migrations/18.0.1.1.0"


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestPartnerStats(PulseFactsCase):
    """Hand-built histories checked value by value; incremental equals full every time."""

    def test_empty_refresh(self):
        self.env["sale.order"].search([]).filtered(lambda o: o.state == "draft").unlink()
        self.Facts._refresh_all()
        self.Facts._refresh_queue()  # nothing queued: nothing to do, no crash

    def test_archived_records_and_missing_rate(self):
        """Archived customers and products keep their history; an order whose currency had
        no rate (currency_rate 0 or empty) counts at face value instead of crashing."""
        order = self.make_order(self.customer, "2026-02-01", price=120)
        self.product.active = False
        self.customer.active = False
        other = self.make_order(self.env["res.partner"].create({"name": "No rate"}), "2026-02-02")
        self.env.flush_all()
        self.env.cr.execute("UPDATE sale_order SET currency_rate = NULL WHERE id = %s", [other.id])
        self.env.cr.execute(
            "INSERT INTO pulse_stats_queue (partner_id) VALUES (%s)", [other.partner_id.id]
        )
        self.refresh_incremental_and_check_full()
        self.assertEqual(self.facts(self.customer).order_amount, 120.0)
        self.assertEqual(self.facts(other.partner_id).order_amount, 100.0)
        self.assertTrue(order.exists())

    def test_orders_across_three_years(self):
        customer = self.customer
        self.make_order(customer, "2024-01-10", price=200)
        self.make_order(customer, "2025-01-10", price=100)
        self.make_order(customer, "2026-01-10", price=300)
        cancelled = self.make_order(customer, "2026-05-01", price=999)
        cancelled._action_cancel()
        self.make_order(customer, "2026-05-02", price=555, confirm=False)  # a quotation
        self.refresh_incremental_and_check_full()
        facts = self.facts(customer)
        self.assertEqual(facts.first_order_date, date(2024, 1, 10))
        self.assertEqual(facts.last_order_date, date(2026, 1, 10))
        self.assertEqual(facts.order_count, 3)
        self.assertAlmostEqual(facts.order_amount, 600.0)
        self.assertAlmostEqual(facts.avg_days_between_orders, 365.5)
        self.assertEqual(facts.next_order_date, date(2027, 1, 11))
        self.assertEqual(facts.rfm_window_orders, 1)
        self.assertEqual(facts.days_since_last_order, 156)
        self.assertEqual(customer.pulse_days_since_last_order, 156)
        self.assertEqual(customer.pulse_order_count, 3)

    def test_invoices_refunds_and_payments(self):
        customer = self.customer
        first = self.make_order(customer, "2026-03-01", price=1000)
        invoice = self.make_invoice(first, "2026-03-01")
        self.pay(invoice, "2026-03-10", amount=400)
        second = self.make_order(customer, "2026-05-01", price=500)
        invoice2 = self.make_invoice(second, "2026-05-01")
        self.refund(invoice2, "2026-05-05", cancel=True)
        self.refresh_incremental_and_check_full()
        facts = self.facts(customer)
        self.assertAlmostEqual(facts.invoiced_amount, 1000.0)  # 1000 + 500 - 500
        self.assertEqual(facts.invoice_count, 2)
        self.assertEqual(facts.last_invoice_date, date(2026, 5, 1))
        self.assertEqual(facts.last_payment_date, date(2026, 3, 10))
        self.assertAlmostEqual(facts.amount_due, 600.0)
        self.assertAlmostEqual(facts.amount_overdue, 600.0)
        self.assertEqual(facts.oldest_overdue_date, date(2026, 3, 1))

    def test_unreconcile_payment_and_cancel_invoice(self):
        order = self.make_order(self.customer, "2026-05-01", price=400)
        invoice = self.make_invoice(order, "2026-05-01")
        self.pay(invoice, "2026-05-03")
        self.refresh_incremental_and_check_full()
        self.assertAlmostEqual(self.facts(self.customer).amount_due, 0.0)
        self.assertEqual(self.facts(self.customer).last_payment_date, date(2026, 5, 3))
        invoice.line_ids.remove_move_reconcile()  # the payment was booked to the wrong invoice
        self.refresh_incremental_and_check_full()
        self.assertAlmostEqual(self.facts(self.customer).amount_due, 400.0)
        self.assertAlmostEqual(self.facts(self.customer).amount_overdue, 400.0)
        invoice.button_draft()
        invoice.button_cancel()
        self.refresh_incremental_and_check_full()
        facts = self.facts(self.customer)
        self.assertAlmostEqual(facts.invoiced_amount, 0.0)
        self.assertEqual(facts.invoice_count, 0)
        self.assertEqual(facts.order_count, 1)

    def test_refund_left_open_is_a_credit(self):
        order = self.make_order(self.customer, "2026-04-01", price=300)
        invoice = self.make_invoice(order, "2026-04-01")
        self.pay(invoice, "2026-04-02")
        refund = self.refund(invoice, "2026-04-10")  # credit note, not yet paid back
        self.refresh_incremental_and_check_full()
        facts = self.facts(self.customer)
        self.assertAlmostEqual(facts.invoiced_amount, 0.0)
        self.assertAlmostEqual(facts.amount_due, refund.amount_residual_signed)
        self.assertLess(facts.amount_due, 0)
        self.assertAlmostEqual(facts.amount_overdue, 0.0)

    def test_order_cancelled_after_invoicing(self):
        order = self.make_order(self.customer, "2026-02-01", price=250)
        invoice = self.make_invoice(order, "2026-02-01")
        self.refresh_incremental_and_check_full()
        self.assertEqual(self.facts(self.customer).order_count, 1)
        self.refund(invoice, "2026-02-03", cancel=True)
        order._action_cancel()
        self.refresh_incremental_and_check_full()
        facts = self.facts(self.customer)
        self.assertEqual(facts.order_count, 0)
        self.assertFalse(facts.last_order_date)
        self.assertAlmostEqual(facts.invoiced_amount, 0.0)
        self.assertAlmostEqual(facts.amount_due, 0.0)

    def test_all_orders_cancelled_drops_stale_facts(self):
        order = self.make_order(self.customer, "2026-06-01")
        self.refresh_incremental_and_check_full()
        self.assertTrue(self.facts(self.customer))
        order._action_cancel()
        self.refresh_incremental_and_check_full()
        self.assertFalse(self.facts(self.customer))
        self.assertFalse(self.customer.pulse_last_order_date)

    def test_foreign_currency(self):
        company_currency = self.env.company.currency_id
        foreign = (
            self.env.ref("base.EUR") if company_currency.name != "EUR" else self.env.ref("base.USD")
        )
        foreign.active = True
        self.env["res.currency.rate"].create(
            {
                "currency_id": foreign.id,
                "name": "2026-01-01",
                "rate": 0.5,
                "company_id": self.env.company.id,
            }
        )
        pricelist = self.env["product.pricelist"].create(
            {"name": "Foreign", "currency_id": foreign.id}
        )
        order = self.make_order(self.customer, "2026-03-01", price=100, pricelist_id=pricelist.id)
        self.assertEqual(order.currency_id, foreign)
        invoice = self.make_invoice(order, "2026-03-01")
        self.refresh_incremental_and_check_full()
        facts = self.facts(self.customer)
        self.assertAlmostEqual(facts.order_amount, 200.0)
        self.assertAlmostEqual(facts.invoiced_amount, 200.0)
        self.assertAlmostEqual(facts.amount_due, invoice.amount_residual_signed)
        self.assertAlmostEqual(facts.amount_due, 200.0)

    def test_contact_buys_for_its_company(self):
        company = self.env["res.partner"].create({"name": "Acme Corp", "is_company": True})
        contact = self.env["res.partner"].create({"name": "Ann Buyer", "parent_id": company.id})
        self.make_order(contact, "2026-05-20", price=80)
        self.refresh_incremental_and_check_full()
        self.assertEqual(self.facts(company).order_count, 1)
        self.assertFalse(self.facts(contact))
        self.assertEqual(contact.pulse_last_order_date, date(2026, 5, 20))
        found = self.env["res.partner"].search(
            [("pulse_last_order_date", ">=", "2026-05-01"), ("id", "in", (company | contact).ids)]
        )
        self.assertEqual(found, company | contact)

    def test_contact_moves_to_another_company(self):
        old = self.env["res.partner"].create({"name": "Old Corp", "is_company": True})
        new = self.env["res.partner"].create({"name": "New Corp", "is_company": True})
        contact = self.env["res.partner"].create({"name": "Mover", "parent_id": old.id})
        self.make_order(contact, "2026-05-20")
        self.refresh_incremental_and_check_full()
        self.assertTrue(self.facts(old))
        contact.parent_id = new
        self.refresh_incremental_and_check_full()
        self.assertFalse(self.facts(old))
        self.assertEqual(self.facts(new).order_count, 1)

    def test_same_customer_in_two_companies(self):
        company_b = self.env["res.company"].create({"name": "Pulse B"})
        self.make_order(self.customer, "2026-05-01", price=100)
        self.env["sale.order"].with_company(company_b).create(
            {
                "partner_id": self.customer.id,
                "company_id": company_b.id,
                "order_line": [
                    Command.create({"product_id": self.product.id, "price_unit": 70, "tax_id": []})
                ],
            }
        ).action_confirm()
        self.refresh_incremental_and_check_full()
        self.assertEqual(self.facts(self.customer).order_amount, 100.0)
        self.assertEqual(self.facts(self.customer, company_b).order_amount, 70.0)
        user_b = self.pulse_accountant
        user_b.write({"company_ids": [Command.set(company_b.ids)], "company_id": company_b.id})
        rows = self.Stats.with_user(user_b).search([("partner_id", "=", self.customer.id)])
        self.assertEqual(rows.company_id, company_b)
        self.assertEqual(
            self.customer.with_user(user_b).with_company(company_b).pulse_stats_id.order_amount,
            70.0,
        )

    def test_partner_merge(self):
        keep = self.env["res.partner"].create({"name": "Keep Ltd", "is_company": True})
        dupe = self.env["res.partner"].create({"name": "Keep Limited", "is_company": True})
        self.make_order(keep, "2025-01-01", price=100)
        self.make_order(dupe, "2026-01-01", price=50)
        self.refresh_incremental_and_check_full()
        self.env["base.partner.merge.automatic.wizard"]._merge((keep | dupe).ids, keep)
        self.refresh_incremental_and_check_full()
        facts = self.facts(keep)
        self.assertEqual(facts.order_count, 2)
        self.assertAlmostEqual(facts.order_amount, 150.0)
        self.assertEqual(self.Stats.search_count([("partner_id", "=", dupe.id)]), 0)

    def test_rfm_segments(self):
        partners = self.env["res.partner"].create(
            [{"name": f"RFM {i}", "customer_rank": 1} for i in range(10)]
        )
        champion, lost = partners[0], partners[9]
        for day in ("2026-04-01", "2026-04-20", "2026-05-05", "2026-05-25", "2026-06-10"):
            self.make_order(champion, day, price=900)
        for i, partner in enumerate(partners[1:9], 1):
            self.make_order(partner, f"2025-{i:02d}-15", price=100 * i)
            if i % 2:
                self.make_order(partner, f"2026-0{1 + i // 2}-15", price=50)
        self.make_order(lost, "2023-11-01", price=20)
        self.refresh_incremental_and_check_full()
        self.assertEqual(self.facts(champion).rfm_recency, 5)
        self.assertEqual(self.facts(champion).rfm_segment, "champions")
        self.assertEqual(self.facts(lost).rfm_recency, 1)
        self.assertEqual(self.facts(lost).rfm_frequency, 1)
        self.assertEqual(self.facts(lost).rfm_segment, "lost")
        segments = set(
            self.Stats.search([("partner_id", "in", partners.ids)]).mapped("rfm_segment")
        )
        self.assertGreaterEqual(len(segments), 3)
        found = self.env["res.partner"].search([("pulse_rfm_segment", "=", "champions")])
        self.assertIn(champion, found)

    def test_incremental_scores_new_customer_against_stored_thresholds(self):
        partners = self.env["res.partner"].create(
            [{"name": f"Scored {i}", "customer_rank": 1} for i in range(5)]
        )
        for i, partner in enumerate(partners):
            self.make_order(partner, f"2026-0{i + 1}-10", price=100)
        self.Facts._refresh_all()
        self.env.cr.execute("SELECT recency FROM pulse_rfm_threshold")
        (recency,) = self.env.cr.fetchone()
        self.assertEqual(len(recency), 4)
        newcomer = self.env["res.partner"].create({"name": "Newcomer", "customer_rank": 1})
        self.make_order(newcomer, "2026-06-14", price=100)
        self.Facts._refresh_queue()
        facts = self.facts(newcomer)
        self.assertEqual(facts.rfm_recency, 5)  # newer than every stored threshold
        self.assertEqual(facts.rfm_frequency, 1)  # one order in the window: lowest quintile
        self.assertEqual(facts.rfm_segment, "new")

    def test_category_facts(self):
        other_categ = self.env["product.category"].create({"name": "Other goods"})
        other = self.env["product.product"].create(
            {"name": "Other", "categ_id": other_categ.id, "invoice_policy": "order"}
        )
        self.make_order(self.customer, "2025-03-01", qty=2, price=10)
        self.make_order(self.customer, "2026-03-01", qty=3, price=10)
        cancelled = self.make_order(self.customer, "2026-04-01", qty=1, price=10)
        cancelled.order_line.product_id = other
        cancelled._action_cancel()
        self.refresh_incremental_and_check_full()
        rows = self.env["pulse.partner.category.stats"].search(
            [("partner_id", "=", self.customer.id)]
        )
        self.assertEqual(rows.categ_id, self.product.categ_id)
        self.assertEqual((rows.first_date, rows.last_date), (date(2025, 3, 1), date(2026, 3, 1)))
        self.assertEqual((rows.order_count, rows.quantity, rows.amount), (2, 5.0, 50.0))
        self.assertEqual(self.customer.pulse_category_ids, self.product.categ_id)
        found = self.env["res.partner"].search(
            [("pulse_category_ids", "in", self.product.categ_id.ids)]
        )
        self.assertIn(self.customer, found)
        self.assertNotIn(
            self.customer,
            self.env["res.partner"].search([("pulse_category_ids", "in", other_categ.ids)]),
        )

    def test_queue_survives_failed_refresh(self):
        """A refresh that fails leaves the queue for the next run (it rolls back)."""
        self.make_order(self.customer, "2026-06-01")
        self.env.flush_all()
        self.env.cr.execute("SELECT COUNT(*) FROM pulse_stats_queue")
        queued = self.env.cr.fetchone()[0]
        self.assertGreater(queued, 0)
        with self.assertRaises(ZeroDivisionError), self.env.cr.savepoint():
            self.Facts._refresh_queue()
            raise ZeroDivisionError  # a failure after the queue rows were claimed
        self.env.cr.execute("SELECT COUNT(*) FROM pulse_stats_queue")
        self.assertEqual(self.env.cr.fetchone()[0], queued)
        # a refresh that fails is logged with the partners involved, queue kept
        logger = "odoo.addons.customer_pulse.models.pulse_facts_engine"
        with (
            patch.object(type(self.Facts), "_facts_query", return_value=SQL("SELECT 1/0")),
            self.assertLogs(logger, level="ERROR") as logs,
            self.assertRaises(psycopg2.Error),
            self.env.cr.savepoint(),
        ):
            self.Facts._refresh_queue()
        self.assertIn(str(self.customer.id), logs.output[0])
        self.env.cr.execute("SELECT COUNT(*) FROM pulse_stats_queue")
        self.assertEqual(self.env.cr.fetchone()[0], queued)


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestPartnerStatsAccess(PulseFactsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        order = cls.make_order(cls.customer, "2026-06-01", price=100)
        cls.make_invoice(order, "2026-06-01")
        cls.env["pulse.facts.engine"]._refresh_all()

    def test_user_sees_facts_but_not_amounts(self):
        rows = self.Stats.with_user(self.pulse_user).search([("partner_id", "=", self.customer.id)])
        self.assertEqual(rows.order_count, 1)
        with self.assertRaises(AccessError):
            rows.read(["invoiced_amount"])
        with self.assertRaises(AccessError):
            rows.write({"order_count": 5})

    def test_order_and_invoice_show_the_customer_pulse(self):
        order = self.env["sale.order"].search([("partner_id", "=", self.customer.id)], limit=1)
        invoice = order.invoice_ids
        self.assertEqual(order.with_user(self.pulse_user).pulse_days_since_last_order, 14)
        self.assertTrue(order.with_user(self.pulse_user).pulse_rfm_segment)
        self.assertAlmostEqual(invoice.with_user(self.pulse_accountant).pulse_amount_overdue, 100.0)
        self.assertEqual(
            invoice.with_user(self.pulse_accountant).pulse_oldest_overdue_date, date(2026, 6, 1)
        )
        with self.assertRaises(AccessError):
            order.with_user(self.pulse_user).read(["pulse_amount_overdue"])

    def test_accountant_sees_amounts(self):
        rows = self.Stats.with_user(self.pulse_accountant).search(
            [("partner_id", "=", self.customer.id)]
        )
        self.assertAlmostEqual(rows.invoiced_amount, 100.0)
        self.assertAlmostEqual(
            self.customer.with_user(self.pulse_accountant).pulse_amount_due, 100.0
        )

    def test_refresh_button_for_managers_only(self):
        self.Stats.with_user(self.pulse_manager).action_refresh_all()
        with self.assertRaises(AccessError):
            self.Stats.with_user(self.pulse_user).action_refresh_all()

    def test_portal_and_plain_users_read_nothing(self):
        for user in (self.portal_user, self.internal_user):
            with self.assertRaises(AccessError):
                self.Stats.with_user(user).search([])


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestFactsEngine(PulseFactsCase):
    """The refresh engine's shared builders, its nightly chain of crons and the conversion
    of an earlier version's tables."""

    def test_quintiles_and_scores_of_a_hand_made_population(self):
        """Five customers: the boundaries are the values at the cut points (ties kept,
        frequency and monetary over the customers above 0), a customer scores 1 + the
        boundaries below it."""
        company = self.env.company.id
        source = SQL(
            "(VALUES %s) AS f(company_id, last_order_date, rfm_window_orders, rfm_window_amount)",
            SQL(", ").join(
                SQL("(%s, %s::date, %s, %s::numeric)", company, f"2026-0{i + 1}-01", i, 10 * i)
                for i in range(5)
            ),
        )
        [(recency, frequency, monetary)] = self.env.execute_query(
            SQL(
                "SELECT recency, frequency, monetary FROM (%s) q",
                self.Facts._thresholds_query(source),
            )
        )
        self.assertEqual(recency, [date(2026, m, 1) for m in (1, 2, 3, 4)])
        self.assertEqual(frequency, [1, 2, 3, 4])
        self.assertEqual([float(x) for x in monetary], [10.0, 20.0, 30.0, 40.0])
        scores = self.env.execute_query(
            SQL(
                "SELECT f.rfm_window_orders, %s FROM %s JOIN %s th USING (company_id)"
                " ORDER BY 1",
                self.Facts._rfm_scores_sql(),
                source,
                self.Facts._threshold_columns_sql(
                    SQL("(%s) q", self.Facts._thresholds_query(source)), prefixes=("",)
                ),
            )
        )
        self.assertEqual(
            scores, [(0, 1, 1, 1), (1, 2, 1, 1), (2, 3, 2, 2), (3, 4, 3, 3), (4, 5, 4, 4)]
        )

    def test_previous_rfm_is_the_rfm_of_30_days_ago(self):
        """The RFM segment of 30 days ago is the segment the full refresh gives on the
        database as it was that day (the orders confirmed since then cancelled)."""
        partners = self.env["res.partner"].create(
            [{"name": f"Then {i}", "customer_rank": 1} for i in range(8)]
        )
        history = {
            0: ("2026-03-01", "2026-04-01", "2026-05-01", "2026-05-10", "2026-06-01"),
            1: ("2025-01-15", "2026-06-10"),
            2: ("2024-05-01",),
            3: ("2026-05-14", "2026-05-15"),
            4: ("2025-11-01", "2026-01-01", "2026-02-01", "2026-03-01"),
            5: ("2026-06-01",),  # a customer since then only
            6: ("2025-06-01", "2025-09-01"),
            7: ("2026-05-16", "2026-05-17"),  # that day and the next
        }
        for i, days in history.items():
            for day in days:
                self.make_order(partners[i], day, price=100 * (i + 1))
        self.make_invoice(self.make_order(partners[6], "2026-04-01", price=50), "2026-04-01")
        self.Facts._refresh_all(profile=False)
        rows = self.Stats.search([("partner_id", "in", partners.ids)])
        previous = {row.partner_id: row.rfm_segment_previous for row in rows}
        self.assertGreaterEqual(len(set(previous.values()) - {False}), 3)
        self.assertFalse(previous[partners[5]])
        # the database of that day: what was confirmed after it, cancelled
        self.env["sale.order"].search(
            [("state", "=", "sale"), ("date_order", ">=", "2026-05-17 00:00:00")]
        )._action_cancel()
        with freeze_time("2026-05-16"):
            self.Facts._refresh_all(derived=False)
            then = {row.partner_id: row.rfm_segment for row in self.Stats.search([])}
        self.assertEqual(previous, {partner: then.get(partner, False) for partner in previous})

    def test_nightly_chain(self):
        """The facts' cron (with the RFM segments of 30 days ago) starts the derived
        figures' cron when done, which starts the profiles' cron; each one's own schedule
        moves a day and more away (a safety net)."""
        self.make_order(self.customer, "2026-05-01")
        Trigger = self.env["ir.cron.trigger"]
        derived = self.env.ref("customer_pulse.ir_cron_pulse_stats_derived")
        profile = self.env.ref("customer_pulse.ir_cron_pulse_purchase_attributes")
        for cron in (derived, profile):
            self.assertEqual(cron.interval_type, "days")
            Trigger.search([("cron_id", "=", cron.id)]).unlink()
        with patch.object(type(self.Facts), "_vacuum_facts") as vacuum:
            self.Facts._cron_refresh_all()
        vacuum.assert_called_once()
        self.assertEqual(self.facts(self.customer).order_count, 1)
        self.assertEqual(len(Trigger.search([("cron_id", "=", derived.id)])), 1)
        self.assertFalse(Trigger.search([("cron_id", "=", profile.id)]))
        self.assertGreater(derived.nextcall, datetime(2026, 6, 16))
        self.assertTrue(self.facts(self.customer).rfm_segment_previous)
        self.Facts._cron_refresh_derived()
        self.assertEqual(len(Trigger.search([("cron_id", "=", profile.id)])), 1)
        self.assertGreater(profile.nextcall, datetime(2026, 6, 16))

    def test_crons_run_the_engine(self):
        engine = self.env["ir.model"]._get("pulse.facts.engine")
        for xmlid in ("queue", "full", "derived"):
            cron = self.env.ref(f"customer_pulse.ir_cron_pulse_stats_{xmlid}")
            self.assertEqual(cron.model_id, engine)

    def test_migration_converts_the_earlier_tables(self):
        """An earlier version's queue and RFM boundaries (tables without id) become the
        models' tables, its old source indexes go; the refresh then works as before."""
        cr = self.env.cr
        cr.execute(
            """
            DROP TABLE pulse_stats_queue;
            CREATE TABLE pulse_stats_queue (
                partner_id integer NOT NULL,
                queued_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'));
            CREATE INDEX pulse_stats_queue_partner_idx ON pulse_stats_queue (partner_id);
            DROP TABLE pulse_rfm_threshold;
            CREATE TABLE pulse_rfm_threshold (
                company_id integer PRIMARY KEY REFERENCES res_company ON DELETE CASCADE,
                recency date[], frequency integer[], monetary numeric[],
                computed_at timestamp);
            CREATE INDEX pulse_account_move_customer_idx ON account_move (id);
            """
        )
        self.make_order(self.customer, "2026-06-01")
        self.env.flush_all()  # queued without an id
        pre = load_script(f"{MIGRATIONS}/pre-10-facts.py", "customer_pulse_pre_10_facts")
        pre.migrate(cr, "18.0.1.0.0")
        pre.migrate(cr, "18.0.1.0.0")  # twice: nothing more
        self.env.registry.init_models(
            cr, ["pulse.stats.queue", "pulse.rfm.threshold"], {"module": "customer_pulse"}
        )
        self.assertFalse(sql.index_exists(cr, "pulse_account_move_customer_idx"))
        self.assertTrue(sql.index_exists(cr, "pulse_stats_queue__partner_id_index"))
        self.assertFalse(sql.index_exists(cr, "pulse_stats_queue_partner_idx"))
        self.assertEqual(
            set(self.env["pulse.stats.queue"].search([]).mapped("partner_id")), {self.customer.id}
        )
        self.assertEqual(self.Facts._refresh_queue(), 1)
        self.Facts._refresh_all(derived=False)
        self.Facts._refresh_all(derived=False)  # the boundaries again: one row per company
        threshold = self.env["pulse.rfm.threshold"].search([])
        self.assertEqual(threshold.company_id, self.env["res.company"].search([]))
        self.assertEqual(self.facts(self.customer).rfm_recency, 1)

    def test_post_migration_points_the_crons_at_the_engine(self):
        cron = self.env.ref("customer_pulse.ir_cron_pulse_stats_full")
        cron.model_id = self.env["ir.model"]._get("pulse.partner.stats")
        post = load_script(f"{MIGRATIONS}/post-10-facts.py", "customer_pulse_post_10_facts")
        post.migrate(self.env.cr, "18.0.1.0.0")
        cron.invalidate_recordset()
        self.assertEqual(cron.model_id.model, "pulse.facts.engine")
        self.assertEqual(cron.model_name, "pulse.facts.engine")
