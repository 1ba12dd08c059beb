from freezegun import freeze_time

from odoo.tests import tagged

from .test_followup import FollowupCase


@tagged("post_install", "-at_install")
class TestFollowupPromise(FollowupCase):
    """Promises to pay: reminders wait until the date plus the grace days; kept when the
    money is in, broken otherwise (the accountant is told, the next run moves on a level);
    counted on the follow-up and fed into the profile."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a.pulse_collection_user_id = cls.pulse_accountant
        cls.reliability = cls.env.ref("customer_pulse.attribute_promise_reliability")
        with freeze_time("2026-01-01"):
            cls.inv = cls.make_move(cls.debtor, "2026-01-01", 500)

    def promise(self, day, date, amount, note="Will pay on Friday"):
        with freeze_time(day):
            return self.Promise.with_user(self.pulse_accountant).create(
                {"followup_id": self.row().id, "date": date, "amount": amount, "note": note}
            )

    def profile(self):
        return self.env["pulse.attribute.value"].search(
            [("partner_id", "=", self.debtor.id), ("attribute_id", "=", self.reliability.id)],
            order="id desc",
        )

    def test_reminders_wait_for_a_promise_and_it_is_kept(self):
        self.run_day("2026-01-08 06:00:00")
        self.assertEqual(self.events().level_id, self.first)
        promise = self.promise("2026-01-09", "2026-01-20", 500)
        self.assertEqual(promise.check_date.isoformat(), "2026-01-23")  # 3 days of grace
        self.assertEqual(promise.residual_at_promise, 500)
        row = self.row()
        self.assertEqual(row.state, "promise")
        self.assertEqual(row.promise_id, promise)
        # the second reminder is due on the 22nd: it waits for the promise
        self.assertFalse(self.run_day("2026-01-22 06:00:00"))
        self.assertEqual(self.row().state, "promise")
        with freeze_time("2026-01-21"):
            self.pay(self.inv, "2026-01-21")
        self.run_day("2026-01-22 07:00:00")
        self.assertEqual(promise.state, "kept")
        self.assertEqual(promise.closed_date.isoformat(), "2026-01-22")
        row = self.row()
        self.assertEqual((row.kept_count, row.broken_count), (1, 0))
        self.assertEqual(row.state, "done")
        self.assertEqual(self.profile()[:1].option_id.key, "keeps")
        self.assertEqual(self.profile()[:1].source, "rule")

    def test_a_promise_skips_a_reminder_already_prepared(self):
        self.first.auto = False
        events = self.run_day("2026-01-08 06:00:00")
        self.assertEqual(events.state, "waiting")
        self.promise("2026-01-08", "2026-01-15", 200)
        self.assertEqual(events.state, "skipped")
        self.assertIn("promise until 2026-01-18", events.reason)

    def test_broken_promise_tells_the_accountant_and_moves_on_a_level(self):
        self.run_day("2026-01-08 06:00:00")
        promise = self.promise("2026-01-09", "2026-01-10", 500)
        self.assertFalse(self.run_day("2026-01-13 06:00:00"), "in force until the 13th")
        with freeze_time("2026-01-12"):
            self.pay(self.inv, "2026-01-12", amount=200)  # part of it only
        # the 14th: broken; the second reminder goes out now (its own date is the 22nd)
        events = self.run_day("2026-01-14 06:00:00")
        self.assertEqual(promise.state, "broken")
        activity = promise.activity_id
        self.assertEqual(activity.user_id, self.pulse_accountant)
        self.assertIn("broken", activity.summary)
        self.assertEqual(events.level_id, self.second)
        self.assertEqual(events.state, "done", events.reason or events.error)
        self.assertEqual(events.amount, 300)
        row = self.row()
        self.assertEqual((row.kept_count, row.broken_count), (0, 1))
        self.assertFalse(row.escalate)
        self.assertEqual(self.profile()[:1].option_id.key, "breaks")
        # a later promise kept: the profile says they sometimes break them
        self.promise("2026-01-15", "2026-01-16", 300)
        with freeze_time("2026-01-16"):
            self.pay(self.inv, "2026-01-16")
        self.run_day("2026-01-17 06:00:00")
        row = self.row()
        self.assertEqual((row.kept_count, row.broken_count), (1, 1))
        self.assertEqual(self.profile()[:1].option_id.key, "breaks")  # 1 broken >= 1 kept

    def test_grace_days_setting(self):
        self.env["ir.config_parameter"].set_param("customer_pulse.followup_grace_days", "0")
        self.run_day("2026-01-08 06:00:00")
        promise = self.promise("2026-01-09", "2026-01-10", 100)
        self.assertEqual(promise.check_date.isoformat(), "2026-01-10")
        self.env["ir.config_parameter"].set_param("customer_pulse.followup_grace_days", "soon")
        promise = self.promise("2026-01-09", "2026-01-10", 100)
        self.assertEqual(promise.check_date.isoformat(), "2026-01-13", "bad value: default 3")
