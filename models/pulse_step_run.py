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
TIME_BUDGET = 50  # seconds a cron call works before handing over (Odoo kills a cron at 120 s)
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
                  FROM UNNEST(%(ids)s::integer[]) AS n(id)
                  JOIN pulse_enrolment e ON e.id = n.id
                 CROSS JOIN (VALUES %(rows)s) AS s(step_id, at)
                  JOIN pulse_rule_step st ON st.id = s.step_id
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
        """Claim and run up to `limit` due runs in this transaction. Returns how many.

        Each run is first checked on its own (closed enrolment, exit, condition,
        exclusions). The ready runs of one step then act together where the action has a
        batch form (one template rendering for all the emails, one INSERT of all the
        activities); if the batch fails, each run acts on its own, so that one bad record
        fails only its own run."""
        runs = self._claim(limit)
        facts = runs._due_facts()
        ready = self.browse()
        reserved = {}  # touches of this batch per customer, for the frequency cap
        for run in runs:
            if run._guarded(run._check_due, facts, reserved):
                ready |= run
                if run.step_id.action in TOUCHES and not run.test_mode:
                    reserved[run.partner_id.id] = reserved.get(run.partner_id.id, 0) + 1
        for step in ready.step_id:
            group = ready.filtered(lambda r, s=step: r.step_id == s)
            produced = group._act_in_batch()
            if produced is None:
                for run in group:
                    run._guarded(run._act)
            else:
                group._finish(produced)
        self.env.flush_all()
        return len(runs)

    def _execute(self):
        """Run one claimed step on its own: checks, effect and new state."""
        self.ensure_one()
        if self._guarded(self._check_due, self._due_facts(), {}):
            self._guarded(self._act)

    def _guarded(self, method, *args):
        """Call method in a savepoint; a skip, a retry or an error becomes this run's
        state. Returns method's result, or False when it did not complete."""
        now = fields.Datetime.now()
        try:
            with self.env.cr.savepoint():
                return method(*args)
        except RunSkipped as skip:
            self.write({"state": "skipped", "reason": str(skip), "executed_at": now})
            self._schedule_children()  # an unreachable customer still gets the next steps
        except RetryLater as retry:
            self.write(
                {
                    "state": "scheduled",
                    "error": str(retry),
                    "scheduled_at": now + timedelta(minutes=2**self.attempts),
                    **getattr(retry, "call", {}),
                }
            )
        except Exception as e:
            _logger.info("pulse step run %s failed: %s", self.id, e)
            self.write(
                {
                    "state": "failed",
                    "error": str(e) or repr(e),
                    "executed_at": now,
                    **getattr(e, "call", {}),
                }
            )
        return False

    def _due_facts(self):
        """What the checks of these runs need, read set-based once for the batch: who
        bought since entering, who matches the exit filters and step conditions, who owes
        money, how many touches each customer had lately."""
        cr = self.env.cr
        self.env.flush_all()
        partners = self.partner_id
        # prefetch what the per-run checks read
        partners.mapped("email")
        partners.mapped("is_blacklisted")
        facts = {"bought": set(), "matches": {}, "overdue": set(), "touches": {}}
        enrolments = self.enrolment_id.filtered(lambda e: e.rule_id.exit_on_purchase)
        if enrolments:
            cr.execute(
                """
                SELECT e.id FROM pulse_enrolment e
                 WHERE e.id = ANY(%s) AND EXISTS (
                       SELECT 1 FROM sale_order so JOIN res_partner p ON p.id = so.partner_id
                        WHERE COALESCE(p.commercial_partner_id, p.id) = e.partner_id
                          AND so.state = 'sale' AND so.company_id = e.company_id
                          AND so.date_order > e.date_enrolled)
                """,
                [enrolments.ids],
            )
            facts["bought"] = {r[0] for r in cr.fetchall()}
        filters = {
            (run.rule_id, run.rule_id.exit_domain) for run in self if run.rule_id.exit_domain
        }
        filters |= {(run.rule_id, run.step_id.condition) for run in self if run.step_id.condition}
        for rule, text in filters:
            query = rule._partner_query(text)
            if query is None:
                facts["matches"][text] = set(partners.ids)
                continue
            cr.execute(SQL("SELECT id FROM (%s) q WHERE id = ANY(%s)", query, partners.ids))
            facts["matches"][text] = {r[0] for r in cr.fetchall()}
        cr.execute(
            """
            SELECT partner_id FROM pulse_partner_stats
             WHERE partner_id = ANY(%s) AND company_id = ANY(%s) AND amount_overdue > 0
            """,
            [partners.ids, self.company_id.ids],
        )
        facts["overdue"] = {r[0] for r in cr.fetchall()}
        params = self.env["ir.config_parameter"].sudo()
        facts["cap"] = (
            int(params.get_param("customer_pulse.cap_touches", 3) or 0),
            int(params.get_param("customer_pulse.cap_days", 7) or 0),
        )
        touches, days = facts["cap"]
        if touches > 0 and days > 0:
            cr.execute(
                """
                SELECT partner_id, COUNT(*) FROM pulse_step_run
                 WHERE partner_id = ANY(%s) AND state = 'done' AND NOT test_mode
                   AND action = ANY(%s) AND executed_at > %s
                 GROUP BY partner_id
                """,
                [partners.ids, list(TOUCHES), fields.Datetime.now() - timedelta(days=days)],
            )
            facts["touches"] = dict(cr.fetchall())
        return facts

    def _check_due(self, facts, reserved):
        """True when the run may act now; otherwise its final state is written.
        facts: from _due_facts; reserved: touches already granted in this batch, per
        customer."""
        enrolment, step = self.enrolment_id, self.step_id
        partner = enrolment.partner_id
        if enrolment.state != "running":
            self.write({"state": "cancelled", "reason": self.env._("enrolment closed")})
            return False
        reason = self._exit_reason(facts)
        if reason:
            enrolment._close(reason[0], reason[1])
            self.write({"state": "cancelled", "reason": reason[1]})
            return False
        if step.condition and partner.id not in facts["matches"][step.condition]:
            self.write(
                {
                    "state": "skipped",
                    "reason": self.env._("the condition no longer holds"),
                    "executed_at": fields.Datetime.now(),
                }
            )
            return False  # the branch stops here
        exclusion = self._exclusion_reason(facts, reserved)
        if exclusion:
            raise RunSkipped(exclusion)
        return True

    def _act(self):
        produced = getattr(self, f"_do_{self.step_id.action}")()
        self._finish({self: produced} if produced else {})
        return True

    def _finish(self, produced):
        """Mark these runs done (produced: {run: record it made}), note the first touch,
        tell who must be told and schedule what follows."""
        now = fields.Datetime.now()
        plain = self.filtered(lambda r: r not in produced)
        plain.write({"state": "done", "executed_at": now, "error": False})
        for run, record in produced.items():
            vals = {"state": "done", "executed_at": now, "error": False}
            if record:
                vals.update(res_model=record._name, res_id=record.id)
                if record._name == "mail.mail":
                    vals["mail_id"] = record.id
            run.write(vals)
        touched = self.filtered(lambda r: r.step_id.action in TOUCHES).enrolment_id
        touched.filtered(lambda e: not e.first_touch_date).write({"first_touch_date": now})
        for run in self.filtered(lambda r: r.step_id.notify_user_ids):
            run._notify()
        self._schedule_children()

    def _act_in_batch(self):
        """{run: record} when the step's action ran for all these runs at once, None when
        it has no batch form or the batch failed (each run then acts alone)."""
        batch = getattr(self, f"_batch_{self[:1].step_id.action}", None)
        if not batch or len(self) < 2 or len(self.partner_id) < len(self):
            return None
        try:
            with self.env.cr.savepoint():
                return batch()
        except Exception as e:  # one bad record: the runs act one by one
            _logger.info("pulse: batch of %s runs acts run by run: %s", len(self), e)
            return None

    def _batch_email(self):
        if any(self.mapped("test_mode")):
            return None
        template = self[0].step_id.mail_template_id.sudo()
        mails = template.send_mail_batch(
            self.partner_id.ids, force_send=False, raise_exception=True
        )
        by_partner = {mail.res_id: mail for mail in mails}
        if len(by_partner) != len(self):
            raise UserError(self.env._("the batch did not make one email per customer"))
        produced = {run: by_partner[run.partner_id.id] for run in self}
        self._track(produced)
        return produced

    def _track(self, produced):
        """Put these runs' emails under their step's tracking mailing: a trace per email
        (opens, clicks, bounces, replies) and tracked links."""
        mailing = self[0].step_id._tracking_mailing()
        vals = {"mass_mailing_id": mailing.id}
        mails = self.env["mail.mail"].sudo().concat(*produced.values())
        mails.write({"mailing_id": mailing.id})
        for mail in mails:
            if "href" in (mail.body_html or ""):  # tracked links, as a mass mailing has
                mail.body_html = mailing._shorten_links(
                    mail.body_html, vals, blacklist=["/unsubscribe_from_list", "/view", "/cards/"]
                )
        traces = [
            {
                "trace_type": "mail",
                "mail_mail_id": mail.id,
                "mass_mailing_id": mailing.id,
                "model": "res.partner",
                "res_id": run.partner_id.id,
                "email": email_normalize(run.partner_id.email or ""),
                "message_id": mail.message_id,
            }
            for run, mail in produced.items()
        ]
        self.env["mailing.trace"].sudo().create(traces)

    def _batch_activity(self):
        activities = self.env["mail.activity"].sudo().create([run._activity_vals() for run in self])
        return dict(zip(self, activities, strict=True))

    def _batch_tag_add(self):
        self.partner_id.sudo().write({"category_id": [(4, t.id) for t in self[0].step_id.tag_ids]})
        return {}

    def _batch_tag_remove(self):
        self.partner_id.sudo().write({"category_id": [(3, t.id) for t in self[0].step_id.tag_ids]})
        return {}

    def _exit_reason(self, facts):
        """(state, reason) when the enrolment must end now, else None."""
        enrolment, rule = self.enrolment_id, self.rule_id
        if enrolment.id in facts["bought"]:
            return "converted", self.env._("bought since entering")
        if rule.exit_domain and enrolment.partner_id.id in facts["matches"][rule.exit_domain]:
            return "exited", self.env._("matches the exit filter")
        return None

    def _exclusion_reason(self, facts, reserved):
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
            if rule.marketing_hold and partner.id in facts["overdue"]:
                return self.env._("owes money (marketing hold)")
            touches, days = facts["cap"]
            recent = facts["touches"].get(partner.id, 0) + reserved.get(partner.id, 0)
            if touches > 0 and days > 0 and recent >= touches:
                return self.env._(
                    "frequency cap: %(touches)s touches in %(days)s days",
                    touches=touches,
                    days=days,
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
        mail = self.env["mail.mail"].sudo().browse(mail_id)
        if not self.test_mode:
            self._track({self: mail})
        return mail

    def _do_sms(self):
        """A text through the configured channel: Odoo's SMS service (sms.sms, sent by its
        queue) or an HTTP gateway (one signed-in POST, at least once: the reference is the
        same on every attempt)."""
        if self.test_mode:
            raise RunSkipped(self.env._("test mode: no text sent"))
        params = self.env["ir.config_parameter"].sudo()
        template = self.step_id.sms_template_id
        partner = self.partner_id
        if params.get_param("customer_pulse.sms_gateway", "odoo") != "http":
            messages = partner._message_sms_with_template(
                template=template, partner_ids=partner.ids
            )
            return messages[:1] if messages else None
        number = partner._phone_format(number=partner.mobile or partner.phone or "")
        if not number:
            raise RunSkipped(self.env._("invalid phone number"))
        body = template._render_field("body", partner.ids)[partner.id]
        url = params.get_param("customer_pulse.sms_gateway_url")
        if not url:
            raise UserError(self.env._("the SMS gateway URL is not set (Settings)"))
        headers = {"Content-Type": "application/json"}
        token = params.get_param("customer_pulse.sms_gateway_token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = {"to": number, "body": body, "reference": self._idempotency_key()}
        response = self._post(url, json.dumps(payload).encode(), headers, "SMS gateway")
        return partner.sudo().message_post(
            body=self.env._(
                "Text sent to %(number)s through the SMS gateway (%(code)s): %(body)s",
                number=number,
                code=response.status_code,
                body=body,
            ),
            subtype_xmlid="mail.mt_note",
        )

    def _idempotency_key(self):
        return f"pulse-run-{self.env.cr.dbname}-{self.id}"

    def _post(self, url, body, headers, what):
        """POST with a timeout; transient failures (unreachable, timeout, 429, 5xx) are
        retried with back-off up to WEBHOOK_ATTEMPTS, other refusals fail the run. The
        call's time and response code are kept on the run either way."""
        headers = {**headers, "Idempotency-Key": self._idempotency_key()}
        started = time.monotonic()
        try:
            response = requests.post(url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT)
        except requests.RequestException as e:
            self._retry_or_fail(
                self.env._("%(what)s unreachable: %(error)s", what=what, error=e),
                {"duration_ms": int((time.monotonic() - started) * 1000)},
            )
        call = {
            "duration_ms": int((time.monotonic() - started) * 1000),
            "response_code": response.status_code,
        }
        if response.status_code >= 500 or response.status_code == 429:
            self._retry_or_fail(
                self.env._("%(what)s answered %(code)s", what=what, code=response.status_code),
                call,
            )
        if response.status_code >= 400:
            error = UserError(
                self.env._(
                    "%(what)s refused the call: %(code)s", what=what, code=response.status_code
                )
            )
            error.call = call
            raise error
        self.write(call)
        return response

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

    def _activity_vals(self):
        step = self.step_id
        return {
            "res_model_id": self.env["ir.model"]._get_id("res.partner"),
            "res_id": self.partner_id.id,
            "activity_type_id": step.activity_type_id.id,
            "summary": step.activity_summary or step.name,
            "note": step.activity_note,
            "date_deadline": fields.Date.context_today(self)
            + timedelta(days=step.activity_deadline_days),
            "user_id": self._activity_user().id,
        }

    def _do_activity(self):
        return self.env["mail.activity"].sudo().create(self._activity_vals())

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
        if survey.pulse_personal_data and not partner.commercial_partner_id.pulse_profiling_consent:
            raise RunSkipped(
                self.env._("no consent to profiling (the survey collects personal data)")
            )
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
        headers = {"Content-Type": "application/json"}
        if step.webhook_secret:
            signature = hmac.new(step.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Pulse-Signature"] = f"sha256={signature}"
        self._post(step.webhook_url, body, headers, self.env._("webhook"))

    def _retry_or_fail(self, message, call):
        if self.attempts < WEBHOOK_ATTEMPTS:
            error = RetryLater(message)
        else:
            error = UserError(
                self.env._("%(message)s (after %(n)s attempts)", message=message, n=self.attempts)
            )
        error.call = call  # kept on the run although the savepoint rolls back
        raise error


class RetryLater(Exception):
    """A transient failure: the run goes back to scheduled, later."""
