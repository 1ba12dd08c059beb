from freezegun import freeze_time
from psycopg2 import IntegrityError

from odoo import Command
from odoo.addons.mail.tests.common import MockEmail
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import PulseFactsCase


class FollowupCase(PulseFactsCase, MockEmail):
    """Two companies with the shipped levels (the second gets them at its first run) and a
    customer who owes money in both."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Followup = cls.env["pulse.followup"]
        cls.Event = cls.env["pulse.followup.event"]
        cls.Promise = cls.env["pulse.followup.promise"]
        cls.company_a = cls.env.company
        cls.company_a.write({"name": "Pulse Alpha SA", "email": "accounts@alpha.example"})
        cls.company_b = cls.make_company("Pulse Beta Ltd", email="billing@beta.example")
        cls.courtesy = cls.env.ref("customer_pulse.followup_level_courtesy")
        cls.first = cls.env.ref("customer_pulse.followup_level_first")
        cls.second = cls.env.ref("customer_pulse.followup_level_second")
        cls.final = cls.env.ref("customer_pulse.followup_level_final")
        cls.debtor = cls.make_customer(
            "Slow Payer Ltd",
            email="ap@slowpayer.example",
            mobile="+32 470 11 22 33",
            user_id=cls.pulse_user.id,
        )

    # ------------------------------------------------------------------ helpers
    def run_day(self, day):
        """The daily run on `day`: refresh, create the due reminders, send them."""
        with freeze_time(day):
            events = self.Followup._run()
            self.Event._process_due()
        return events

    def events(self, partner=None, company=None):
        domain = [("partner_id", "=", (partner or self.debtor).id)]
        if company:
            domain.append(("company_id", "=", company.id))
        return self.Event.search(domain, order="id")

    def row(self, partner=None, company=None):
        return self.Followup.search(
            [
                ("partner_id", "=", (partner or self.debtor).id),
                ("company_id", "=", (company or self.company_a).id),
            ]
        )

    def send_queue(self):
        """Odoo's mail queue sends what the reminders queued, through a mocked SMTP."""
        with self.mock_mail_gateway():
            self.env["mail.mail"].sudo().search([("state", "=", "outgoing")]).send()
        return self._mails


@tagged("post_install", "-at_install")
class TestFollowup(FollowupCase):
    # ------------------------------------------------------------ one message per company
    def test_one_email_per_company_with_its_own_invoices(self):
        """Three overdue invoices in two companies (2 + 1): one first reminder per company,
        each from that company, with its header and only its invoices' PDFs; a second run
        the same day sends nothing."""
        with freeze_time("2026-01-20"):
            a1 = self.make_move(self.debtor, "2026-01-10", 100)
            a2 = self.make_move(self.debtor, "2026-01-15", 250)
            b1 = self.make_move(self.debtor, "2026-01-12", 80, company=self.company_b)
        self.assertFalse(a1.invoice_pdf_report_id, "never printed: the run must make its PDF")
        self.run_day("2026-02-01 06:00:00")
        events = self.events()
        self.assertEqual(len(events), 2)
        self.assertEqual(set(events.mapped("state")), {"done"})
        ea = events.filtered(lambda e: e.company_id == self.company_a)
        eb = events.filtered(lambda e: e.company_id == self.company_b)
        self.assertEqual(ea.level_id, self.first)
        self.assertEqual(eb.level_id.name, "First reminder")
        self.assertEqual(eb.level_id.company_id, self.company_b, "B got its own levels")
        self.assertEqual(ea.invoice_ids, a1 | a2)
        self.assertEqual(eb.invoice_ids, b1)
        self.assertEqual(ea.amount, 350)
        self.assertEqual(eb.amount, 80)
        self.assertTrue(a1.invoice_pdf_report_id, "the missing PDF was generated and kept")

        mails = self.send_queue()
        self.assertEqual(len(mails), 2)
        mail_a = next(m for m in mails if "accounts@alpha.example" in m["email_from"])
        mail_b = next(m for m in mails if "billing@beta.example" in m["email_from"])
        self.assertEqual(
            sorted(name for name, *_rest in mail_a["attachments"]),
            sorted([a1._get_invoice_report_filename(), a2._get_invoice_report_filename()]),
        )
        self.assertEqual(
            [name for name, *_rest in mail_b["attachments"]], [b1._get_invoice_report_filename()]
        )
        self.assertIn("Pulse Alpha SA", mail_a["subject"])
        self.assertIn("Pulse Beta Ltd", mail_b["subject"])
        # each company numbers its own invoices: the amounts tell them apart
        for mail, company, other, mine, theirs in (
            (mail_a, "Pulse Alpha SA", "Pulse Beta Ltd", ("100.00", "250.00", "350.00"), "80.00"),
            (mail_b, "Pulse Beta Ltd", "Pulse Alpha SA", ("80.00",), "350.00"),
        ):
            body = mail["body"]
            self.assertIn(company, body, "the sending company's header and footer")
            self.assertNotIn(other, body)
            for amount in mine:
                self.assertIn(amount, body)
            self.assertNotIn(theirs, body)
            self.assertIn("ap@slowpayer.example", mail["email_to"][0])
        self.assertIn("accounts@alpha.example", mail_a["body"])
        self.assertIn("billing@beta.example", mail_b["body"])

        # the workspace row
        row = self.row()
        self.assertEqual(row.level_id, self.first)
        self.assertEqual(row.last_reminder_date.isoformat(), "2026-02-01")
        self.assertEqual(row.next_level_id, self.second)
        self.assertEqual(row.amount_overdue, 350)

        # a second run the same day (and the cron) sends nothing more
        count = self.env["mail.mail"].sudo().search_count([])
        self.assertFalse(self.run_day("2026-02-01 18:00:00"))
        with freeze_time("2026-02-01 19:00:00"):
            self.Followup._cron_run()
            self.Followup._cron_run()
        self.assertEqual(self.events(), events)
        self.assertEqual(self.env["mail.mail"].sudo().search_count([]), count)

    def test_emails_rendered_together_are_those_send_mail_makes(self):
        """The reminders of a batch are rendered together (one rendering per level and
        company) and their emails queued set-based: each is the email the level's template
        makes alone, with its own invoices; a customer whose email cannot be rendered fails
        alone."""
        self.first.attach_invoices = False
        self.debtor.ref = "SLOW"
        other = self.make_customer("Prompt Later Ltd", email="ap@later.example", ref="LATER")
        broken = self.make_customer("No Reference Ltd", email="ap@noref.example")
        with freeze_time("2026-01-20"):
            self.make_move(self.debtor, "2026-01-10", 100)
            self.make_move(self.debtor, "2026-01-15", 250)
            self.make_move(other, "2026-01-12", 80)
            self.make_move(broken, "2026-01-12", 60)
        template = self.first.mail_template_id
        template.body_html = str(template.body_html).replace(
            "<p>Dear", '<p>Ref. <t t-out="object.ref.upper()"/></p><p>Dear'
        )
        self.run_day("2026-02-01 06:00:00")
        self.assertEqual(self.events(broken).state, "failed")
        self.assertIn("upper", self.events(broken).error)
        fields = ["subject", "email_from", "reply_to", "body_html", "body", "email_to"]
        fields += ["model", "res_id", "record_name", "author_id", "message_type", "auto_delete"]
        fields += ["recipient_ids", "partner_ids", "mail_server_id", "scheduled_date", "state"]
        for customer, amounts in ((self.debtor, ("100.00", "250.00")), (other, ("80.00",))):
            event = self.events(customer)
            self.assertEqual(event.state, "done")
            with freeze_time("2026-02-01 06:00:00"):
                alone = self.env["mail.mail"].browse(
                    template.with_context(pulse_followup_invoice_ids=event.invoice_ids.ids)
                    .sudo()
                    .send_mail(
                        customer.id,
                        email_values={
                            "recipient_ids": [Command.set(customer.ids)],
                            "partner_ids": [Command.set(customer.ids)],
                        },
                    )
                )
            self.env.invalidate_all()  # both as stored
            [mine], [theirs] = event.mail_id.read(fields), alone.read(fields)
            self.assertEqual({**mine, "id": 0}, {**theirs, "id": 0})
            self.assertIn(customer.ref, mine["body_html"])
            for amount in amounts:
                self.assertIn(amount, mine["body_html"])
            self.assertIn("Pulse Alpha SA", mine["body_html"], "in its layout")

    def test_paid_before_the_run_is_left_out(self):
        with freeze_time("2026-01-20"):
            a1 = self.make_move(self.debtor, "2026-01-10", 100)
            a2 = self.make_move(self.debtor, "2026-01-11", 200)
            paid = self.make_move(self.debtor, "2026-01-12", 300)
            self.pay(paid, "2026-01-20")
        self.run_day("2026-02-01 06:00:00")
        event = self.events()
        self.assertEqual(event.invoice_ids, a1 | a2)
        self.assertEqual(event.amount, 300)
        mail = self.send_queue()[0]
        self.assertEqual(len(mail["attachments"]), 2)
        self.assertNotIn(paid.name, mail["body"])
        self.assertNotIn(paid._get_invoice_report_filename(), [a[0] for a in mail["attachments"]])

    def test_disputed_invoice_is_left_out_until_undisputed(self):
        with freeze_time("2026-01-20"):
            a1 = self.make_move(self.debtor, "2026-01-10", 100)
            a2 = self.make_move(self.debtor, "2026-01-11", 200)
            a2.invoice_user_id = self.pulse_user
            wizard = (
                self.env["pulse.followup.dispute"]
                .with_user(self.pulse_accountant)
                .create(
                    {
                        "invoice_ids": [Command.set(a2.ids)],
                        "reason": "Two pallets arrived damaged",
                        "until": "2026-03-31",
                    }
                )
            )
            wizard.action_dispute()
        self.assertTrue(a2.pulse_disputed)
        activity = a2.pulse_dispute_activity_id
        self.assertEqual(activity.user_id, self.pulse_user, "the salesperson settles it")
        self.run_day("2026-02-01 06:00:00")
        event = self.events()
        self.assertEqual(event.invoice_ids, a1)
        self.assertEqual(event.amount, 100)
        row = self.row()
        self.assertEqual(row.amount_overdue, 100)
        self.assertEqual(row.amount_disputed, 200)
        mail = self.send_queue()[0]
        self.assertEqual([a[0] for a in mail["attachments"]], [a1._get_invoice_report_filename()])
        self.assertNotIn(a2.name, mail["body"])

        # undisputing brings it back, tracked in the invoice's chatter
        with freeze_time("2026-02-02"):
            a2.with_user(self.pulse_accountant).with_context(
                tracking_disable=False
            ).action_pulse_undispute()
            self.env.flush_all()
            self.env.cr.precommit.run()
        self.assertFalse(a2.pulse_disputed)
        self.assertEqual(activity.exists().state if activity.exists() else "done", "done")
        tracked = a2.message_ids.tracking_value_ids.field_id.mapped("name")
        self.assertIn("pulse_disputed", tracked)
        self.assertEqual(self.row().amount_overdue, 300)
        self.assertEqual(self.row().amount_disputed, 0)

    def test_everything_disputed_skips_the_reminder(self):
        with freeze_time("2026-01-20"):
            a1 = self.make_move(self.debtor, "2026-01-10", 100)
        with freeze_time("2026-02-01 06:00:00"):
            events = self.Followup._run()
            a1.with_user(self.pulse_accountant)._pulse_dispute("Wrong price")
            self.Event._process_due()
        self.assertEqual(events.state, "skipped")
        self.assertEqual(events.reason, "disputed")

    def test_dispute_lapses_at_its_end_date(self):
        with freeze_time("2026-01-20"):
            a1 = self.make_move(self.debtor, "2026-01-10", 100)
            a1.with_user(self.pulse_accountant)._pulse_dispute(
                "Checking the delivery", "2026-02-05"
            )
        self.assertFalse(self.run_day("2026-02-05 06:00:00"), "disputed: nothing to remind")
        self.assertEqual(self.row().state, "done")
        events = self.run_day("2026-02-06 06:00:00")
        self.assertFalse(a1.pulse_disputed, "the dispute ended on its date")
        self.assertEqual(events.invoice_ids, a1)
        self.assertEqual(events.state, "done")

    def test_log_a_call_and_the_pulse_card(self):
        with freeze_time("2026-01-20"):
            self.make_move(self.debtor, "2026-01-10", 100)
        self.run_day("2026-02-01 06:00:00")
        row = self.row()
        with freeze_time("2026-02-02 10:00:00"):
            self.env["pulse.followup.call"].with_user(self.pulse_accountant).create(
                {"followup_id": row.id, "note": "<p>Pays on Friday, cheque in the post</p>"}
            ).action_log()
        self.assertEqual(row.last_call_date.isoformat(), "2026-02-02")
        done = self.debtor.message_ids.filtered(
            lambda m: m.mail_activity_type_id == self.env.ref("mail.mail_activity_data_call")
        )
        self.assertIn("cheque in the post", done.body)
        self.assertEqual(done.author_id, self.pulse_accountant.partner_id)
        # the card of an invoicing user shows the follow-up of the current company
        card = self.debtor.with_user(self.pulse_accountant)
        self.assertEqual(card.pulse_followup_id, row)
        self.assertEqual(card.pulse_followup_level_id, self.first)
        self.assertEqual(card.pulse_followup_state, "waiting")
        self.assertFalse(self.debtor.with_user(self.pulse_marketer).pulse_followup_id)

    def test_partner_follow_up_fields_follow_the_follow_up(self):
        """The partner's follow-up fields, once read, change with the follow-up (no stale
        card in the same transaction)."""
        with freeze_time("2026-01-20"):
            self.make_move(self.debtor, "2026-01-10", 100)
        self.run_day("2026-02-01 06:00:00")
        row = self.row()
        contact = self.env["res.partner"].create({"name": "Ann Payer", "parent_id": self.debtor.id})
        for partner in (self.debtor, contact):
            self.assertEqual(partner.pulse_followup_state, "waiting")
            self.assertEqual(partner.pulse_followup_level_id, self.first)
            self.assertFalse(partner.pulse_followup_hold)
        row.write(
            {
                "state": "done",
                "level_id": self.second.id,
                "next_action_date": "2026-03-01",
                "hold": True,
            }
        )
        for partner in (self.debtor, contact):
            self.assertEqual(partner.pulse_followup_state, "done")
            self.assertEqual(partner.pulse_followup_level_id, self.second)
            self.assertEqual(partner.pulse_followup_next_date.isoformat(), "2026-03-01")
            self.assertTrue(partner.pulse_followup_hold)
        with freeze_time("2026-02-02"):
            promise = self.Promise.create(
                {"followup_id": row.id, "date": "2026-02-20", "amount": 100, "note": "Friday"}
            )
            row.promise_id = promise
            self.assertEqual(self.debtor.pulse_followup_promise_date.isoformat(), "2026-02-20")
            promise.date = "2026-02-27"
            self.assertEqual(self.debtor.pulse_followup_promise_date.isoformat(), "2026-02-27")
        # searchable: the partners of a follow-up, contacts included
        self.assertEqual(
            self.env["res.partner"].search([("pulse_followup_id", "in", row.ids)]),
            self.debtor | contact,
        )

    def test_paid_between_queueing_and_sending(self):
        """The send step checks again: paid meanwhile, nothing goes out."""
        with freeze_time("2026-01-20"):
            a1 = self.make_move(self.debtor, "2026-01-10", 100)
            a2 = self.make_move(self.debtor, "2026-01-11", 200)
        with freeze_time("2026-02-01 06:00:00"):
            events = self.Followup._run()
            self.assertEqual(events.state, "scheduled")
            self.assertEqual(events.invoice_ids, a1 | a2)
            self.pay(a1, "2026-02-01")
            self.pay(a2, "2026-02-01")
            self.Event._process_due()
        self.assertEqual(events.state, "skipped")
        self.assertEqual(events.reason, "paid")
        self.assertFalse(events.mail_id)
        self.assertFalse(self.send_queue())
        self.assertEqual(self.row().state, "done")

    # ------------------------------------------------------------ the levels
    def test_levels_escalate_one_at_a_time_with_their_channels(self):
        """Found 50 days late: the first reminder, then the next levels spaced by their
        gaps; the second reminder queues a text and a call for the salesperson, the final
        notice a letter and a to-do for the accountant; full payment ends the episode and
        the next overdue invoice starts at the first level again (cycle 2)."""
        self.company_a.pulse_collection_user_id = self.pulse_accountant
        with freeze_time("2026-01-01"):
            inv = self.make_move(self.debtor, "2025-11-01", 500)
        self.run_day("2025-12-20 06:00:00")
        self.assertEqual(self.events().level_id, self.first)
        self.assertFalse(self.run_day("2025-12-21 06:00:00"), "levels never pile up day after day")
        self.assertEqual(self.row().next_action_date.isoformat(), "2026-01-03")  # +14 days

        self.run_day("2026-01-03 06:00:00")
        second = self.events().filtered(lambda e: e.level_id == self.second)
        self.assertEqual(second.state, "done", second.reason or second.error)
        self.assertEqual(second.sms_ids.state, "outgoing", "queued, sent after commit")
        self.assertEqual(second.activity_id.user_id, self.pulse_user)
        self.assertEqual(
            second.activity_id.activity_type_id, self.env.ref("mail.mail_activity_data_call")
        )

        self.run_day("2026-01-27 06:00:00")
        final = self.events().filtered(lambda e: e.level_id == self.final)
        self.assertEqual(final.state, "done", final.reason or final.error)
        self.assertTrue(final.letter_attachment_id.raw)
        self.assertEqual(final.activity_id.user_id, self.pulse_accountant)
        self.assertEqual(self.row().state, "waiting")

        with freeze_time("2026-01-28"):
            self.pay(inv, "2026-01-28")
        self.run_day("2026-01-28 06:00:00")
        row = self.row()
        self.assertEqual(row.state, "done")
        self.assertEqual(row.cycle, 2)
        self.assertFalse(row.level_id)
        with freeze_time("2026-02-01"):
            self.make_move(self.debtor, "2026-02-01", 90)
        self.run_day("2026-02-10 06:00:00")
        new = self.events().filtered(lambda e: e.cycle == 2)
        self.assertEqual(new.level_id, self.first, "a new episode starts at the first level")

    def test_courtesy_reminder_before_due_date(self):
        with freeze_time("2026-03-01"):
            inv = self.make_move(self.debtor, "2026-03-01", 120, due="2026-03-20")
        self.assertFalse(self.run_day("2026-03-10 06:00:00"))
        self.run_day("2026-03-17 06:00:00")
        event = self.events()
        self.assertEqual(event.level_id, self.courtesy)
        self.assertEqual(event.invoice_ids, inv)
        self.assertEqual(event.state, "done")

    def test_manual_level_waits_for_send_now(self):
        self.first.auto = False
        with freeze_time("2026-01-20"):
            self.make_move(self.debtor, "2026-01-10", 100)
        events = self.run_day("2026-02-01 06:00:00")
        self.assertEqual(events.state, "waiting")
        self.assertFalse(events.mail_id)
        self.assertEqual(self.row().state, "needs_action")
        with freeze_time("2026-02-01 09:00:00"):
            self.row().with_user(self.pulse_accountant).action_send_now()
        self.assertEqual(events.state, "done")
        self.assertEqual(events.user_id, self.pulse_accountant)
        self.assertTrue(events.mail_id)

    # ------------------------------------------------------------ who gets the email
    def test_blacklisted_email_still_gets_the_reminder_bounced_does_not(self):
        bounced = self.env["res.partner"].create(
            {"name": "Bouncy Ltd", "is_company": True, "email": "gone@bouncy.example"}
        )
        bounced.message_bounce = 3
        self.env["mail.blacklist"].sudo()._add(self.debtor.email)
        self.assertTrue(self.debtor.is_blacklisted)
        with freeze_time("2026-01-20"):
            self.make_move(self.debtor, "2026-01-10", 100)
            self.make_move(bounced, "2026-01-10", 100)
        self.run_day("2026-02-01 06:00:00")
        ok = self.events()
        ko = self.events(bounced)
        self.assertEqual(ok.state, "done")
        self.assertEqual(ko.state, "failed")
        self.assertIn("bounced", ko.reason)
        self.assertIn("gone@bouncy.example", ko.reason)
        self.assertFalse(ko.mail_id)
        mails = self.send_queue()
        self.assertEqual(len(mails), 1)
        self.assertIn("ap@slowpayer.example", mails[0]["email_to"][0])
        self.assertEqual(ok.mail_id.state, "sent", "a reminder is not marketing: it goes out")
        self.assertEqual(self.row(bounced).state, "needs_action")
        # the next days' runs do not jump to the next level over the failed reminder
        for day in ("2026-02-02 06:00:00", "2026-02-20 06:00:00"):
            self.run_day(day)
            self.assertEqual(self.events(bounced), ko, f"nothing new planned on {day}")
            self.assertEqual(self.row(bounced).state, "needs_action")
        # the address corrected: Send now sends it
        bounced.email = "ap@bouncy.example"
        self.assertEqual(bounced.message_bounce, 0)
        with freeze_time("2026-02-20 09:00:00"):
            self.row(bounced).with_user(self.pulse_accountant).action_send_now()
        self.assertEqual(ko.state, "done")

    # ------------------------------------------------------------ two workers
    def test_two_workers_never_send_twice(self):
        customers = self.debtor | self.env["res.partner"].create(
            [{"name": f"Late {i}", "email": f"late{i}@pulse.example"} for i in range(2)]
        )
        with freeze_time("2026-01-20"):
            for customer in customers:
                self.make_move(customer, "2026-01-10", 100)
        with freeze_time("2026-02-01 06:00:00"):
            events = self.Followup._run()
            self.assertEqual(len(events), 3)
            first = self.Event._claim(1)
            second = self.Event._claim(10)
            self.assertEqual(len(first), 1)
            self.assertEqual(len(second), 2)
            self.assertFalse(first & second, "a claimed reminder is not claimed again")
            self.assertFalse(self.Event._claim(10))
            # a worker killed mid-batch: its claim rolls back with everything it did
            with self.assertRaises(RuntimeError), self.env.cr.savepoint():
                self.Event._claim(10)
                raise RuntimeError("killed")
            # a second run, or a second worker's run, creates nothing
            self.assertFalse(self.Followup._run())
            with (
                self.assertRaises(IntegrityError),
                mute_logger("odoo.sql_db"),
                self.env.cr.savepoint(),
            ):
                self.Event.create(
                    {
                        "partner_id": first.partner_id.id,
                        "company_id": first.company_id.id,
                        "level_id": first.level_id.id,
                        "cycle": first.cycle,
                    }
                )
            for event in first | second:
                event._guarded()
        self.assertEqual(set(events.mapped("state")), {"done"})
        self.assertEqual(len(events.mail_id), 3)
        with freeze_time("2026-02-01 07:00:00"):
            self.assertEqual(self.Event._process_due(), 0)

    # ------------------------------------------------------------ marketing hold
    def test_marketing_hold_set_and_released(self):
        self.env["ir.config_parameter"].set_param("customer_pulse.cap_touches", 0)
        self.company_a.pulse_hold_level_id = self.first
        Run = self.env["pulse.step.run"]
        rule = self.env["pulse.rule"].create(
            {
                "name": "Win back",
                "trigger": "no_purchase",
                "trigger_days": 365,
                "marketing_hold": False,
                "step_ids": [
                    Command.create(
                        {
                            "name": "Win-back email",
                            "action": "email",
                            "mail_template_id": self.env.ref(
                                "customer_pulse.mail_template_winback"
                            ).id,
                        }
                    )
                ],
            }
        )
        mailing_list = self.env["mailing.list"].create({"name": "Best customers"})
        segment = self.env["pulse.segment"].create(
            {
                "name": "Best customers",
                "kind": "static",
                "mailing_list_id": mailing_list.id,
                "static_partner_ids": [Command.set(self.debtor.ids)],
            }
        )
        with freeze_time("2026-01-10 06:00:00"):
            order = self.make_order(self.debtor, "2024-06-01")
            invoice = self.make_invoice(order, "2024-06-01")
            self.Facts._refresh_all()
            self.Followup._run()
            self.Event._process_due()
        row = self.row()
        self.assertEqual(row.level_id, self.first)
        self.assertTrue(row.hold)
        self.assertTrue(self.debtor.pulse_followup_hold)
        with freeze_time("2026-01-10 09:00:00"):
            segment._refresh_safely()
            self.assertFalse(mailing_list.subscription_ids, "held: not on the list")
            rule.action_start()
            self.env["pulse.rule.engine"]._cron_run_engine()
        step_run = Run.search([("rule_id", "=", rule.id)])
        self.assertEqual(step_run.state, "skipped")
        self.assertEqual(step_run.reason, "follow-up level First reminder")

        # they pay: the first refresh releases them
        with freeze_time("2026-01-11 09:00:00"):
            self.pay(invoice, "2026-01-11")
            self.Facts._refresh_queue()
        row.invalidate_recordset()
        self.assertFalse(row.hold)
        self.assertEqual(row.state, "done")
        with freeze_time("2026-01-11 10:00:00"):
            segment._refresh_safely()
        self.assertEqual(mailing_list.subscription_ids.contact_id.email, self.debtor.email)

    # ------------------------------------------------------------ access
    def test_access_per_group(self):
        other = self.env["res.partner"].create(
            {"name": "Someone Else's", "email": "x@else.example", "user_id": self.pulse_marketer.id}
        )
        with freeze_time("2026-01-20"):
            self.make_move(self.debtor, "2026-01-10", 100)
            self.make_move(other, "2026-01-10", 100)
            self.make_move(self.debtor, "2026-01-10", 100, company=self.company_b)
        self.run_day("2026-02-01 06:00:00")
        row, row_b, row_other = self.row(), self.row(company=self.company_b), self.row(other)
        self.assertTrue(row and row_b and row_other)
        for user in (self.pulse_accountant, self.pulse_manager):
            with self.subTest(user=user.login):
                rows = self.Followup.with_user(user).search([])
                self.assertIn(row, rows)
                self.assertNotIn(row_b, rows, "company B is not theirs")
                self.assertEqual(row.with_user(user).amount_overdue, 100)
                row.with_user(user).responsible_id = user
                self.Event.with_user(user).search([("followup_id", "=", row.id)]).mapped("amount")
        # the salesperson sees the status of their own customers, no amounts, acts on nothing
        seller = self.Followup.with_user(self.pulse_user)
        self.assertEqual(seller.search([]), row)
        self.assertEqual(row.with_user(self.pulse_user).level_id, self.first)
        self.assertEqual(self.debtor.with_user(self.pulse_user).pulse_followup_id, row)
        with self.assertRaises(AccessError):
            row.with_user(self.pulse_user).read(["amount_overdue"])
        with self.assertRaises(AccessError):
            row.with_user(self.pulse_user).note = "no"
        with self.assertRaises(AccessError):
            row.with_user(self.pulse_user).action_send_now()
        with self.assertRaises(AccessError), freeze_time("2026-02-01"):
            self.Promise.with_user(self.pulse_user).create(
                {"followup_id": row.id, "date": "2026-02-10", "amount": 10}
            )
        with self.assertRaises(AccessError):
            self.Followup.with_user(self.pulse_user).search([("amount_overdue", ">", 0)])
        # the marketer sees no amounts, not even through a search
        marketer = self.Followup.with_user(self.pulse_marketer)
        self.assertEqual(marketer.search([]), row_other)
        with self.assertRaises(AccessError):
            row_other.with_user(self.pulse_marketer).read(["amount_overdue"])
        with self.assertRaises(AccessError):
            marketer.search([("amount_overdue", ">", 0)])
        with self.assertRaises(AccessError):
            self.Event.with_user(self.pulse_marketer).search([]).read(["amount"])
        # portal: nothing
        for model in ("pulse.followup", "pulse.followup.event", "pulse.followup.promise"):
            with self.assertRaises(AccessError):
                self.env[model].with_user(self.portal_user).search([])
        # levels: configured by managers
        with self.assertRaises(AccessError):
            self.env["pulse.followup.level"].with_user(self.pulse_accountant).create(
                {"name": "Lawyer", "delay": 90}
            )
        self.env["pulse.followup.level"].with_user(self.pulse_manager).create(
            {"name": "Lawyer", "delay": 90}
        )
        # disputes: accountants
        invoice = row.invoice_ids[:1]
        with self.assertRaises(UserError):
            invoice.with_user(self.pulse_user)._pulse_dispute("I say so")

    # ------------------------------------------------------------ bad input
    def test_bad_input_is_refused_clearly(self):
        with freeze_time("2026-01-20"):
            inv = self.make_move(self.debtor, "2026-01-10", 100)
        self.run_day("2026-02-01 06:00:00")
        row = self.row().with_user(self.pulse_accountant)
        with freeze_time("2026-02-01"):
            with self.assertRaisesRegex(ValidationError, "positive amount"):
                self.Promise.with_user(self.pulse_accountant).create(
                    {"followup_id": row.id, "date": "2026-02-10", "amount": -50}
                )
            with self.assertRaisesRegex(ValidationError, "in the past"):
                self.Promise.with_user(self.pulse_accountant).create(
                    {"followup_id": row.id, "date": "2026-01-15", "amount": 50}
                )
            with self.assertRaisesRegex(ValidationError, "cannot be for more"):
                self.Promise.with_user(self.pulse_accountant).create(
                    {"followup_id": row.id, "date": "2026-02-10", "amount": 5000}
                )
            with self.assertRaisesRegex(UserError, "past"):
                inv.with_user(self.pulse_accountant)._pulse_dispute("Wrong", "2026-01-01")
        with self.assertRaisesRegex(ValidationError, "its own delay"):
            self.env["pulse.followup.level"].create({"name": "Twin", "delay": 7})
        with self.assertRaisesRegex(ValidationError, "its own delay"):
            self.second.delay = 7
        with self.assertRaisesRegex(ValidationError, "choose its template"):
            self.env["pulse.followup.level"].create(
                {"name": "Mute", "delay": 60, "send_email": True}
            )
        self.assertEqual(self.first.sequence, 2)
        with self.assertRaises(UserError):
            self.first.unlink()
