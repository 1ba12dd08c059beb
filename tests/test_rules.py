import hashlib
import hmac
import json
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from unittest.mock import patch

from freezegun import freeze_time
from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..models import pulse_step_run
from ..tools.params import setting
from .common import PulseFactsCase

# webhooks to a receiver on this machine: a rule in test mode (http:// to 127.0.0.1)
LOCAL_TEST = {"test_mode": True, "test_email": "marketer@pulse.example"}


class _Hook(BaseHTTPRequestHandler):
    """A webhook receiver on 127.0.0.1: records calls, answers the queued status codes
    (after `delay` seconds)."""

    calls = []
    statuses = []
    delay = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append((dict(self.headers), body))
        threading.Event().wait(type(self).delay)
        status = type(self).statuses.pop(0) if type(self).statuses else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@tagged("post_install", "-at_install")
class TestRules(PulseFactsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Rule = cls.env["pulse.rule"]
        cls.Run = cls.env["pulse.step.run"]
        cls.Engine = cls.env["pulse.rule.engine"]
        cls.seller = cls.pulse_marketer
        cls.template = cls.env.ref("customer_pulse.mail_template_winback")
        cls.call = cls.env.ref("mail.mail_activity_data_call")
        cls.lapsed = cls.env["res.partner"].create(
            {"name": "Lapsed Ltd", "email": "lapsed@pulse.example", "user_id": cls.seller.id}
        )
        cls.active_buyer = cls.env["res.partner"].create(
            {"name": "Busy Bee", "email": "bee@pulse.example"}
        )
        cls.env["ir.config_parameter"].set_param("customer_pulse.cap_touches", 0)

    def engine(self):
        return self.Engine._cron_run_engine()

    def partner_template(self, name, body, subject="Hello"):
        return self.env["mail.template"].create(
            {
                "name": name,
                "model_id": self.env["ir.model"]._get_id("res.partner"),
                "subject": subject,
                "body_html": body,
                "partner_to": "{{ object.id }}",
            }
        )

    def start_receiver(self, statuses=(), delay=0):
        """A real HTTP receiver on 127.0.0.1 for webhooks and the SMS gateway (an
        administrator allows webhooks to 127.0.0.1; rules call it in test mode, the only
        mode in which a webhook may use http:// to this machine)."""
        self.env["ir.config_parameter"].set_param(
            "customer_pulse.webhook_allowed_hosts", "127.0.0.1"
        )
        server = HTTPServer(("127.0.0.1", 0), _Hook)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        _Hook.calls, _Hook.statuses, _Hook.delay = [], list(statuses), delay
        self.addCleanup(setattr, _Hook, "delay", 0)
        return server

    def lapse_and_run(self, rules, *partners, day="2026-01-10 09:00:00"):
        """The partners' last order is from 2024; on `day`, the rules start and the
        engine runs."""
        with freeze_time(day):
            for partner in partners or (self.lapsed,):
                self.make_order(partner, "2024-06-01")
            self.Facts._refresh_all()
            rules.action_start()
            self.engine()

    def runs(self, rule):
        return self.Run.search([("rule_id", "=", rule.id)], order="id")

    # -------------------------------------------------------------- the classic
    def test_winback_chain_email_then_call_then_converted(self):
        with freeze_time("2026-01-10 09:00:00"):
            self.make_order(self.lapsed, "2024-06-01")
            self.make_order(self.active_buyer, "2025-12-20")
            self.Facts._refresh_all()
            rule = self.make_rule(
                steps=[
                    {"name": "Email", "action": "email", "mail_template_id": self.template.id},
                ]
            )
            email_step = rule.step_ids
            self.env["pulse.rule.step"].create(
                {
                    "rule_id": rule.id,
                    "name": "Call",
                    "parent_id": email_step.id,
                    "delay": 7,
                    "action": "activity",
                    "activity_type_id": self.call.id,
                    "activity_assign": "salesperson",
                }
            )
            rule.action_start()
            self.engine()
            enrolment = rule.enrolment_ids
            self.assertEqual(enrolment.partner_id, self.lapsed, "only the lapsed customer")
            run = self.runs(rule)[0]
            self.assertEqual(run.step_id, email_step)
            self.assertEqual(run.state, "done")
            self.assertEqual(run.mail_id.state, "outgoing", "queued, not sent in the run")
            self.assertIn(self.lapsed, run.mail_id.recipient_ids)
            self.assertEqual(enrolment.first_touch_date.date(), date(2026, 1, 10))
            # tracked like a mass mailing: opens, clicks, bounces, replies
            trace = self.env["mailing.trace"].search([("mail_mail_id", "=", run.mail_id.id)])
            self.assertEqual(trace.mass_mailing_id, email_step.mailing_id)
            self.assertEqual(run.mail_id.mailing_id, email_step.mailing_id)
            self.assertEqual(trace.res_id, self.lapsed.id)
            trace.set_opened()
            email_step.invalidate_recordset()
            self.assertEqual(email_step.mail_opened_count, 1)
            call_run = self.runs(rule) - run
            self.assertEqual(call_run.state, "scheduled")
            self.engine()  # nothing due yet: nothing happens twice
            self.assertEqual(len(self.runs(rule)), 2)
            self.assertEqual(self.env["mail.mail"].search_count([("id", "=", run.mail_id.id)]), 1)
        with freeze_time("2026-01-17 10:00:00"):
            self.engine()
            self.assertEqual(call_run.state, "done")
            activity = self.env["mail.activity"].browse(call_run.res_id)
            self.assertEqual(activity.user_id, self.seller, "the customer's salesperson")
            self.assertEqual(activity.res_id, self.lapsed.id)
            self.assertEqual(enrolment.state, "completed")
        with freeze_time("2026-01-20 10:00:00"):
            order = self.make_order(self.lapsed, "2026-01-20")
            self.make_invoice(order, "2026-01-20")
            self.engine()
            enrolment.invalidate_recordset()
            self.assertEqual(enrolment.attributed_revenue, 100.0, "invoiced within 30 days")
            self.assertEqual(rule.revenue, 100.0)

    def test_exit_on_purchase_cancels_the_rest(self):
        with freeze_time("2026-01-10 09:00:00"):
            self.make_order(self.lapsed, "2024-06-01")
            self.Facts._refresh_all()
            rule = self.make_rule(
                steps=[
                    {
                        "name": "Later call",
                        "action": "activity",
                        "delay": 7,
                        "activity_type_id": self.call.id,
                    }
                ]
            )
            rule.action_start()
            self.engine()
            self.assertEqual(self.runs(rule).state, "scheduled")
        with freeze_time("2026-01-12 09:00:00"):
            self.make_order(self.lapsed, "2026-01-12")
            self.engine()
            self.assertEqual(rule.enrolment_ids.state, "converted")
            self.assertEqual(self.runs(rule).state, "cancelled")
            self.assertEqual(self.runs(rule).reason, "bought since entering")

    def test_conversion_between_two_calls_of_the_day(self):
        """After the day's first call, which looks after every enrolment, a call looks only
        at the customers whose orders or invoices are recent: an order confirmed between
        two calls ends the enrolment at the next call; an order back-dated beyond that is
        caught by the next day's first call (or the enrolment's next step)."""
        later_call = [
            {
                "name": "Later call",
                "action": "activity",
                "delay": 7,
                "activity_type_id": self.call.id,
            }
        ]
        rule = self.make_rule(steps=later_call)
        other = self.env["res.partner"].create({"name": "Back-dated", "email": "b@pulse.example"})
        with freeze_time("2026-01-10 09:00:00"):
            for partner in (self.lapsed, other):
                self.make_order(partner, "2024-06-01")
            self.Facts._refresh_all()
            rule.action_start()
            self.engine()
            self.assertEqual(setting(self.env, "rule_upkeep_date"), "2026-01-10")
            bought, back_dated = (
                rule.enrolment_ids.filtered(lambda e, p=p: e.partner_id == p)
                for p in (self.lapsed, other)
            )
            self.engine()
            self.assertEqual(set(rule.enrolment_ids.mapped("state")), {"running"})
        with freeze_time("2026-01-10 15:00:00"):
            self.make_order(self.lapsed, None)  # confirmed now
            self.make_order(other, None).date_order = "2026-01-10 11:00:00"
            self.engine()
            self.assertEqual(bought.state, "converted")
            self.assertEqual(bought.run_ids.state, "cancelled")
            self.assertEqual(back_dated.state, "running", "dated before the call's look-back")
        with freeze_time("2026-01-11 08:00:00"):
            self.engine()
            self.assertEqual(back_dated.state, "converted")
            self.assertEqual(back_dated.exit_reason, "bought since entering")

    def test_touch_of_a_later_call_earns_the_invoice_of_its_day(self):
        """The revenue a touch earns is invoiced from its day on: a touch made by a call
        after the day's first one earns the invoice posted earlier that day in that very
        call (its upkeep looks at the customers invoiced today), not at the next day's."""
        rule = self.make_rule(exit_on_purchase=False)  # one win-back email
        with freeze_time("2026-01-10 08:00:00"):
            self.make_order(self.lapsed, "2024-06-01")
            self.Facts._refresh_all()
            self.engine()  # the day's first call, nothing running yet
            self.assertEqual(setting(self.env, "rule_upkeep_date"), "2026-01-10")
        with freeze_time("2026-01-10 09:00:00"):
            invoice = self.make_invoice(self.make_order(self.lapsed, "2026-01-09"), "2026-01-10")
            rule.action_start()
            self.engine()
            enrolment = rule.enrolment_ids
            self.assertEqual(self.runs(rule).state, "done")
            self.assertEqual(enrolment.state, "completed")
            self.assertEqual(enrolment.attributed_revenue, invoice.amount_untaxed)
            self.assertEqual(enrolment.converting_step_id, rule.step_ids)

    def test_order_in_the_second_of_entering_converts(self):
        """An order confirmed in the very second the customer entered counts as bought
        since entering; the order that made them enter (trigger 'Order confirmed') does
        not."""
        later_call = [
            {
                "name": "Later call",
                "action": "activity",
                "delay": 7,
                "activity_type_id": self.call.id,
            }
        ]
        rule = self.make_rule(steps=later_call)
        on_order = self.make_rule(name="On order", trigger="order_confirmed", steps=later_call)
        with freeze_time("2026-01-10 09:00:00"):
            self.make_order(self.lapsed, "2024-06-01")
            self.Facts._refresh_all()
            (rule | on_order).action_start()
            self.engine()
            enrolment = rule.enrolment_ids
            self.assertEqual(enrolment.state, "running")
            order = self.make_order(self.lapsed, "2026-01-10")
            order.date_order = enrolment.date_enrolled  # the same second
            self.engine()
        self.assertEqual(enrolment.state, "converted")
        self.assertEqual(self.runs(rule).state, "cancelled")
        self.assertEqual(self.runs(rule).reason, "bought since entering")
        entered = on_order.enrolment_ids
        self.assertEqual(entered.trigger_key, f"order,{order.id}")
        self.assertEqual(entered.date_enrolled, order.date_order)
        self.assertEqual(entered.state, "running", "the order it entered by is not one")

    # ------------------------------------------------------------- re-entry
    def test_reentry_cycles_and_once(self):
        cooldown = self.make_rule(reentry="cooldown", cooldown_days=30, name="Again")
        once = self.make_rule(reentry="once", name="Once")
        self.lapse_and_run(cooldown | once)
        with freeze_time("2026-01-10 10:00:00"):
            self.engine()
        self.assertEqual(len(cooldown.enrolment_ids), 1, "never twice for one lapse")
        with freeze_time("2026-02-01 09:00:00"):
            self.make_order(self.lapsed, "2026-02-01")  # won back
            self.Facts._refresh_queue()
            self.engine()
        with freeze_time("2027-03-01 09:00:00"):
            self.Facts._refresh_all()  # lapsed again: a new episode
            self.engine()
            cycles = cooldown.enrolment_ids.sorted("cycle")
            self.assertEqual(cycles.mapped("cycle"), [1, 2])
            self.assertEqual(cycles[0].state, "completed")
            self.assertEqual(len(once.enrolment_ids), 1, "once means once")

    def test_cooldown_blocks_a_quick_return(self):
        rule = self.make_rule(reentry="cooldown", cooldown_days=500)
        self.lapse_and_run(rule)
        with freeze_time("2026-02-01 09:00:00"):
            self.make_order(self.lapsed, "2026-02-01")
            self.Facts._refresh_queue()
        with freeze_time("2027-03-01 09:00:00"):
            self.Facts._refresh_all()
            self.engine()
            self.assertEqual(len(rule.enrolment_ids), 1, "within the cooldown")

    # ------------------------------------------------------------- triggers
    def test_triggers(self):
        survey = self.env.ref("customer_pulse.survey_first_order")
        date_field = self.env["ir.model.fields"].create(
            {
                "name": "x_pulse_anniversary",
                "model_id": self.env["ir.model"]._get_id("res.partner"),
                "ttype": "date",
                "field_description": "Customer since",
            }
        )
        with freeze_time("2026-05-10 09:00:00"):
            segment = self.env["pulse.segment"].create(
                {"name": "Just these", "kind": "static", "static_partner_ids": self.lapsed.ids}
            )
            step = [
                {
                    "name": "Note",
                    "action": "note",
                    "note_body": "<p>Hello</p>",
                }
            ]
            rules = {
                trigger: self.make_rule(
                    name=trigger, trigger=trigger, steps=step, exit_on_purchase=False, **extra
                )
                for trigger, extra in {
                    "segment_enter": {"trigger_segment_id": segment.id},
                    "rhythm_overdue": {"trigger_factor": 1.5},
                    "order_confirmed": {},
                    "invoice_posted": {},
                    "invoice_overdue": {"trigger_days": 10},
                    "invoice_paid": {},
                    "survey_done": {"trigger_survey_id": survey.id},
                    "partner_date": {"trigger_date_field_id": date_field.id},
                }.items()
            }
            for rule in rules.values():
                rule.action_start()
        with freeze_time("2026-06-15 09:00:00"):
            # rhythm: every 10 days until 40 days ago
            for d in ("2026-04-16", "2026-04-26", "2026-05-06"):
                self.make_order(self.active_buyer, d)
            order = self.make_order(self.lapsed, "2026-06-15")
            invoice = self.make_invoice(order, "2026-06-01")  # due at once: 14 days overdue
            paid_order = self.make_order(self.customer, "2026-06-15")
            paid = self.make_invoice(paid_order, "2026-06-15")
            self.pay(paid, "2026-06-15")
            segment._refresh_members()
            answer = self.env["survey.user_input"].create(
                {"survey_id": survey.id, "partner_id": self.customer.id}
            )
            cron = self.env.ref("customer_pulse.ir_cron_pulse_rule_engine")
            Trigger = self.env["ir.cron.trigger"].sudo()
            before = Trigger.search_count([("cron_id", "=", cron.id)])
            answer._mark_done()  # a survey completed wakes the engine
            self.assertGreater(Trigger.search_count([("cron_id", "=", cron.id)]), before)
            self.customer.write({"x_pulse_anniversary": "2020-06-12"})  # three days ago
            self.Facts._refresh_all()
            self.engine()
            who = {t: r.enrolment_ids.partner_id for t, r in rules.items()}
            self.assertEqual(who["segment_enter"], self.lapsed)
            self.assertEqual(who["rhythm_overdue"], self.active_buyer)
            # orders dated before the rule started do not trigger it
            self.assertEqual(who["order_confirmed"], self.lapsed | self.customer)
            self.assertEqual(who["invoice_posted"], self.lapsed | self.customer)
            self.assertEqual(who["invoice_overdue"], self.lapsed)
            self.assertTrue(
                rules["invoice_overdue"].enrolment_ids.trigger_key.endswith(str(invoice.id))
            )
            self.assertEqual(who["invoice_paid"], self.customer)
            self.assertEqual(who["survey_done"], self.customer)
            self.assertEqual(who["partner_date"], self.customer)
            notes = self.runs(rules["segment_enter"])
            self.assertEqual(notes.state, "done")
            self.assertEqual(notes.res_model, "mail.message")
            # the same day again: nobody twice
            self.engine()
            self.assertEqual(
                sum(len(r.enrolment_ids) for r in rules.values()),
                1 + 1 + 2 + 2 + 1 + 1 + 1 + 1,
            )

    # ----------------------------------------------------- exclusions and cap
    def test_exclusions_checked_when_due(self):
        rule = self.make_rule(
            steps=[
                {
                    "name": "Email later",
                    "action": "email",
                    "delay": 2,
                    "mail_template_id": self.template.id,
                }
            ]
        )
        nomail = self.env["res.partner"].create({"name": "No Mail"})
        debtor = self.env["res.partner"].create({"name": "Debtor", "email": "debt@pulse.example"})
        with freeze_time("2026-01-10 09:00:00"):
            for partner in (self.lapsed, nomail, debtor):
                order = self.make_order(partner, "2024-06-01")
            self.make_invoice(order, "2024-06-01")  # the debtor's, long overdue
            self.Facts._refresh_all()
            rule.action_start()
            self.engine()
            self.assertEqual(len(rule.enrolment_ids), 3)
            self.env["mail.blacklist"]._add(self.lapsed.email)  # after enrolling
        with freeze_time("2026-01-13 09:00:00"):
            self.engine()
        reasons = {r.partner_id: (r.state, r.reason) for r in self.runs(rule)}
        self.assertEqual(reasons[self.lapsed], ("skipped", "email blacklisted"))
        self.assertEqual(reasons[nomail], ("skipped", "no valid email"))
        self.assertEqual(reasons[debtor], ("skipped", "owes money (marketing hold)"))

    def test_frequency_cap_across_rules(self):
        self.env["ir.config_parameter"].set_param("customer_pulse.cap_touches", 1)
        self.env["ir.config_parameter"].set_param("customer_pulse.cap_days", 7)
        first = self.make_rule(name="First")
        second = self.make_rule(name="Second")
        self.lapse_and_run(first | second)
        states = sorted((self.runs(first) | self.runs(second)).mapped("state"))
        self.assertEqual(states, ["done", "skipped"])
        skipped = (self.runs(first) | self.runs(second)).filtered(lambda r: r.state == "skipped")
        self.assertIn("frequency cap", skipped.reason)

    def test_test_mode_sends_to_the_test_address_only(self):
        rule = self.make_rule(test_mode=True, test_email="marketer@pulse.example")
        self.lapse_and_run(rule)
        mail = self.runs(rule).mail_id
        self.assertEqual(mail.email_to, "marketer@pulse.example")
        self.assertFalse(mail.recipient_ids)

    # --------------------------------------------------------------- engine
    def test_claims_are_exclusive_and_runs_unique(self):
        rule = self.make_rule()
        with freeze_time("2026-01-10 09:00:00"):
            self.make_order(self.lapsed, "2024-06-01")
            self.make_order(self.active_buyer, "2024-07-01")
            self.Facts._refresh_all()
            rule.action_start()
            self.Engine._enrol_all()
            first = self.Run._claim(1)
            second = self.Run._claim(10)
            self.assertEqual(len(first), 1)
            self.assertEqual(len(second), 1)
            self.assertFalse(first & second, "a claimed run is not claimed again")
            self.assertFalse(self.Run._claim(10))
            with (
                self.assertRaises(IntegrityError),
                mute_logger("odoo.sql_db"),
                self.env.cr.savepoint(),
            ):
                self.Run.create(
                    {
                        "enrolment_id": first.enrolment_id.id,
                        "step_id": first.step_id.id,
                        "scheduled_at": "2026-01-10 09:00:00",
                    }
                )

    def test_a_bad_record_fails_only_its_run(self):
        broken = self.partner_template("Broken", '<p t-out="object.no_such_field.name"/>')
        bad = self.make_rule(
            name="Bad", steps=[{"name": "Bad", "action": "email", "mail_template_id": broken.id}]
        )
        good = self.make_rule(
            name="Good", steps=[{"name": "Tag", "action": "tag_add", "tag_ids": []}]
        )
        good.step_ids.tag_ids = self.env["res.partner.category"].create({"name": "Won back?"})
        self.lapse_and_run(bad | good)
        self.assertEqual(self.runs(bad).state, "failed")
        self.assertIn("no_such_field", self.runs(bad).error)
        self.assertEqual(self.runs(good).state, "done")
        self.assertIn(good.step_ids.tag_ids, self.lapsed.category_id)

    def test_batch_of_emails_and_fallback_run_by_run(self):
        """Emails of one step go out in one rendering; when one customer breaks it, each
        customer is rendered alone and only that one's run fails, the others' emails still
        go out together."""
        mister = self.env["res.partner.title"].create({"name": "Mister"})
        picky = self.partner_template("Needs a title", '<p t-out="object.title.name.upper()"/>')
        customers = self.env["res.partner"].create(
            [
                {"name": f"Batch {i}", "email": f"batch{i}@pulse.example", "title": mister.id}
                for i in range(3)
            ]
        )
        untitled = self.env["res.partner"].create({"name": "Untitled", "email": "u@pulse.example"})
        fine = self.make_rule(name="Fine")
        picky_rule = self.make_rule(
            name="Picky",
            steps=[{"name": "Picky", "action": "email", "mail_template_id": picky.id}],
        )
        with freeze_time("2026-01-10 09:00:00"):
            for partner in customers | untitled:
                self.make_order(partner, "2024-06-01")
            self.Facts._refresh_all()
            (fine | picky_rule).action_start()
            # no run acts alone: a run that did would fail here
            alone = AssertionError("a run acted alone")
            with patch.object(self.registry["pulse.step.run"], "_act", side_effect=alone):
                self.engine()
        fine_runs = self.runs(fine)
        self.assertEqual(set(fine_runs.mapped("state")), {"done"})
        self.assertEqual(len(fine_runs.mail_id), 4)
        self.assertEqual(fine_runs.mail_id.mapped("res_id"), fine_runs.partner_id.ids)
        states = {r.partner_id: r.state for r in self.runs(picky_rule)}
        self.assertEqual(states.pop(untitled), "failed")
        self.assertEqual(set(states.values()), {"done"})
        self.assertIn("upper", self.runs(picky_rule).filtered(lambda r: r.state == "failed").error)

    def test_broken_configuration_refused_on_activation(self):
        rule = self.Rule.create({"name": "Empty", "trigger": "segment_enter"})
        with self.assertRaisesRegex(UserError, "choose the segment.*add at least one step"):
            rule.action_start()
        self.assertEqual(rule.state, "draft")
        with self.assertRaises(ValidationError):
            self.make_rule(domain="[('no_such_field', '=', 1)]")
        step_rule = self.make_rule(steps=[{"name": "Hook", "action": "webhook"}])
        with self.assertRaisesRegex(UserError, "enter the URL"):
            step_rule.action_start()
        step_rule.step_ids.webhook_url = "ftp://example.com"
        with self.assertRaisesRegex(UserError, "http"):
            step_rule.action_start()

    def test_segment_used_by_a_rule_cannot_be_deleted(self):
        segment = self.env["pulse.segment"].create({"name": "Used", "domain": "[]"})
        self.make_rule(trigger="segment_enter", trigger_segment_id=segment.id)
        with self.assertRaisesRegex(UserError, "archive the segment"):
            segment.unlink()

    def test_preview(self):
        with freeze_time("2026-01-10 09:00:00"):
            self.make_order(self.lapsed, "2024-06-01")
            self.Facts._refresh_all()
            rule = self.make_rule()
            action = rule.action_preview()
            preview = self.env["pulse.rule.preview"].browse(action["res_id"])
            self.assertEqual(preview.candidate_count, 1)
            self.assertEqual(preview.partner_ids, self.lapsed)
            self.assertIn("Lapsed Ltd", preview.sample_html)
            self.assertFalse(rule.enrolment_ids, "a preview enrols nobody")

    # -------------------------------------------------------------- webhook
    def test_webhook_signed_retried_then_failed(self):
        server = self.start_receiver(statuses=[503, 200])
        url = f"http://127.0.0.1:{server.server_port}/hook"
        rule = self.make_rule(
            steps=[{"name": "Hook", "action": "webhook", "webhook_url": url}], **LOCAL_TEST
        )
        rule.step_ids.webhook_secret = "s3cret"
        self.lapse_and_run(rule)
        run = self.runs(rule)
        self.assertEqual(run.state, "scheduled", "503: retried later")
        self.assertIn("503", run.error)
        with freeze_time("2026-01-10 09:05:00"):
            self.engine()
        self.assertEqual(run.state, "done")
        self.assertEqual(run.response_code, 200)
        self.assertEqual(len(_Hook.calls), 2)
        keys = {headers["Idempotency-Key"] for headers, _body in _Hook.calls}
        self.assertEqual(len(keys), 1, "the same key on every attempt")
        headers, body = _Hook.calls[-1]
        expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        self.assertEqual(headers["X-Pulse-Signature"], f"sha256={expected}")
        self.assertEqual(json.loads(body)["customer"]["email"], "lapsed@pulse.example")
        # unreachable: bounded retries, then failed with the reason
        server.shutdown()
        server.server_close()
        rule2 = self.make_rule(
            name="Down",
            steps=[{"name": "Hook", "action": "webhook", "webhook_url": url}],
            **LOCAL_TEST,
        )
        with freeze_time("2026-01-11 09:00:00"):
            rule2.action_start()
            for minutes in (0, 5, 10, 20):
                with freeze_time(f"2026-01-11 09:{minutes:02d}:00"):
                    self.engine()
        run2 = self.runs(rule2)
        self.assertEqual(run2.state, "failed")
        self.assertEqual(run2.attempts, 3)
        self.assertIn("unreachable", run2.error)

    def test_sms_through_the_http_gateway(self):
        server = self.start_receiver()
        params = self.env["ir.config_parameter"]
        params.set_param("customer_pulse.sms_gateway", "http")
        params.set_param(
            "customer_pulse.sms_gateway_url", f"http://127.0.0.1:{server.server_port}/sms"
        )
        params.set_param("customer_pulse.sms_gateway_token", "t0ken")
        template = self.env["sms.template"].create(
            {
                "name": "Miss you",
                "model_id": self.env["ir.model"]._get_id("res.partner"),
                "body": "We miss you, {{ object.name }}",
            }
        )
        self.lapsed.write({"mobile": "+32 470 12 34 56", "country_id": self.env.ref("base.be").id})
        wrong = self.env["res.partner"].create({"name": "Wrong number", "mobile": "12"})
        rule = self.make_rule(
            steps=[{"name": "Text", "action": "sms", "sms_template_id": template.id}]
        )
        with freeze_time("2026-01-10 09:00:00"):
            self.make_order(self.lapsed, "2024-06-01")
            self.make_order(wrong, "2024-06-01")
            self.Facts._refresh_all()
            rule.action_start()
            self.engine()
        states = {r.partner_id: (r.state, r.reason) for r in self.runs(rule)}
        self.assertEqual(states[self.lapsed], ("done", False))
        self.assertEqual(states[wrong], ("skipped", "invalid phone number"))
        self.assertEqual(len(_Hook.calls), 1)
        headers, body = _Hook.calls[0]
        self.assertEqual(headers["Authorization"], "Bearer t0ken")
        payload = json.loads(body)
        self.assertEqual(payload["to"], "+32470123456")
        self.assertEqual(payload["body"], "We miss you, Lapsed Ltd")
        self.assertEqual(payload["reference"], headers["Idempotency-Key"])

    def test_slow_webhook_times_out_and_is_retried(self):
        # Odoo's test harness raises any HTTP timeout below 10 s to 10 s: the receiver
        # answers after the engine's own 10 s timeout
        server = self.start_receiver(delay=pulse_step_run.CALL_TIMEOUT + 1)
        url = f"http://127.0.0.1:{server.server_port}/slow"
        rule = self.make_rule(
            steps=[{"name": "Hook", "action": "webhook", "webhook_url": url}], **LOCAL_TEST
        )
        # real time here: a frozen clock would freeze the client's timeout too
        self.make_order(self.lapsed, date.today() - timedelta(days=800))
        self.Facts._refresh_all()
        rule.action_start()
        self.engine()
        run = self.runs(rule)
        self.assertEqual(run.state, "scheduled", "a timeout is retried later")
        self.assertIn("unreachable", run.error)
        self.assertIn("timed out", run.error)
        self.assertGreaterEqual(run.duration_ms, pulse_step_run.CALL_TIMEOUT * 1000)

    def test_links_are_tracked_and_templates_in_use_kept(self):
        linked = self.partner_template(
            "With a link", '<p><a href="https://shop.example.com/offer">Our offer</a></p>'
        )
        rule = self.make_rule(
            steps=[{"name": "Offer", "action": "email", "mail_template_id": linked.id}]
        )
        self.lapse_and_run(rule)
        run = self.runs(rule)
        self.assertNotIn("https://shop.example.com/offer", run.mail_id.body_html)
        tracker = self.env["link.tracker"].search([("url", "=", "https://shop.example.com/offer")])
        self.assertEqual(tracker.mass_mailing_id, rule.step_ids.mailing_id)
        trace = self.env["mailing.trace"].search([("mail_mail_id", "=", run.mail_id.id)])
        trace.set_clicked()
        rule.step_ids.invalidate_recordset()
        self.assertEqual(rule.step_ids.mail_clicked_count, 1)
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), self.env.cr.savepoint():
            linked.unlink()  # used by a step: kept

    def test_personal_data_survey_needs_consent(self):
        """A survey flagged as personal data is sent to consenting customers only."""
        survey = self.env.ref("customer_pulse.survey_first_order")
        survey.pulse_personal_data = True
        consenting = self.env["res.partner"].create(
            {"name": "Consenting Co", "email": "yes@pulse.example", "pulse_profiling_consent": True}
        )
        rule = self.make_rule(
            steps=[{"name": "Survey", "action": "survey", "survey_id": survey.id}]
        )
        self.lapse_and_run(rule, self.lapsed, consenting)
        runs = {r.partner_id: r for r in self.runs(rule)}
        self.assertEqual(runs[self.lapsed].state, "skipped")
        self.assertIn("no consent", runs[self.lapsed].reason)
        self.assertEqual(runs[consenting].state, "done", runs[consenting].error)
        self.assertFalse(
            self.env["survey.user_input"].search(
                [("survey_id", "=", survey.id), ("partner_id", "=", self.lapsed.id)]
            )
        )

    def test_every_other_action(self):
        """Survey invitation, server action, mailing list in and out (opt-out kept), Odoo
        SMS, note, tag removal: each does what it says, once."""
        survey = self.env.ref("customer_pulse.survey_first_order")
        mailing_list = self.env["mailing.list"].create({"name": "Win-back list"})
        tag = self.env["res.partner.category"].create({"name": "Dormant"})
        self.lapsed.write({"category_id": [(4, tag.id)], "mobile": "+32 470 12 34 56"})
        server_action = self.env["ir.actions.server"].create(
            {
                "name": "Flag",
                "model_id": self.env["ir.model"]._get_id("res.partner"),
                "state": "code",
                "code": "record.write({'comment': 'flagged by a rule'})",
            }
        )
        sms_template = self.env["sms.template"].create(
            {
                "name": "Hi",
                "model_id": self.env["ir.model"]._get_id("res.partner"),
                "body": "Hi {{ object.name }}",
            }
        )
        steps = [
            {"name": "Survey", "action": "survey", "survey_id": survey.id},
            {
                "name": "Server action",
                "action": "server_action",
                "server_action_id": server_action.id,
            },
            {"name": "List in", "action": "list_add", "mailing_list_id": mailing_list.id},
            {"name": "Text", "action": "sms", "sms_template_id": sms_template.id},
            {"name": "Note", "action": "note", "note_body": "<p>Rule note</p>"},
            {"name": "Untag", "action": "tag_remove", "tag_ids": [(6, 0, tag.ids)]},
        ]
        rule = self.make_rule(steps=steps)
        self.lapse_and_run(rule)
        runs = {r.step_id.name: r for r in self.runs(rule)}
        self.assertEqual(
            {r.state for r in runs.values()}, {"done"}, [r.error for r in runs.values()]
        )
        invitation = self.env["survey.user_input"].search(
            [("survey_id", "=", survey.id), ("partner_id", "=", self.lapsed.id)]
        )
        self.assertEqual(len(invitation), 1)
        self.assertIn("flagged by a rule", self.lapsed.comment)
        subscription = mailing_list.subscription_ids
        self.assertEqual(subscription.contact_id.email, self.lapsed.email)
        sms = self.env["sms.sms"].search([("partner_id", "=", self.lapsed.id)])
        self.assertEqual(sms.body, "Hi Lapsed Ltd")
        note = self.env["mail.message"].browse(runs["Note"].res_id)
        self.assertIn("Rule note", note.body)
        self.assertEqual(note.res_id, self.lapsed.id)
        self.assertNotIn(tag, self.lapsed.category_id)
        # the customer opts out of the list: a later "add" respects it, "remove" keeps it
        subscription.opt_out = True
        again = self.make_rule(
            name="Again",
            steps=[
                {"name": "List in", "action": "list_add", "mailing_list_id": mailing_list.id},
                {"name": "List out", "action": "list_remove", "mailing_list_id": mailing_list.id},
            ],
        )
        with freeze_time("2026-01-11 09:00:00"):
            again.action_start()
            self.engine()
        states = {r.step_id.name: (r.state, r.reason) for r in self.runs(again)}
        self.assertEqual(states["List in"], ("skipped", "opted out of Win-back list"))
        self.assertEqual(states["List out"], ("done", False))
        self.assertTrue(subscription.exists().opt_out, "the opt-out is kept")

    # --------------------------------------------------------------- access
    def test_salesperson_works_their_own_activities(self):
        seller = self.pulse_user
        self.lapsed.user_id = seller
        rule = self.make_rule(
            steps=[
                {
                    "name": "Call",
                    "action": "activity",
                    "activity_type_id": self.call.id,
                    "activity_assign": "salesperson",
                }
            ]
        )
        self.lapse_and_run(rule)
        mine = self.env["mail.activity"].with_user(seller).search([("user_id", "=", seller.id)])
        self.assertEqual(mine.res_id, self.lapsed.id)
        mine.with_user(seller).write({"date_deadline": "2026-02-01"})  # postponed
        other = self.env["res.users"].search([("share", "=", False)], limit=1)
        mine.with_user(seller).write({"user_id": other.id})  # reassigned
        self.assertEqual(mine.user_id, other)
        self.assertEqual(self.runs(rule).with_user(seller).state, "done")

    def test_access(self):
        rule = self.make_rule().with_user(self.pulse_marketer)
        rule.write({"name": "Mine"})
        as_user = rule.with_user(self.pulse_user)
        self.assertEqual(as_user.name, "Mine")
        with self.assertRaises(AccessError):
            as_user.write({"name": "Theirs"})
        with self.assertRaises(AccessError):
            self.Rule.with_user(self.portal_user).search([])
        company_b = self.env["res.company"].create({"name": "Rules B"})
        other = self.Rule.create(
            {"name": "B only", "company_id": company_b.id, "trigger": "no_purchase"}
        )
        self.assertNotIn(other, self.Rule.with_user(self.pulse_marketer).search([]))
        with self.assertRaises(UserError):
            self.env.ref("customer_pulse.rule_winback").unlink()

    def test_shipped_email_bodies_render_without_qweb(self):
        Template = self.env["mail.template"]
        for xmlid in ("mail_template_winback", "mail_template_first_order"):
            body = self.env.ref(f"customer_pulse.{xmlid}").body_html
            self.assertFalse(
                Template._has_unsafe_expression_template_qweb(body, "res.partner"), xmlid
            )

    def test_shipped_rules_are_drafts_that_can_start(self):
        shipped = self.Rule.search([("is_builtin", "=", True)])
        self.assertEqual(len(shipped), 5)
        self.assertEqual(set(shipped.mapped("state")), {"draft"})
        for rule in shipped:
            self.assertFalse(rule._configuration_errors(), rule.name)
