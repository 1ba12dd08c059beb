"""Rules cannot be used to escalate, and what leaves the machine leaves once: each test
plays an attack or an accident (a server action beyond the author's rights, a webhook to
the cloud metadata service or the private network, a redirect, a token in a URL, a worker
killed between a call and its record, a receiver that keeps failing, a filter broken by a
removed field, a customer who objects to profiling, a batch longer than the time budget)."""

import contextlib
import socket
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from unittest.mock import Mock, patch

from freezegun import freeze_time
from psycopg2.errors import SerializationFailure

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from ..models import pulse_rule_engine, pulse_step_run
from .common import PulseFactsCase

ALLOWED_HOSTS = "customer_pulse.webhook_allowed_hosts"


class _Receiver(BaseHTTPRequestHandler):
    """A receiver on 127.0.0.1: records every request (a followed redirect too) and
    answers the queued (status, headers), then 200."""

    calls = []
    replies = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).calls.append((self.command, self.path, dict(self.headers), body))
        status, headers = type(self).replies.pop(0) if type(self).replies else (200, {})
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_POST = do_GET = _answer

    def log_message(self, *args):
        pass


class WorkerKilled(BaseException):
    """The worker dies on the spot (as with kill -9: nothing is recorded any more)."""


@tagged("post_install", "-at_install")
class TestEngineTrust(PulseFactsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Rule = cls.env["pulse.rule"]
        cls.Run = cls.env["pulse.step.run"]
        cls.params = cls.env["ir.config_parameter"]
        cls.params.set_param("customer_pulse.cap_touches", 0)
        cls.call = cls.env.ref("mail.mail_activity_data_call")
        cls.template = cls.env.ref("customer_pulse.mail_template_winback")
        cls.lapsed = cls.env["res.partner"].create(
            {"name": "Lapsed Ltd", "email": "lapsed@pulse.example"}
        )
        cls.partner_model = cls.env["ir.model"]._get_id("res.partner")

    # --------------------------------------------------------------- helpers
    def receiver(self, *replies):
        """A real HTTP receiver on 127.0.0.1; returns its base URL."""
        server = HTTPServer(("127.0.0.1", 0), _Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        _Receiver.calls, _Receiver.replies = [], list(replies)
        return f"http://127.0.0.1:{server.server_port}"

    def hook_rule(self, url, test_mode=False, **vals):
        if test_mode:
            vals.update(test_mode=True, test_email="marketer@pulse.example")
        return self.make_rule(
            [{"name": "Hook", "action": "webhook", "webhook_url": url}], name=url, **vals
        )

    def local_hook_rule(self, path="/hook", replies=()):
        """A webhook rule to a receiver on this machine: test mode (http:// to this machine
        only), 127.0.0.1 allowed by the administrator."""
        base = self.receiver(*replies)
        self.params.set_param(ALLOWED_HOSTS, "127.0.0.1")
        return self.hook_rule(f"{base}{path}", test_mode=True)

    def lapse(self, *partners):
        for partner in partners or (self.lapsed,):
            self.make_order(partner, "2024-06-01")
        self.Facts._refresh_all()

    def engine(self):
        return self.env["pulse.rule.engine"]._cron_run_engine()

    def runs(self, rule):
        runs = self.Run.search([("rule_id", "=", rule.id)], order="id")
        runs.invalidate_recordset()
        return runs

    def server_action(self, code, groups=None):
        return self.env["ir.actions.server"].create(
            {
                "name": "Rule action",
                "model_id": self.partner_model,
                "state": "code",
                "code": code,
                "groups_id": [Command.set(groups.ids)] if groups else [],
            }
        )

    # ------------------------------------------------------ server actions
    def test_server_action_beyond_the_author_refused_on_save(self):
        """A marketer points a step to an action for administrators only."""
        admin_only = self.server_action(
            "record.write({'comment': 'admin only'})", self.env.ref("base.group_system")
        )
        step = {"name": "Escalate", "action": "server_action", "server_action_id": admin_only.id}
        with self.assertRaisesRegex(ValidationError, "may not run the server action"):
            self.make_rule([step], user=self.pulse_marketer)
        rule = self.make_rule(
            [{"name": "Note", "action": "note", "note_body": "<p>Hi</p>"}],
            user=self.pulse_marketer,
        )
        with self.assertRaisesRegex(ValidationError, "may not run the server action"):
            rule.step_ids.with_user(self.pulse_marketer).write(
                {"action": "server_action", "server_action_id": admin_only.id}
            )
        on_orders = self.env["ir.actions.server"].create(
            {
                "name": "On orders",
                "model_id": self.env["ir.model"]._get_id("sale.order"),
                "state": "code",
                "code": "pass",
            }
        )
        with self.assertRaisesRegex(ValidationError, "not an action on contacts"):
            rule.step_ids.with_user(self.pulse_marketer).write(
                {"action": "server_action", "server_action_id": on_orders.id}
            )

    def test_server_action_restricted_afterwards_refused_at_run_time(self):
        """The action was open to marketers when the step was saved; an administrator
        restricts it before the step runs."""
        action = self.server_action(
            "record.write({'comment': 'flagged by a rule'})",
            self.env.ref("customer_pulse.group_pulse_marketer"),
        )
        rule = self.make_rule(
            [{"name": "Flag", "action": "server_action", "server_action_id": action.id}],
            user=self.pulse_marketer,
        )
        with freeze_time("2026-01-10 09:00:00"):
            self.lapse()
            rule.with_user(self.pulse_marketer).action_start()
            action.groups_id = [Command.set(self.env.ref("base.group_system").ids)]
            self.engine()
        run = self.runs(rule)
        self.assertEqual(run.state, "failed")
        self.assertIn("may not run the server action", run.error)
        self.assertFalse(self.lapsed.comment, "the action did not run")

    def test_server_action_runs_with_the_responsible_rights(self):
        """An action open to everyone who may edit contacts, whose code grants its runner
        the administrator group: run for the marketer's rule, it runs as the marketer
        (AccessError), not as superuser."""
        marketer = self.pulse_marketer
        grant = self.server_action(
            f"env['res.users'].browse({marketer.id}).write("
            "{'groups_id': [(4, env.ref('base.group_system').id)]})"
        )
        rule = self.make_rule(
            [{"name": "Grant", "action": "server_action", "server_action_id": grant.id}],
            user=marketer,
        )
        self.assertEqual(rule.user_id, marketer)
        with freeze_time("2026-01-10 09:00:00"):
            self.lapse()
            rule.with_user(marketer).action_start()
            self.engine()
        run = self.runs(rule)
        self.assertEqual(run.state, "failed")
        self.assertIn("not allowed to modify", run.error)
        self.assertIn("res.users", run.error)
        marketer.invalidate_recordset()
        self.assertFalse(marketer.has_group("base.group_system"), "no escalation")

    # ------------------------------------------------------------ webhooks
    def test_webhook_to_metadata_or_private_network_refused(self):
        """Webhooks to the cloud metadata service, the private network or this machine:
        refused (no connection made) unless an administrator allows the host."""
        post = Mock(return_value=Mock(status_code=200))
        self.addCleanup(patch.stopall)
        patch.object(pulse_step_run.requests, "post", post).start()
        # http:// to anything but this machine in test mode, or with credentials: refused
        # when switched on
        for url in (
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/hook",
            "https://user:secret@hooks.example.com/hook",
        ):
            with self.assertRaisesRegex(UserError, "https://|credentials"):
                self.hook_rule(url).action_start()
        # https:// that points to link-local or private addresses: refused at the call
        metadata = self.hook_rule("https://169.254.169.254/latest/meta-data/")
        private = self.hook_rule("https://10.0.0.1/hook")
        loopback = self.hook_rule("https://localhost/hook")
        changed = self.hook_rule("https://10.0.0.2/hook")
        with freeze_time("2026-01-10 09:00:00"):
            self.lapse()
            (metadata | private | loopback | changed).action_start()
            changed.step_ids.webhook_url = "http://10.0.0.2/hook"  # after switching on
            self.engine()
        for rule in metadata | private | loopback:
            run = self.runs(rule)
            self.assertEqual(run.state, "failed", rule.name)
            self.assertIn("private, loopback or link-local", run.error)
        self.assertEqual(self.runs(changed).state, "failed")
        self.assertIn("https://", self.runs(changed).error, "re-checked at each call")
        post.assert_not_called()
        # an administrator allows the private network: the call is made, redirects off
        self.params.set_param(ALLOWED_HOSTS, "10.0.0.0/8")
        allowed = self.hook_rule("https://10.0.0.1/hook")
        with freeze_time("2026-01-11 09:00:00"):
            allowed.action_start()
            self.engine()
        self.assertEqual(self.runs(allowed).state, "done")
        post.assert_called_once()
        self.assertIs(post.call_args.kwargs["allow_redirects"], False)

    def test_webhook_redirect_not_followed(self):
        base = self.receiver()
        _Receiver.replies = [(307, {"Location": f"{base}/elsewhere"})]
        self.params.set_param(ALLOWED_HOSTS, "127.0.0.1")
        rule = self.hook_rule(f"{base}/hook", test_mode=True)
        with freeze_time("2026-01-10 09:00:00"):
            self.lapse()
            rule.action_start()
            self.engine()
        run = self.runs(rule)
        self.assertEqual(run.state, "failed")
        self.assertIn("redirect", run.error)
        self.assertEqual([path for _m, path, _h, _b in _Receiver.calls], ["/hook"])

    def test_loopback_needs_test_mode_and_the_allow_list(self):
        base = self.receiver()
        with self.assertRaisesRegex(UserError, "https://"):
            self.hook_rule(f"{base}/hook").action_start()  # http:// outside test mode
        rule = self.hook_rule(f"{base}/hook", test_mode=True)
        with freeze_time("2026-01-10 09:00:00"):
            self.lapse()
            rule.action_start()
            self.engine()
        self.assertEqual(self.runs(rule).state, "failed")
        self.assertIn("private, loopback or link-local", self.runs(rule).error)
        self.assertFalse(_Receiver.calls, "not allowed: not called")

    def test_webhook_error_keeps_no_query_string_nor_token(self):
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.params.set_param(ALLOWED_HOSTS, "127.0.0.1")
        rule = self.hook_rule(
            f"http://127.0.0.1:{port}/hook?token=S3CRET-T0KEN&sig=abcdef123", test_mode=True
        )
        with freeze_time("2026-01-10 09:00:00"):
            self.lapse()
            rule.action_start()
            self.engine()
        run = self.runs(rule)
        self.assertEqual(run.state, "scheduled", "unreachable: tried again later")
        self.assertIn("unreachable", run.error)
        for secret in ("S3CRET-T0KEN", "abcdef123", "token=", "?"):
            self.assertNotIn(secret, run.error)

    # -------------------------------------------------------- exactly once
    def test_call_whose_outcome_is_lost_is_not_made_again(self):
        """The worker dies after the receiver got the call, before its outcome is
        recorded: the run shows 'outcome unknown' and no later pass calls again; a
        marketer retries it by hand, with the same Idempotency-Key."""
        rule = self.local_hook_rule()
        with freeze_time("2026-01-10 09:00:00"):
            self.lapse()
            rule.action_start()
            with patch.object(
                type(self.Run), "_record_call_outcome", side_effect=WorkerKilled("kill -9")
            ):
                try:
                    self.engine()
                except WorkerKilled:
                    pass
                else:
                    self.fail("the worker should have died")
        run = self.runs(rule)
        self.assertEqual(len(_Receiver.calls), 1)
        self.assertEqual(run.state, "processing")
        self.assertTrue(run.call_started_at, "the call was marked started before it was made")
        with freeze_time("2026-01-10 09:05:00"):
            self.engine()  # another pass soon after: the call is not made again
        self.assertEqual(len(_Receiver.calls), 1)
        with freeze_time("2026-01-10 09:30:00"):
            self.engine()
        run.invalidate_recordset()
        self.assertEqual(run.state, "unknown")
        self.assertIn("outcome unknown", run.reason)
        self.assertEqual(run.enrolment_id.state, "running", "not complete while unknown")
        with freeze_time("2026-01-11 09:00:00"):
            self.engine()
        self.assertEqual(len(_Receiver.calls), 1, "never re-sent blindly")
        with freeze_time("2026-01-11 10:00:00"):
            run.with_user(self.pulse_marketer).action_retry()
            self.engine()
        run.invalidate_recordset()
        self.assertEqual(run.state, "done")
        self.assertEqual(len(_Receiver.calls), 2)
        keys = {headers["Idempotency-Key"] for _m, _p, headers, _b in _Receiver.calls}
        self.assertEqual(len(keys), 1, "the same Idempotency-Key on the retry")
        with self.assertRaises(UserError):
            run.with_user(self.pulse_marketer).action_retry()  # only an unknown outcome

    def test_outcome_unknown_marked_done_by_hand_goes_on(self):
        rule = self.local_hook_rule()
        self.env["pulse.rule.step"].create(
            {
                "rule_id": rule.id,
                "name": "Call",
                "parent_id": rule.step_ids.id,
                "action": "activity",
                "activity_type_id": self.call.id,
            }
        )
        with freeze_time("2026-01-10 09:00:00"):
            self.lapse()
            rule.action_start()
            with (
                patch.object(type(self.Run), "_record_call_outcome", side_effect=WorkerKilled),
                contextlib.suppress(WorkerKilled),
            ):
                self.engine()
        with freeze_time("2026-01-10 10:00:00"):
            self.engine()
            hook = self.runs(rule)
            self.assertEqual(hook.state, "unknown")
            with self.assertRaises(UserError):
                hook.with_user(self.pulse_user).action_mark_done()  # not a marketer
            hook.with_user(self.pulse_marketer).action_mark_done()
            self.engine()
        runs = self.runs(rule)
        self.assertEqual(runs.mapped("state"), ["done", "done"])
        self.assertIn("marked done by", runs[0].reason)
        self.assertEqual(len(_Receiver.calls), 1)

    def test_attempts_capped_then_failed(self):
        self.params.set_param("customer_pulse.external_max_attempts", 2)
        rule = self.local_hook_rule(replies=[(503, {}), (503, {}), (503, {})])
        with freeze_time("2026-01-10 09:00:00"):
            self.lapse()
            rule.action_start()
            self.engine()
        run = self.runs(rule)
        self.assertEqual(run.state, "scheduled")
        self.assertIn("503", run.error)
        for minute in ("05", "30", "59"):
            with freeze_time(f"2026-01-10 09:{minute}:00"):
                self.engine()
        run.invalidate_recordset()
        self.assertEqual(run.state, "failed")
        self.assertIn("after 2 attempts", run.error)
        self.assertEqual(run.attempts, 2)
        self.assertEqual(len(_Receiver.calls), 2, "capped")
        keys = {headers["Idempotency-Key"] for _m, _p, headers, _b in _Receiver.calls}
        self.assertEqual(len(keys), 1, "the same Idempotency-Key on every attempt")

    # ---------------------------------------------------------- the engine
    def test_broken_filter_pauses_its_rule_only(self):
        """Fields removed after rules were saved: the rules whose audience or step
        condition used them are paused with the reason, the others still send."""
        other = self.env["res.partner"].create({"name": "Other", "email": "o@pulse.example"})
        later = self.make_rule(
            [
                {
                    "name": "Later call",
                    "action": "activity",
                    "activity_type_id": self.call.id,
                    "delay": 2,
                    "condition": "[('email', '!=', False)]",
                }
            ],
            name="Broken condition",
        )
        audience = self.make_rule(
            [{"name": "Note", "action": "note", "note_body": "<p>Hi</p>"}],
            name="Broken audience",
            domain="[('email', '!=', False)]",
        )
        healthy = self.make_rule(
            [{"name": "Email", "action": "email", "mail_template_id": self.template.id}],
            name="Healthy",
        )
        with freeze_time("2026-01-10 09:00:00"):
            self.lapse(self.lapsed, other)
            later.action_start()
            self.engine()
        self.assertEqual(set(self.runs(later).mapped("state")), {"scheduled"})
        # as if the custom field the filters used had been removed since
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE pulse_rule_step SET condition = %s WHERE id = %s",
            ["[('x_removed_field', '=', 1)]", later.step_ids.id],
        )
        self.env.cr.execute(
            "UPDATE pulse_rule SET domain = %s WHERE id = %s",
            ["[('x_removed_field', '=', 1)]", audience.id],
        )
        self.env.invalidate_all()
        with freeze_time("2026-01-12 10:00:00"):
            (audience | healthy).action_start()
            self.engine()
            self.engine()  # the waiting runs are not taken again and again
        self.assertEqual(set(self.runs(healthy).mapped("state")), {"done"})
        self.assertEqual(len(self.runs(healthy).mail_id), 2, "the healthy rule still sends")
        for rule in later | audience:
            rule.invalidate_recordset()
            self.assertEqual(rule.state, "paused", rule.name)
            self.assertIn("x_removed_field", rule.error)
            posted = rule.message_ids.filtered(lambda m: "x_removed_field" in (m.body or ""))
            self.assertTrue(posted, f"{rule.name}: the reason is in the chatter")
        waiting = self.runs(later)
        self.assertEqual(set(waiting.mapped("state")), {"scheduled"}, "they wait, not lost")
        self.assertEqual(set(waiting.mapped("attempts")), {0})
        self.assertFalse(audience.enrolment_ids)

    def test_objection_leaves_customer_out_of_customer_facing_steps(self):
        objector = self.env["res.partner"].create(
            {
                "name": "Objector",
                "email": "objector@pulse.example",
                "pulse_profiling_objection": True,
            }
        )
        mailing_list = self.env["mailing.list"].create({"name": "Trust list"})
        rule = self.make_rule(
            [
                {"name": "Email", "action": "email", "mail_template_id": self.template.id},
                {"name": "List", "action": "list_add", "mailing_list_id": mailing_list.id},
                {"name": "Hook", "action": "webhook", "webhook_url": "https://10.9.9.9/hook"},
                {"name": "Call", "action": "activity", "activity_type_id": self.call.id},
            ]
        )
        with freeze_time("2026-01-10 09:00:00"):
            self.lapse(objector)
            rule.action_start()
            self.engine()
        states = {r.step_id.name: (r.state, r.reason) for r in self.runs(rule)}
        for name in ("Email", "List", "Hook"):
            self.assertEqual(states[name], ("skipped", "objects to profiling"), name)
        self.assertEqual(states["Call"][0], "done", "staff work is not customer-facing")
        self.assertFalse(mailing_list.subscription_ids)

    def two_running_rules(self):
        """Two running rules of one step each, the lapsed customer due in both (in real
        time: a frozen clock would never spend a time budget)."""
        first = self.make_rule(
            [{"name": "Call", "action": "activity", "activity_type_id": self.call.id}],
            name="First",
        )
        second = self.make_rule(
            [{"name": "Note", "action": "note", "note_body": "<p>Hi</p>"}], name="Second"
        )
        self.make_order(self.lapsed, date.today() - timedelta(days=800))
        self.Facts._refresh_all()
        (first | second).action_start()
        return first, second

    def test_time_budget_is_kept_inside_a_batch(self):
        """The budget is spent after the first run of a batch: the rest is handed over to
        the next call of the cron, not run past the limit."""
        first, second = self.two_running_rules()
        cron = self.env.ref("customer_pulse.ir_cron_pulse_rule_engine")
        # sudo: the scheduler's triggers are administrators' records, read to see the wake-up
        Trigger = self.env["ir.cron.trigger"].sudo()
        # the scheduler's progress record: a job reporting work left runs again at once in
        # the same worker (and its time limit), so a spent call reports none left
        progress = self.env["ir.cron.progress"].sudo().create({"cron_id": cron.id})
        Engine = self.env["pulse.rule.engine"].with_context(ir_cron_progress_id=progress.id)
        with patch.object(pulse_rule_engine, "TIME_BUDGET", -1):
            before = Trigger.search_count([("cron_id", "=", cron.id)])
            Engine._cron_run_engine()
            runs = self.runs(first) | self.runs(second)
            self.assertEqual(sorted(runs.mapped("state")), ["done", "scheduled"])
            self.assertEqual(runs.filtered(lambda r: r.state == "scheduled").attempts, 0)
            self.assertGreater(Trigger.search_count([("cron_id", "=", cron.id)]), before)
            self.assertEqual((progress.done, progress.remaining), (1, 0))
            self.engine()
        runs.invalidate_recordset()
        self.assertEqual(runs.mapped("state"), ["done", "done"])

    def test_second_worker_shares_a_full_batch(self):
        """A full batch due wakes the second worker; it runs the due steps the engine's call
        left, and only those: it enrols no one (the engine's cron alone does)."""
        first, second = self.two_running_rules()
        helper = self.env.ref("customer_pulse.ir_cron_pulse_rule_helper")
        # sudo: the scheduler's triggers are administrators' records, read to see the wake-up
        Trigger = self.env["ir.cron.trigger"].sudo()
        Engine = self.env["pulse.rule.engine"]
        before = Trigger.search_count([("cron_id", "=", helper.id)])
        # batches of one run, and the budget spent after the first: the call leaves one
        with (
            patch.object(pulse_rule_engine, "BATCH", 1),
            patch.object(pulse_rule_engine, "TIME_BUDGET", -1),
        ):
            Engine._cron_run_engine()
        self.assertEqual(Trigger.search_count([("cron_id", "=", helper.id)]), before + 1)
        runs = self.runs(first) | self.runs(second)
        self.assertEqual(sorted(runs.mapped("state")), ["done", "scheduled"])
        # a customer who lapses now waits for the engine's next call: the helper only runs
        late = self.env["res.partner"].create({"name": "Late Lapser", "email": "l@pulse.example"})
        self.lapse(late)
        engine = self.env.ref("customer_pulse.ir_cron_pulse_rule_engine")
        woken = Trigger.search_count([("cron_id", "=", engine.id)])
        self.assertEqual(Engine._cron_help_engine(), 1)
        runs = self.runs(first) | self.runs(second)
        self.assertEqual(runs.mapped("state"), ["done", "done"])
        self.assertNotIn(late, runs.partner_id)
        # once through, it wakes the engine, whose upkeep records what the helper did
        self.assertEqual(Trigger.search_count([("cron_id", "=", engine.id)]), woken + 1)
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT COUNT(*) FROM pulse_step_run WHERE state = 'done' AND outcome_at IS NULL"
        )
        self.assertEqual(self.env.cr.fetchone()[0], 1, "the helper's run, not recorded yet")
        self.engine()
        self.env.cr.execute(
            "SELECT COUNT(*) FROM pulse_step_run WHERE state = 'done' AND outcome_at IS NULL"
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0, "recorded by the engine's call")
        self.assertIn(late, self.runs(first).partner_id, "the engine enrols them")

    def test_claim_again_after_another_workers_commit(self):
        """With two workers, a claim may meet runs the other one committed after this
        transaction's snapshot: between the cron's batches it is claimed again on a fresh
        snapshot; a plain call raises."""
        rule = self.make_rule(
            [{"name": "Call", "action": "activity", "activity_type_id": self.call.id}]
        )
        self.lapse()
        rule.action_start()
        self.env["pulse.rule.engine"]._enrol_all()
        Run = self.env["pulse.step.run"]
        real_claim = type(Run)._claim
        calls = []

        def claim_once_too_late(model, limit):
            calls.append(limit)
            if len(calls) == 1:
                raise SerializationFailure("could not serialize access due to concurrent update")
            return real_claim(model, limit)

        Engine = self.env["pulse.rule.engine"]
        with patch.object(type(Run), "_claim", claim_once_too_late):
            with self.assertRaises(SerializationFailure):
                Engine._process_due(10)
            calls.clear()
            commit = Mock()
            done = Engine._process_due(10, commit=commit)
        commit.restart.assert_called_once_with()
        self.assertEqual(done, 1)
        self.assertEqual(self.runs(rule).state, "done")
