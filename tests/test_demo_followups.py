from datetime import timedelta

from odoo import fields
from odoo.addons.customer_pulse.tools import demo_followups, demo_history
from odoo.tests import tagged
from odoo.tests.common import TransactionCase


@tagged("post_install", "-at_install")
class TestDemoFollowups(TransactionCase):
    """The follow-up demo at SCALE=tiny: levels, a customer at every level, reminders sent
    in the past weeks, a promise kept, one broken, a dispute, items to collect and payment
    notices, all made by the follow-up's own methods."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.today = fields.Date.today()
        demo_history.generate(cls.env, scale="tiny", seed=7)
        cls.counts = demo_followups.generate(cls.env)
        cls.company = cls.env.company
        cls.Followup = cls.env["pulse.followup"]
        cls.Event = cls.env["pulse.followup.event"]

    def test_every_level_has_a_customer(self):
        levels = self.env["pulse.followup.level"].search([("company_id", "=", self.company.id)])
        self.assertGreaterEqual(len(levels), 4, "the shipped levels")
        self.assertEqual(self.counts["followup_levels"], len(levels))
        rows = self.Followup.search([("company_id", "=", self.company.id), ("state", "!=", "done")])
        for level in levels:
            self.assertIn(level, rows.level_id, f"nobody at {level.name}")
            self.assertGreaterEqual(self.counts["followup_customers_per_level"][level.name], 1)
        # the showcase customer of each level is at that level
        for level in levels.filtered(lambda lv: lv.delay >= 0):
            partner_id = self.counts["showcase"][f"level_{level.id}"]
            row = rows.filtered(lambda f, p=partner_id: f.partner_id.id == p)
            self.assertEqual(row.level_id, level)

    def test_reminders_in_the_history(self):
        sent = self.Event.search([("state", "=", "done")])
        self.assertEqual(len(sent), self.counts["followup_reminders_sent"])
        self.assertGreaterEqual(len(sent), 8)
        month_ago = self.today - timedelta(days=30)
        self.assertTrue(sent.filtered(lambda e: e.date < month_ago), "reminders a month old")
        self.assertGreater(len(set(sent.mapped("date"))), 5, "sent on many days, not one")
        # a level is sent once per customer, company and episode
        keys = [(e.partner_id, e.company_id, e.level_id, e.cycle) for e in self.Event.search([])]
        self.assertEqual(len(keys), len(set(keys)))
        # each sent email lists the customer's invoices and is marked delivered
        emailed = sent.filtered("mail_id")
        self.assertTrue(emailed)
        self.assertEqual(set(emailed.mail_id.mapped("state")), {"sent"})
        self.assertTrue(all(e.invoice_ids for e in sent))
        # the levels keep their shipped channels after the replay
        final = self.env["pulse.followup.level"].search(
            [("company_id", "=", self.company.id)], order="delay desc", limit=1
        )
        self.assertTrue(final.send_letter)

    def test_work_for_today(self):
        """The accountant finds work under "Needs action today": a first reminder due today
        (today's run has not gone yet)."""
        due = self.Followup.search([("partner_id", "=", self.counts["showcase"]["due_today"])])
        self.assertEqual(due.state, "needs_action")
        self.assertEqual(due.next_action_date, self.today)
        first = self.env["pulse.followup.level"].search(
            [("company_id", "=", self.company.id), ("delay", ">=", 0)], order="delay", limit=1
        )
        self.assertEqual(due.next_level_id, first)
        self.assertNotIn(first, due.event_ids.level_id, "only its courtesy reminder went out")
        # nothing of today was sent by the demo, nor will the cron send it at start
        self.assertFalse(self.Event.search([("date", "=", self.today), ("state", "=", "done")]))
        self.env["pulse.followup"]._cron_run()
        self.assertEqual(due.state, "needs_action")

    def test_promises_kept_and_broken(self):
        Promise = self.env["pulse.followup.promise"]
        kept = Promise.search([("state", "=", "kept")])
        broken = Promise.search([("state", "=", "broken")])
        self.assertEqual(len(kept), 1)
        self.assertEqual(len(broken), 1)
        self.assertEqual(kept.partner_id.id, self.counts["showcase"]["promise_kept"])
        self.assertEqual(broken.partner_id.id, self.counts["showcase"]["promise_broken"])
        self.assertTrue(broken.activity_id, "the accountant is told of a broken promise")
        # paid in full: the kept customer's follow-up is up to date
        self.assertEqual(kept.followup_id.state, "done")
        # broken: the next run moved on a level
        levels = broken.followup_id.event_ids.filtered(lambda e: e.state == "done").level_id
        self.assertGreaterEqual(len(levels), 2)

    def test_dispute(self):
        disputed = self.env["account.move"].search([("pulse_disputed", "=", True)])
        self.assertEqual(len(disputed), 1)
        self.assertEqual(disputed.commercial_partner_id.id, self.counts["showcase"]["dispute"])
        self.assertTrue(disputed.pulse_dispute_reason)
        self.assertGreater(disputed.pulse_dispute_until, self.today)
        row = self.Followup.search([("partner_id", "=", disputed.commercial_partner_id.id)])
        self.assertAlmostEqual(row.amount_disputed, disputed.amount_residual_signed)
        self.assertNotIn(disputed, row.invoice_ids - row.disputed_invoice_ids)

    def test_collections_and_payment_notices(self):
        if "pulse.collection" not in self.env:
            self.skipTest("the items to collect are not installed")
        self.assertGreater(self.env["pulse.collection"].search_count([]), 0)
        self.assertGreater(self.counts.get("collection_items", 0), 0)
        if "pulse.payment.notice" in self.env:
            self.assertGreater(self.env["pulse.payment.notice"].search_count([]), 0)
