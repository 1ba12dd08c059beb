import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import timedelta

import requests

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, email_normalize

from .pulse_rule_step import TOUCHES

_logger = logging.getLogger(__name__)

BATCH = 200  # runs claimed per transaction
TIME_BUDGET = 120  # seconds a cron call works before handing over to the next call
WEBHOOK_TIMEOUT = 10  # seconds
WEBHOOK_ATTEMPTS = 3


class RunSkipped(Exception):
    """The run is skipped, with this reason."""


class PulseStepRun(models.Model):
    """One step for one enrolled customer: scheduled, then claimed, then done, skipped,
    failed or cancelled — exactly once ((enrolment, step) is unique)."""

    _name = "pulse.step.run"
    _description = "Rule step run"
    _order = "scheduled_at desc, id desc"
    _rec_name = "step_id"

    enrolment_id = fields.Many2one("pulse.enrolment", required=True, ondelete="cascade", index=True)
    step_id = fields.Many2one("pulse.rule.step", required=True, ondelete="cascade", index=True)
    rule_id = fields.Many2one(related="enrolment_id.rule_id", store=True, index=True)
    partner_id = fields.Many2one(related="enrolment_id.partner_id", store=True, index=True)
    company_id = fields.Many2one(related="enrolment_id.company_id", store=True)
    action = fields.Selection(related="step_id.action", store=True)
    state = fields.Selection(
        [
            ("scheduled", "Scheduled"),
            ("processing", "Processing"),
            ("done", "Done"),
            ("skipped", "Skipped"),
            ("failed", "Failed"),
            ("cancelled", "Cancelled"),
        ],
        required=True,
        default="scheduled",
        index=True,
    )
    scheduled_at = fields.Datetime(required=True, index=True)
    executed_at = fields.Datetime()
    attempts = fields.Integer(default=0)
    reason = fields.Char(help="Why the step was skipped or cancelled.")
    error = fields.Text()
    test_mode = fields.Boolean(readonly=True)
    res_model = fields.Char("Produced (model)", readonly=True)
    res_id = fields.Many2oneReference("Produced (id)", model_field="res_model", readonly=True)
    mail_id = fields.Many2one("mail.mail", string="Email", ondelete="set null", readonly=True)
    mail_state = fields.Selection(related="mail_id.state", string="Email status")
    duration_ms = fields.Integer("Call time (ms)", readonly=True)
    response_code = fields.Integer(readonly=True)

    _sql_constraints = [
        (
            "enrolment_step_uniq",
            "unique(enrolment_id, step_id)",
            "A step runs once per enrolment.",
        ),
    ]

    def init(self):
        # the engine's claim: due scheduled runs, oldest first
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS pulse_step_run_due_idx
                ON pulse_step_run (scheduled_at) WHERE state = 'scheduled'
            """
        )

    # ------------------------------------------------------------- scheduling
    @api.model
    def _schedule_roots(self, enrolment_ids, rule, now):
        """Schedule the first steps (those after nothing) of new enrolments, in SQL."""
        roots = rule.step_ids.filtered(lambda s: not s.parent_id)
        if not roots:
            return
        rows = []
        for step in roots:
            rows.append(SQL("(%s, %s::timestamp)", step.id, now + step._delay()))
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO pulse_step_run (enrolment_id, step_id, rule_id, partner_id,
                       company_id, action, state, scheduled_at, test_mode, attempts,
                       create_uid, write_uid, create_date, write_date)
                SELECT e.id, s.step_id, e.rule_id, e.partner_id, e.company_id, st.action,
                       'scheduled', s.at, %(test)s, 0, %(uid)s, %(uid)s, %(now)s, %(now)s
                  FROM pulse_enrolment e
                 CROSS JOIN (VALUES %(rows)s) AS s(step_id, at)
                  JOIN pulse_rule_step st ON st.id = s.step_id
                 WHERE e.id = ANY(%(ids)s)
                ON CONFLICT DO NOTHING
                """,
                test=rule.test_mode,
                uid=self.env.uid,
                now=now,
                rows=SQL(", ").join(rows),
                ids=list(enrolment_ids),
            )
        )
        self._wake_up(min(now + s._delay() for s in roots))

    def _schedule_children(self):
        """Schedule the steps that follow these (done or skipped) runs."""
        now = fields.Datetime.now()
        vals = []
        for run in self:
            for child in run.step_id.child_ids:
                vals.append(
                    {
                        "enrolment_id": run.enrolment_id.id,
                        "step_id": child.id,
                        "scheduled_at": now + child._delay(),
                        "test_mode": run.test_mode,
                    }
                )
        if vals:
            runs = self.create(vals)
            self._wake_up(min(runs.mapped("scheduled_at")))

    @api.model
    def _wake_up(self, at=None):
        """Ask the engine's cron to run at `at` (now by default): exact-time wake-ups,
        the cron's own interval is only the safety net."""
        cron = self.env.ref("customer_pulse.ir_cron_pulse_rule_engine", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(at)

    @api.model
    def _wake_up_for(self, triggers, always_if_running=False):
        """Wake the engine when a running rule has one of these triggers (or, with
        always_if_running, any running rule: a purchase may end enrolments)."""
        domain = [("state", "=", "running")]
        if not always_if_running:
            domain.append(("trigger", "in", list(triggers)))
        if self.env["pulse.rule"].sudo().search_count(domain, limit=1):
            self._wake_up()

    # ----------------------------------------------------------------- engine
    @api.model
    def _cron_run_engine(self):
        """Enrol, then run the due steps in batches: a commit per batch (the documented
        cron batching), progress reported to the scheduler, a hand-over to the next call
        when the time budget is spent."""
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        self._enrol_all()
        if auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit
        started = time.monotonic()
        done = 0
        while True:
            processed = self._process_due(BATCH)
            done += processed
            if auto_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit
            if not processed:
                break
            if time.monotonic() - started > TIME_BUDGET:
                self._wake_up()
                break
        self.env["pulse.enrolment"]._sweep()
        remaining = self.search_count(
            [("state", "=", "scheduled"), ("scheduled_at", "<=", fields.Datetime.now())]
        )
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done

    @api.model
    def _enrol_all(self):
        """Enrol for every running rule; a rule that fails is paused with its error, the
        others go on."""
        total = 0
        for rule in self.env["pulse.rule"].search([("state", "=", "running")]):
            try:
                with self.env.cr.savepoint():
                    total += rule._enrol()
            except Exception as e:
                _logger.warning("rule %s (%s) could not enrol: %s", rule.id, rule.name, e)
                rule.write({"state": "paused", "error": str(e)})
        return total

    @api.model
    def _claim(self, limit):
        """Claim due runs: FOR UPDATE SKIP LOCKED, so that two workers never take the same
        run; the claim commits or rolls back with the effects."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            UPDATE pulse_step_run SET state = 'processing', attempts = attempts + 1
             WHERE id IN (SELECT id FROM pulse_step_run
                           WHERE state = 'scheduled' AND scheduled_at <= %s
                           ORDER BY scheduled_at, id LIMIT %s FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            [fields.Datetime.now(), limit],
        )
        ids = sorted(r[0] for r in self.env.cr.fetchall())
        self.invalidate_model(["state", "attempts"])
        return self.browse(ids)

    @api.model
    def _process_due(self, limit=BATCH):
        """Claim and run up to `limit` due runs in this transaction. Returns how many."""
        runs = self._claim(limit)
        for run in runs:
            run._execute()
        self.env.flush_all()
        return len(runs)

    def _execute(self):
        """Run one claimed step: its effect and its new state in one savepoint; an error
        fails this run only."""
        self.ensure_one()
        enrolment, step, rule = self.enrolment_id, self.step_id, self.rule_id
        partner = enrolment.partner_id
        now = fields.Datetime.now()
        try:
            with self.env.cr.savepoint():
                if enrolment.state != "running":
                    self.write({"state": "cancelled", "reason": self.env._("enrolment closed")})
                    return
                reason = self._exit_reason()
                if reason:
                    enrolment._close(reason[0], reason[1])
                    self.write({"state": "cancelled", "reason": reason[1]})
                    return
                if step.condition and not rule._partner_matches(partner, step.condition):
                    self.write(
                        {
                            "state": "skipped",
                            "reason": self.env._("the condition no longer holds"),
                            "executed_at": now,
                        }
                    )
                    return  # the branch stops here
                exclusion = self._exclusion_reason()
                if exclusion:
                    raise RunSkipped(exclusion)
                produced = getattr(self, f"_do_{step.action}")()
                vals = {"state": "done", "executed_at": now, "error": False}
                if produced:
                    vals.update(res_model=produced._name, res_id=produced.id)
                    if produced._name == "mail.mail":
                        vals["mail_id"] = produced.id
                self.write(vals)
                if step.action in TOUCHES and not enrolment.first_touch_date:
                    enrolment.first_touch_date = now
                self._notify()
                self._schedule_children()
        except RunSkipped as skip:
            self.write({"state": "skipped", "reason": str(skip), "executed_at": now})
            self._schedule_children()  # an unreachable customer still gets the next steps
        except RetryLater as retry:
            self.write(
                {
                    "state": "scheduled",
                    "error": str(retry),
                    "scheduled_at": now + timedelta(minutes=2**self.attempts),
                }
            )
        except Exception as e:
            _logger.info("pulse step run %s failed: %s", self.id, e)
            self.write({"state": "failed", "error": str(e) or repr(e), "executed_at": now})

    def _exit_reason(self):
        """(state, reason) when the enrolment must end now, else None."""
        enrolment, rule = self.enrolment_id, self.rule_id
        if rule.exit_on_purchase:
            self.env.cr.execute(
                """
                SELECT 1 FROM sale_order so JOIN res_partner p ON p.id = so.partner_id
                 WHERE COALESCE(p.commercial_partner_id, p.id) = %s AND so.state = 'sale'
                   AND so.company_id = %s AND so.date_order > %s LIMIT 1
                """,
                [enrolment.partner_id.id, enrolment.company_id.id, enrolment.date_enrolled],
            )
            if self.env.cr.fetchone():
                return "converted", self.env._("bought since entering")
        if rule.exit_domain and rule._partner_matches(enrolment.partner_id, rule.exit_domain):
            return "exited", self.env._("matches the exit filter")
        return None

    def _exclusion_reason(self):
        """Why this customer must not get this step now (checked when it is due)."""
        partner, step, rule = self.partner_id, self.step_id, self.rule_id
        if not partner.active:
            return self.env._("archived")
        if step.action in ("email", "survey") and not self.test_mode:
            if not email_normalize(partner.email or ""):
                return self.env._("no valid email")
            if partner.is_blacklisted:
                return self.env._("email blacklisted")
        if step.action == "sms" and not self.test_mode:
            if not (partner.mobile or partner.phone):
                return self.env._("no phone number")
            if partner.phone_sanitized_blacklisted:
                return self.env._("phone blacklisted")
        if step.action in TOUCHES and not self.test_mode:
            if rule.marketing_hold:
                self.env.cr.execute(
                    "SELECT amount_overdue FROM pulse_partner_stats"
                    " WHERE partner_id = %s AND company_id = %s",
                    [partner.id, self.company_id.id],
                )
                row = self.env.cr.fetchone()
                if row and row[0] and row[0] > 0:
                    return self.env._("owes money (marketing hold)")
            cap_reason = self._cap_reason()
            if cap_reason:
                return cap_reason
        return None

    def _cap_reason(self):
        """The frequency cap across all rules: at most K touches per customer per D days."""
        params = self.env["ir.config_parameter"].sudo()
        touches = int(params.get_param("customer_pulse.cap_touches", 3) or 0)
        days = int(params.get_param("customer_pulse.cap_days", 7) or 0)
        if touches <= 0 or days <= 0:
            return None
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT COUNT(*) FROM pulse_step_run
             WHERE partner_id = %s AND state = 'done' AND NOT test_mode
               AND action = ANY(%s) AND executed_at > %s
            """,
            [self.partner_id.id, list(TOUCHES), fields.Datetime.now() - timedelta(days=days)],
        )
        if self.env.cr.fetchone()[0] >= touches:
            return self.env._(
                "frequency cap: %(touches)s touches in %(days)s days", touches=touches, days=days
            )
        return None

    def _notify(self):
        step = self.step_id
        if not step.notify_user_ids:
            return
        self.partner_id.message_notify(
            partner_ids=step.notify_user_ids.partner_id.ids,
            subject=self.env._("%(rule)s: %(step)s", rule=self.rule_id.name, step=step.name),
            body=self.env._(
                "%(customer)s reached step %(step)s of %(rule)s.",
                customer=self.partner_id.display_name,
                step=step.name,
                rule=self.rule_id.name,
            ),
        )

    # ---------------------------------------------------------------- actions
    def _do_email(self):
        template = self.step_id.mail_template_id
        values = None
        if self.test_mode:
            values = {"email_to": self.rule_id.test_email, "recipient_ids": [], "partner_ids": []}
        mail_id = template.sudo().send_mail(
            self.partner_id.id, force_send=False, raise_exception=True, email_values=values
        )
        return self.env["mail.mail"].sudo().browse(mail_id)

    def _do_sms(self):
        if self.test_mode:
            raise RunSkipped(self.env._("test mode: no text sent"))
        messages = self.partner_id._message_sms_with_template(
            template=self.step_id.sms_template_id, partner_ids=self.partner_id.ids
        )
        return messages[:1] if messages else None

    def _activity_user(self):
        step, partner = self.step_id, self.partner_id
        if self.test_mode:
            return self.rule_id.user_id
        user = {
            "salesperson": partner.user_id,
            "team_leader": partner.user_id.sale_team_id.user_id,
            "user": step.activity_user_id,
        }.get(step.activity_assign)
        return user or step.activity_user_id or self.rule_id.user_id or self.env.user

    def _do_activity(self):
        step = self.step_id
        return (
            self.env["mail.activity"]
            .sudo()
            .create(
                {
                    "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                    "res_id": self.partner_id.id,
                    "activity_type_id": step.activity_type_id.id,
                    "summary": step.activity_summary or step.name,
                    "note": step.activity_note,
                    "date_deadline": fields.Date.context_today(self)
                    + timedelta(days=step.activity_deadline_days),
                    "user_id": self._activity_user().id,
                }
            )
        )

    def _do_note(self):
        return self.partner_id.sudo().message_post(
            body=self.step_id.note_body, subtype_xmlid="mail.mt_note"
        )

    def _do_tag_add(self):
        self.partner_id.sudo().category_id = [(4, t.id) for t in self.step_id.tag_ids]

    def _do_tag_remove(self):
        self.partner_id.sudo().category_id = [(3, t.id) for t in self.step_id.tag_ids]

    def _list_subscription(self):
        partner = self.partner_id
        email = email_normalize(partner.email or "")
        if not email:
            raise RunSkipped(self.env._("no valid email"))
        mailing_list = self.step_id.mailing_list_id
        Subscription = self.env["mailing.subscription"].sudo()
        existing = Subscription.search(
            [("list_id", "=", mailing_list.id), ("contact_id.email_normalized", "=", email)],
            limit=1,
        )
        return partner, email, mailing_list, existing

    def _do_list_add(self):
        partner, email, mailing_list, existing = self._list_subscription()
        if existing.opt_out:
            raise RunSkipped(self.env._("opted out of %(list)s", list=mailing_list.name))
        if partner.is_blacklisted:
            raise RunSkipped(self.env._("email blacklisted"))
        if existing:
            return existing
        contact = self.env["mailing.contact"].sudo().search(
            [("email_normalized", "=", email)], limit=1
        ) or self.env["mailing.contact"].sudo().create({"name": partner.name, "email": email})
        return (
            self.env["mailing.subscription"]
            .sudo()
            .create({"contact_id": contact.id, "list_id": mailing_list.id})
        )

    def _do_list_remove(self):
        _partner, _email, _list, existing = self._list_subscription()
        if existing and not existing.opt_out:
            existing.unlink()

    def _do_survey(self):
        survey = self.step_id.survey_id
        partner = self.partner_id
        if survey.access_mode != "public" and survey.users_login_required:
            raise UserError(self.env._("the survey requires a login: make it public"))
        invite = (
            self.env["survey.invite"]
            .sudo()
            .with_context(default_survey_id=survey.id)
            .create({"partner_ids": [(4, partner.id)], "send_email": True})
        )
        if self.test_mode:
            invite.partner_ids = [(5,)]
            invite.emails = self.rule_id.test_email
        invite.action_invite()
        return (
            self.env["survey.user_input"]
            .sudo()
            .search([("survey_id", "=", survey.id)], order="id desc", limit=1)
        )

    def _do_server_action(self):
        action = self.step_id.server_action_id
        action.sudo().with_context(
            active_model="res.partner", active_id=self.partner_id.id, active_ids=self.partner_id.ids
        ).run()

    def _webhook_payload(self):
        partner = self.partner_id
        return {
            "event": "customer_pulse.step",
            "rule": {"id": self.rule_id.id, "name": self.rule_id.name},
            "step": {"id": self.step_id.id, "name": self.step_id.name},
            "enrolment": {"id": self.enrolment_id.id, "cycle": self.enrolment_id.cycle},
            "customer": {
                "id": partner.id,
                "name": partner.name,
                "email": partner.email or None,
                "phone": partner.phone or partner.mobile or None,
            },
            "run_id": self.id,
        }

    def _do_webhook(self):
        """POST the JSON payload, signed; at-least-once delivery: the receiver deduplicates
        on the Idempotency-Key (the same for every attempt of this run)."""
        if self.test_mode:
            raise RunSkipped(self.env._("test mode: webhook not called"))
        step = self.step_id.sudo()
        body = json.dumps(self._webhook_payload(), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"pulse-run-{self.env.cr.dbname}-{self.id}",
        }
        if step.webhook_secret:
            signature = hmac.new(step.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Pulse-Signature"] = f"sha256={signature}"
        started = time.monotonic()
        try:
            response = requests.post(
                step.webhook_url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT
            )
        except requests.RequestException as e:
            self.duration_ms = int((time.monotonic() - started) * 1000)
            self._retry_or_fail(self.env._("webhook unreachable: %(error)s", error=e))
        self.duration_ms = int((time.monotonic() - started) * 1000)
        self.response_code = response.status_code
        if response.status_code >= 500 or response.status_code == 429:
            self._retry_or_fail(self.env._("webhook answered %(code)s", code=response.status_code))
        if response.status_code >= 400:
            raise UserError(
                self.env._("webhook refused the call: %(code)s", code=response.status_code)
            )

    def _retry_or_fail(self, message):
        if self.attempts < WEBHOOK_ATTEMPTS:
            raise RetryLater(message)
        raise UserError(
            self.env._("%(message)s (after %(n)s attempts)", message=message, n=self.attempts)
        )


class RetryLater(Exception):
    """A transient failure: the run goes back to scheduled, later."""
