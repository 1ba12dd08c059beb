import hashlib
import hmac
import json
import logging
import re
import time
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import requests

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, email_normalize

from ..tools.cron import batch_committer
from ..tools.params import int_param
from .pulse_rule_step import CUSTOMER_FACING, TOUCHES, _is_loopback_name

_logger = logging.getLogger(__name__)

BATCH = 200  # runs claimed per transaction
TIME_BUDGET = 50  # seconds a cron call works before handing over (Odoo kills a cron at 120 s)
WEBHOOK_TIMEOUT = 10  # seconds
# external calls of a run at most, by default (setting customer_pulse.external_max_attempts)
MAX_ATTEMPTS = 3
# an external call started this long ago with no outcome recorded: its worker died
LOST_CALL_AFTER = timedelta(minutes=15)
# a query string, fragment or credentials left in a URL quoted by an error
_URL_SECRETS = re.compile(
    r"(?P<keep>(?:[a-z][a-z0-9+.-]*://|\burl: )[^\s?#'\"<>]*)[?#][^\s'\"<>)]*", re.IGNORECASE
)
_URL_USERINFO = re.compile(r"(?P<keep>[a-z][a-z0-9+.-]*://)[^/\s@'\"<>]+@", re.IGNORECASE)


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
            ("unknown", "Outcome unknown"),
            ("cancelled", "Cancelled"),
        ],
        required=True,
        default="scheduled",
        index=True,
    )
    scheduled_at = fields.Datetime(required=True, index=True)
    executed_at = fields.Datetime()
    attempts = fields.Integer(default=0)
    call_started_at = fields.Datetime(
        "Call started",
        readonly=True,
        copy=False,
        help="The external call (webhook, SMS gateway) of this run started then; cleared "
        "when its outcome is recorded.",
    )
    reason = fields.Char(
        help="Why the step was skipped or cancelled, why its outcome is unknown, or who "
        "retried it or marked it done by hand."
    )
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
            cron.sudo()._trigger(at)  # sudo: crons are administrators' records

    @api.model
    def _wake_up_for(self, triggers, always_if_running=False):
        """Wake the engine when a running rule has one of these triggers (or, with
        always_if_running, any running rule: a purchase may end enrolments)."""
        domain = [("state", "=", "running")]
        if not always_if_running:
            domain.append(("trigger", "in", list(triggers)))
        # sudo: any user's order, invoice or survey answer may wake the engine; rules
        # are only counted
        if self.env["pulse.rule"].sudo().search_count(domain, limit=1):
            self._wake_up()

    # ----------------------------------------------------------------- engine
    @api.model
    def _cron_run_engine(self):
        """Enrol, then run the due steps in batches within a time budget, checked between
        runs too: progress reported to the scheduler, a hand-over to the next call when the
        budget is spent.

        The cron is the one place commits belong: a batch commits its effects together
        with the runs it marks done, and an external call (webhook, SMS gateway) is made
        only once its claim is committed, its outcome recorded and committed right after
        (see _call_external)."""
        commit = batch_committer(self.env)

        deadline = time.monotonic() + TIME_BUDGET
        self._sweep_lost_calls()
        self._enrol_all()
        commit()
        done = 0
        while True:
            processed = self._process_due(BATCH, deadline=deadline, commit=commit)
            done += processed
            commit()
            if not processed:
                break
            if time.monotonic() > deadline:
                self._wake_up()  # the budget is spent: the next call goes on
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
                rule._pause_broken(str(e))
        return total

    @api.model
    def _claim(self, limit):
        """Claim due runs of running rules (a paused rule's steps wait): FOR UPDATE SKIP
        LOCKED, so that two workers never take the same run; the claim commits or rolls
        back with the effects. The locking SELECT is a materialized CTE: as a subquery of
        the UPDATE, the planner may run it again per row, and a row the UPDATE has just
        claimed no longer matches, so the LIMIT was passed (3 claimed for a limit of 1)."""
        self.env.flush_all()
        now = fields.Datetime.now()
        self.env.cr.execute(
            """
            WITH claimed AS MATERIALIZED (
                SELECT r.id FROM pulse_step_run r
                 WHERE r.state = 'scheduled' AND r.scheduled_at <= %(now)s
                   AND r.rule_id IN (SELECT id FROM pulse_rule WHERE state = 'running')
                 ORDER BY r.scheduled_at, r.id LIMIT %(limit)s
                   FOR UPDATE OF r SKIP LOCKED
            )
            UPDATE pulse_step_run SET state = 'processing', attempts = attempts + 1,
                   write_date = %(now)s
              FROM claimed WHERE pulse_step_run.id = claimed.id
            RETURNING pulse_step_run.id
            """,
            {"now": now, "limit": limit},
        )
        ids = sorted(r[0] for r in self.env.cr.fetchall())
        self.invalidate_model(["state", "attempts", "write_date"])
        return self.browse(ids)

    def _release(self):
        """Give back claimed runs that did not start (time budget spent, rule paused):
        scheduled again, the attempt not counted."""
        if not self:
            return
        self.env.flush_all()
        self.env.cr.execute(
            """
            UPDATE pulse_step_run SET state = 'scheduled', attempts = GREATEST(attempts - 1, 0)
             WHERE id = ANY(%s) AND state = 'processing' AND call_started_at IS NULL
            """,
            [self.ids],
        )
        self.invalidate_recordset(["state", "attempts"])

    @api.model
    def _process_due(self, limit=BATCH, deadline=None, commit=None):
        """Claim and run up to `limit` due runs. Returns how many were run.

        Each run is first checked on its own (closed enrolment, exit, condition,
        exclusions); the runs of a rule whose filters no longer evaluate wait, and the rule
        is paused with the reason. The ready runs of one step then act together where the
        action has a batch form (one template rendering for all the emails, one INSERT of
        all the activities); if the batch fails, each run acts on its own, so that one bad
        record fails only its own run. Past `deadline` (time.monotonic()), the runs not
        acted yet are given back. External calls come last, each exactly once (see
        _call_external); `commit` ends a transaction (the engine's cron commits, a plain
        call only flushes)."""
        commit = commit or self.env.flush_all
        runs = self._claim(limit)
        facts = runs._due_facts()
        waiting = runs.filtered(lambda r: r.rule_id in facts["broken"])
        for rule, error in facts["broken"].items():
            rule._pause_broken(error)
        waiting._release()
        runs -= waiting
        ready = self.browse()
        reserved = {}  # touches of this batch per customer, for the frequency cap
        for run in runs:
            if run._guarded(run._check_due, facts, reserved):
                ready |= run
                if run.step_id.action in TOUCHES and not run.test_mode:
                    reserved[run.partner_id.id] = reserved.get(run.partner_id.id, 0) + 1
        external = ready.filtered(lambda r: r._is_external())
        todo = left = ready - external

        def late():  # at least one run acts in each call, whatever the budget
            return deadline is not None and left != todo and time.monotonic() > deadline

        for step in left.step_id:
            group = left.filtered(lambda r, s=step: r.step_id == s)
            if late():
                break
            produced = group._act_in_batch()
            if produced is None:
                for run in group:
                    if late():
                        break
                    run._guarded(run._act)
                    left -= run
            else:
                group._finish(produced)
                left -= group
        if left:
            left._release()
            self._wake_up()
        commit()  # the batch's effects, and the claims of its external calls
        external._call_external(commit, deadline)
        return len(runs) - len(left)

    def _guarded(self, method, *args):
        """Call method in a savepoint; a skip or an error becomes this run's state.
        Returns method's result, or False when it did not complete."""
        now = fields.Datetime.now()
        try:
            with self.env.cr.savepoint():
                return method(*args)
        except RunSkipped as skip:
            self.write({"state": "skipped", "reason": str(skip), "executed_at": now})
            self._schedule_children()  # an unreachable customer still gets the next steps
        except Exception as e:
            _logger.info("pulse step run %s failed: %s", self.id, e)
            self.write({"state": "failed", "error": str(e) or repr(e), "executed_at": now})
        return False

    # -------------------------------------------------------- external calls
    def _is_external(self):
        """True when this run's action calls out of the machine (a webhook, a text through
        the HTTP gateway): it is made exactly once, outside the batch's transaction."""
        self.ensure_one()
        if self.step_id.action == "webhook":
            return True
        if self.step_id.action == "sms" and not self.test_mode:
            # sudo: system parameters are for administrators; the engine reads its settings
            params = self.env["ir.config_parameter"].sudo()
            return params.get_param("customer_pulse.sms_gateway", "odoo") == "http"
        return False

    def _call_external(self, commit, deadline=None):
        """Make the external calls of these claimed runs, each at most once per attempt:
        the call is marked started and committed before it is made, it is made with no
        write open, and its outcome is recorded and committed right after. A worker that
        dies in between leaves the run 'processing' with its call started: the next engine
        pass shows it as outcome unknown (_sweep_lost_calls) instead of calling again."""
        for index, run in enumerate(self):
            if index and deadline is not None and time.monotonic() > deadline:
                self[index:]._release()
                commit()
                self._wake_up()
                return
            request = run._guarded(run._external_request)
            if not request:  # skipped or failed before calling, with the reason
                commit()
                continue
            if not run._mark_call_started():
                continue  # taken back meanwhile: not ours to call any more
            commit()
            outcome = run._send(request)
            run._record_call_outcome(request, outcome)
            commit()

    def _mark_call_started(self):
        """Mark the call of this run as started, if it is still this worker's claim."""
        self.ensure_one()
        self.env.flush_all()
        now = fields.Datetime.now()
        self.env.cr.execute(
            """
            UPDATE pulse_step_run SET call_started_at = %s, write_date = %s
             WHERE id = %s AND state = 'processing' AND call_started_at IS NULL
               AND attempts = %s
            RETURNING id
            """,
            [now, now, self.id, self.attempts],
        )
        started = bool(self.env.cr.fetchall())
        self.invalidate_recordset(["call_started_at", "write_date"])
        return started

    def _external_request(self):
        """What this run's external call sends: {url, body, headers, what, secrets (kept
        out of errors), check (a last check made right before the call)...}, checked and
        rendered before the call is marked started. Raises RunSkipped or an error."""
        request = getattr(self, f"_request_{self.step_id.action}")()
        request["headers"] = {**request["headers"], "Idempotency-Key": self._idempotency_key()}
        parts = urlsplit(request["url"])
        request["secrets"] = [
            *request.get("secrets", []),
            parts.query,
            parts.fragment,
            parts.username,
            parts.password,
            *(value for _key, value in parse_qsl(parts.query)),
        ]
        return request

    def _send(self, request):
        """Make the call; no database write here. Returns the outcome: {status: 'done',
        'retry' (a transient failure) or 'failed', error, response_code, duration_ms}."""
        what = request["what"]
        started = time.monotonic()
        try:
            refusal = request["check"]() if request.get("check") else None
            if refusal:
                return {"status": "failed", "error": refusal}
            response = requests.post(
                request["url"],
                data=request["body"],
                headers=request["headers"],
                timeout=WEBHOOK_TIMEOUT,
                allow_redirects=False,
            )
        except (requests.RequestException, OSError) as e:
            return {
                "status": "retry",
                "error": self.env._("%(what)s unreachable: %(error)s", what=what, error=e),
                "duration_ms": int((time.monotonic() - started) * 1000),
            }
        code = response.status_code
        outcome = {
            "duration_ms": int((time.monotonic() - started) * 1000),
            "response_code": code,
            "status": "done",
        }
        if 300 <= code < 400:
            outcome["status"] = "failed"
            outcome["error"] = self.env._(
                "%(what)s answered a redirect (%(code)s): not followed", what=what, code=code
            )
        elif code == 429 or code >= 500:
            outcome["status"] = "retry"
            outcome["error"] = self.env._("%(what)s answered %(code)s", what=what, code=code)
        elif code >= 400:
            outcome["status"] = "failed"
            outcome["error"] = self.env._(
                "%(what)s refused the call: %(code)s", what=what, code=code
            )
        return outcome

    def _record_call_outcome(self, request, outcome):
        """Record an external call's outcome on its run, in a short transaction of its own
        (the engine commits right after): done, scheduled again after a transient failure
        while attempts are left (the same Idempotency-Key), or failed."""
        self.ensure_one()
        now = fields.Datetime.now()
        vals = {
            "call_started_at": False,
            "duration_ms": outcome.get("duration_ms", 0),
            "response_code": outcome.get("response_code", 0),
        }
        error = _redact(outcome.get("error") or "", request.get("secrets", []))
        status = outcome["status"]
        if status == "retry":
            attempts = int_param(
                self.env, "customer_pulse.external_max_attempts", MAX_ATTEMPTS, minimum=1
            )
            if self.attempts < attempts:
                at = now + timedelta(minutes=2**self.attempts)
                self.write({**vals, "state": "scheduled", "error": error, "scheduled_at": at})
                self._wake_up(at)
                return
            status = "failed"
            error = self.env._("%(error)s (after %(n)s attempts)", error=error, n=self.attempts)
        if status == "failed":
            self.write({**vals, "state": "failed", "error": error, "executed_at": now})
            return
        try:
            with self.env.cr.savepoint():
                self.write(vals)
                produced = request["done"](outcome) if request.get("done") else None
                self._finish({self: produced} if produced else {})
        except Exception as e:  # the call went through: that is never lost
            _logger.warning("pulse step run %s: call made, recording failed: %s", self.id, e)
            self.write(
                {
                    **vals,
                    "state": "done",
                    "executed_at": now,
                    "error": self.env._(
                        "called, but what follows the call failed: %(error)s",
                        error=_redact(str(e), request.get("secrets", [])),
                    ),
                }
            )

    @api.model
    def _sweep_lost_calls(self):
        """Runs whose external call started long ago with no outcome recorded: their worker
        died between the call and its record. Whether the receiver got the call is unknown,
        so it is not made again by itself: the run shows as outcome unknown, for someone to
        check with the receiver, then retry it or mark it done. Claims of calls that never
        started (the worker died before) go back to scheduled."""
        self.env.flush_all()
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                UPDATE pulse_step_run SET state = 'unknown', executed_at = %(now)s,
                       write_date = %(now)s,
                       reason = %(reason)s || to_char(call_started_at, 'YYYY-MM-DD HH24:MI:SS')
                 WHERE state = 'processing' AND call_started_at < %(limit)s
                """,
                now=now,
                limit=now - LOST_CALL_AFTER,
                reason=self.env._(
                    "outcome unknown (the call was made but its result never recorded: check "
                    "with the receiver, then retry or mark done); call started at (UTC) "
                ),
            )
        )
        self.env.cr.execute(
            """
            UPDATE pulse_step_run SET state = 'scheduled', write_date = %s
             WHERE state = 'processing' AND call_started_at IS NULL AND write_date < %s
            """,
            [now, now - LOST_CALL_AFTER],
        )
        self.invalidate_model(["state", "reason", "executed_at", "write_date"])

    # ------------------------------------------------------------ by hand
    def action_retry(self):
        """Call again runs whose outcome is unknown (once the receiver says it did not get
        the call): with the same Idempotency-Key, so that a receiver that did get it can
        ignore it."""
        self._check_unknown()
        self.write(
            {
                "state": "scheduled",
                "scheduled_at": fields.Datetime.now(),
                "call_started_at": False,
                "reason": self.env._("retried by %(user)s", user=self.env.user.name),
            }
        )
        self._wake_up()
        return True

    def action_mark_done(self):
        """Mark done runs whose outcome is unknown (the receiver says it got the call): the
        steps after them follow."""
        self._check_unknown()
        self.write(
            {
                "call_started_at": False,
                "reason": self.env._("marked done by %(user)s", user=self.env.user.name),
            }
        )
        # sudo: what follows a done run (next steps, first touch, who is told) is the
        # engine's bookkeeping, not rights of the user; theirs on these runs are checked
        self.sudo()._finish({})
        return True

    def _check_unknown(self):
        self.check_access("write")
        if any(run.state != "unknown" for run in self):
            raise UserError(
                self.env._(
                    "Only a step whose outcome is unknown is retried or marked done by hand."
                )
            )

    def _due_facts(self):
        """What the checks of these runs need, read set-based once for the batch: who
        bought since entering, who matches the exit filters and step conditions, who owes
        money, how many touches each customer had lately. A rule whose filter no longer
        evaluates (a field removed since…) is in facts['broken'] with the error: its runs
        wait, the other rules' go on."""
        cr = self.env.cr
        self.env.flush_all()
        partners = self.partner_id
        # prefetch what the per-run checks read
        partners.mapped("email")
        partners.mapped("is_blacklisted")
        partners.mapped("pulse_profiling_objection")
        facts = {"bought": set(), "matches": {}, "overdue": set(), "touches": {}, "broken": {}}
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
            if rule in facts["broken"]:
                continue
            try:
                with cr.savepoint():
                    query = rule._partner_query(text)
                    if query is None:
                        matches = set(partners.ids)
                    else:
                        cr.execute(
                            SQL("SELECT id FROM (%s) q WHERE id = ANY(%s)", query, partners.ids)
                        )
                        matches = {r[0] for r in cr.fetchall()}
            except Exception as e:
                _logger.warning("rule %s (%s): a filter fails: %s", rule.id, rule.name, e)
                facts["broken"][rule] = self.env._(
                    "the filter %(filter)s cannot be evaluated: %(error)s", filter=text, error=e
                )
                continue
            # per rule: the same text reads with each rule's responsible and company
            facts["matches"][rule.id, text] = matches
        cr.execute(
            """
            SELECT partner_id FROM pulse_partner_stats
             WHERE partner_id = ANY(%s) AND company_id = ANY(%s) AND amount_overdue > 0
            """,
            [partners.ids, self.company_id.ids],
        )
        facts["overdue"] = {r[0] for r in cr.fetchall()}
        # the payment follow-up's marketing hold: {(customer, company): level name}
        facts["followup_hold"] = self.env["pulse.followup"]._held(
            partners.commercial_partner_id.ids, self.company_id.ids
        )
        facts["cap"] = (
            int_param(self.env, "customer_pulse.cap_touches", 3, minimum=0),
            int_param(self.env, "customer_pulse.cap_days", 7, minimum=1),
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
        matches = facts["matches"].get((self.rule_id.id, step.condition), ())
        if step.condition and partner.id not in matches:
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
        # sudo: the engine renders the step's template for the company, whoever runs
        # the cron
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
        # sudo: the engine's emails are filed under the step's tracking mailing
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
        # sudo: the traces are the engine's record of what it sent
        self.env["mailing.trace"].sudo().create(traces)

    def _batch_activity(self):
        # sudo: the engine schedules the step's activities for the company
        activities = self.env["mail.activity"].sudo().create([run._activity_vals() for run in self])
        return dict(zip(self, activities, strict=True))

    def _batch_tag_add(self):
        # sudo: the engine tags the customers for the company
        self.partner_id.sudo().write({"category_id": [(4, t.id) for t in self[0].step_id.tag_ids]})
        return {}

    def _batch_tag_remove(self):
        # sudo: the engine untags the customers for the company
        self.partner_id.sudo().write({"category_id": [(3, t.id) for t in self[0].step_id.tag_ids]})
        return {}

    def _exit_reason(self, facts):
        """(state, reason) when the enrolment must end now, else None."""
        enrolment, rule = self.enrolment_id, self.rule_id
        if enrolment.id in facts["bought"]:
            return "converted", self.env._("bought since entering")
        matches = facts["matches"].get((rule.id, rule.exit_domain), ())
        if rule.exit_domain and enrolment.partner_id.id in matches:
            return "exited", self.env._("matches the exit filter")
        return None

    def _exclusion_reason(self, facts, reserved):
        """Why this customer must not get this step now (checked when it is due)."""
        partner, step, rule = self.partner_id, self.step_id, self.rule_id
        if not partner.active:
            return self.env._("archived")
        # in test mode too: what the customer would get is shown as it will be
        if (
            step.action in CUSTOMER_FACING
            and partner.commercial_partner_id.pulse_profiling_objection
        ):
            return self.env._("objects to profiling")
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
        held = facts.get("followup_hold", {}).get(
            (partner.commercial_partner_id.id, self.company_id.id)
        )
        if held and (step.action in TOUCHES or step.action == "list_add") and not self.test_mode:
            return self.env._("follow-up level %(level)s", level=held)
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
        # sudo: the engine renders and queues the step's email for the company
        mail_id = template.sudo().send_mail(
            self.partner_id.id, force_send=False, raise_exception=True, email_values=values
        )
        mail = self.env["mail.mail"].sudo().browse(mail_id)
        if not self.test_mode:
            self._track({self: mail})
        return mail

    def _do_sms(self):
        """A text through Odoo's SMS service (sms.sms, sent by its queue). Through the HTTP
        gateway, the text is an external call (_request_sms)."""
        if self.test_mode:
            raise RunSkipped(self.env._("test mode: no text sent"))
        partner = self.partner_id
        messages = partner._message_sms_with_template(
            template=self.step_id.sms_template_id, partner_ids=partner.ids
        )
        return messages[:1] if messages else None

    def _request_sms(self):
        """A text through the HTTP gateway: one JSON POST with a bearer token, its reference
        the run's Idempotency-Key (the same on every attempt)."""
        # sudo: the gateway's URL and token are system parameters, for administrators
        params = self.env["ir.config_parameter"].sudo()
        template = self.step_id.sms_template_id
        partner = self.partner_id
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

        def done(outcome):
            # sudo: the note on the customer records what the rule sent, whoever reads it
            return partner.sudo().message_post(
                body=self.env._(
                    "Text sent to %(number)s through the SMS gateway (%(code)s): %(body)s",
                    number=number,
                    code=outcome["response_code"],
                    body=body,
                ),
                subtype_xmlid="mail.mt_note",
            )

        return {
            "url": url,
            "body": json.dumps(payload).encode(),
            "headers": headers,
            "what": self.env._("SMS gateway"),
            "secrets": [token],
            "done": done,
        }

    def _idempotency_key(self):
        """The same for every attempt of this run: the receiver deduplicates on it."""
        return f"pulse-run-{self.env.cr.dbname}-{self.id}"

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
        # sudo: the engine schedules the step's activity for the company
        return self.env["mail.activity"].sudo().create(self._activity_vals())

    def _do_note(self):
        # sudo: the engine logs the step's note on the customer for the company
        return self.partner_id.sudo().message_post(
            body=self.step_id.note_body, subtype_xmlid="mail.mt_note"
        )

    def _do_tag_add(self):
        # sudo: the engine tags the customer for the company
        self.partner_id.sudo().category_id = [(4, t.id) for t in self.step_id.tag_ids]

    def _do_tag_remove(self):
        # sudo: the engine untags the customer for the company
        self.partner_id.sudo().category_id = [(3, t.id) for t in self.step_id.tag_ids]

    def _list_subscription(self):
        partner = self.partner_id
        email = email_normalize(partner.email or "")
        if not email:
            raise RunSkipped(self.env._("no valid email"))
        mailing_list = self.step_id.mailing_list_id
        # sudo: the engine changes the list the marketer chose, for the company
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
        # sudo: the engine finds or makes the list's contact, for the company
        contact = self.env["mailing.contact"].sudo().search(
            [("email_normalized", "=", email)], limit=1
        ) or self.env["mailing.contact"].sudo().create({"name": partner.name, "email": email})
        # sudo: the engine subscribes the contact, for the company
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
        # sudo: the engine invites for the company; invitations need survey rights
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
        # sudo: the participation the invitation just made, to record it on the run
        return (
            self.env["survey.user_input"]
            .sudo()
            .search([("survey_id", "=", survey.id)], order="id desc", limit=1)
        )

    def _do_server_action(self):
        """Run the step's server action on the customer with the rights of the rule's
        responsible (never as superuser), once checked again that they may run it: its
        groups may have changed since the step was saved."""
        rule, step = self.rule_id, self.step_id
        refusal = step._server_action_refusal(rule.user_id)
        if refusal:
            raise UserError(refusal)
        step.server_action_id.with_user(rule.user_id).with_company(rule.company_id).with_context(
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

    def _request_webhook(self):
        """The signed JSON payload to the step's URL, checked again now: https (http only
        to this machine, for a rule in test mode, which calls no other receiver), and right
        before the call, where its host points (private addresses refused unless allowed).
        At-least-once delivery: the receiver deduplicates on the Idempotency-Key."""
        # sudo: the signing secret is for managers; the engine signs with it
        step = self.step_id.sudo()
        refusal = step._webhook_url_refusal(self.test_mode)
        if self.test_mode and (refusal or not _is_loopback_url(step.webhook_url)):
            raise RunSkipped(self.env._("test mode: webhook not called (only on this machine)"))
        if refusal:
            raise UserError(refusal)
        body = json.dumps(self._webhook_payload(), sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        if step.webhook_secret:
            signature = hmac.new(step.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Pulse-Signature"] = f"sha256={signature}"
        return {
            "url": step.webhook_url.strip(),
            "body": body,
            "headers": headers,
            "what": self.env._("webhook"),
            "secrets": [step.webhook_secret],
            "check": lambda: step._webhook_address_refusal(self.test_mode),
        }


def _is_loopback_url(url):
    host = (urlsplit((url or "").strip()).hostname or "").lower()
    return _is_loopback_name(host)


def _redact(text, secrets):
    """The text of an error without the query strings, fragments and credentials of the
    URLs it quotes, nor any of the given secrets (tokens, query values)."""
    text = _URL_USERINFO.sub(r"\g<keep>", text)
    text = _URL_SECRETS.sub(r"\g<keep>", text)
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "…")
    return text
