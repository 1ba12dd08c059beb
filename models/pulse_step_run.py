import logging
import re
import time
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

import requests

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..tools.params import setting
from ..tools.schema import add_missing_columns, create_missing_indexes
from .pulse_rule_step import TOUCHES

_logger = logging.getLogger(__name__)

CALL_TIMEOUT = 10  # seconds an external call (webhook, SMS gateway) may take
# an external call started this long ago with no outcome recorded: its worker died
LOST_CALL_AFTER = timedelta(minutes=15)
# a call that failed for a while is made again after RETRY_UNIT * 2 ** attempts
RETRY_UNIT = timedelta(minutes=1)
# runs of one step act together (the action's batch form) from this many on
MIN_BATCH = 2
# secrets shorter than this are not blanked out of errors (they would blank common words)
SECRET_MIN_CHARS = 4
# a query string, fragment or credentials left in a URL quoted by an error
_URL_SECRETS = re.compile(
    r"(?P<keep>(?:[a-z][a-z0-9+.-]*://|\burl: )[^\s?#'\"<>]*)[?#][^\s'\"<>)]*", re.IGNORECASE
)
_URL_USERINFO = re.compile(r"(?P<keep>[a-z][a-z0-9+.-]*://)[^/\s@'\"<>]+@", re.IGNORECASE)


class RunSkipped(Exception):
    """The run is skipped, with this reason."""


# What followed a run done (not in test mode), for the return on segment actions: the
# segments its customer was a member of when it ran, and what the customer was invoiced
# (untaxed, net of credit notes) within the rule's attribution window from that day on.
# Recorded by the engine's upkeep (pulse.rule.engine _upkeep: the new runs and the runs of
# customers who were invoiced since, at each call; every run of the attribution horizon once
# a day), so that the report reads them instead of looking them up run by run; runs not
# recorded yet (done since the last call) are looked up by the report.
OUTCOME_COLUMNS = {
    "outcome_segment_ids": "integer[]",
    "outcome_revenue": "numeric",
    "outcome_bought": "boolean",
    "outcome_at": "timestamp",
}


def outcome_todo(prefix="run."):
    """The runs done whose outcome is not recorded yet: the predicate of their partial
    index (prefix ""), and what the report looks up (prefix: the runs' alias)."""
    return (
        f"{prefix}state = 'done' AND {prefix}test_mode IS NOT TRUE AND {prefix}outcome_at IS NULL"
    )


RUN_STATES = [
    ("scheduled", "Scheduled"),
    ("processing", "Processing"),
    ("done", "Done"),
    ("skipped", "Skipped"),
    ("failed", "Failed"),
    ("unknown", "Outcome unknown"),
    ("cancelled", "Cancelled"),
]


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
        RUN_STATES,
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
        create_missing_indexes(
            self.env.cr,
            {
                # the engine's claim: due scheduled runs in its order (scheduled_at, id),
                # read from the index's start instead of sorting every scheduled run
                "pulse_step_run_claim_idx": "ON pulse_step_run (scheduled_at, id)"
                " WHERE state = 'scheduled'",
                # the enrolments' upkeep: has an enrolment anything left to run?
                "pulse_step_run_pending_idx": "ON pulse_step_run (enrolment_id)"
                " WHERE state IN ('scheduled', 'processing', 'unknown')",
            },
        )
        # (runs done before these columns are recorded by the engine's next call)
        add_missing_columns(self.env.cr, self._table, OUTCOME_COLUMNS)
        create_missing_indexes(
            self.env.cr,
            {"pulse_step_run_outcome_todo_idx": "ON pulse_step_run (id) WHERE " + outcome_todo("")},
        )

    # ------------------------------------------------------------ outcomes
    @api.model
    def _outcome_sql(self, where):
        """SELECT of the runs done (not in test mode) that `where` (SQL on alias run) keeps:
        id, company_id, rule_id, step_id, action, executed_at, segment_ids (the segments
        of the customer when it ran), revenue (invoiced to the customer within the rule's
        attribution window from that day, net of credit notes) and bought (an invoice among
        them)."""
        return SQL(
            """
            SELECT run.id, run.company_id, run.rule_id, run.step_id, run.action,
                   run.executed_at, COALESCE(seg.ids, '{}') AS segment_ids,
                   COALESCE(inv.revenue, 0) AS revenue, COALESCE(inv.bought, FALSE) AS bought
              FROM pulse_step_run run
              JOIN pulse_rule r ON r.id = run.rule_id
              LEFT JOIN LATERAL (
                   SELECT array_agg(mem.segment_id ORDER BY mem.segment_id) AS ids
                     FROM pulse_segment_member mem
                    WHERE mem.partner_id = run.partner_id
                      AND mem.date_entered <= run.executed_at
                      AND (mem.date_left IS NULL OR mem.date_left > run.executed_at)
              ) seg ON TRUE
              LEFT JOIN LATERAL (
                   SELECT SUM(m.amount_untaxed_signed) AS revenue,
                          BOOL_OR(m.move_type = 'out_invoice') AS bought
                     FROM account_move m
                    WHERE m.commercial_partner_id = run.partner_id
                      AND m.company_id = run.company_id AND m.state = 'posted'
                      AND m.move_type IN ('out_invoice', 'out_refund')
                      AND m.invoice_date >= run.executed_at::date
                      AND m.invoice_date <= run.executed_at::date + r.attribution_days
              ) inv ON TRUE
             WHERE run.state = 'done' AND run.test_mode IS NOT TRUE AND %s
            """,
            where,
        )

    @api.model
    def _record_outcomes(self, where):
        """Record the outcome of the runs done that `where` (SQL on alias run) keeps, in one
        UPDATE of the rows whose outcome is new or changed, and add up again the totals of
        their rules, steps and months (pulse.segment.action.total)."""
        self.env.flush_all()  # runs, memberships, invoices and rules are read
        changed = self.env.execute_query(
            SQL(
                """
                UPDATE pulse_step_run run
                   SET outcome_segment_ids = o.segment_ids, outcome_revenue = o.revenue,
                       outcome_bought = o.bought, outcome_at = %(now)s
                  FROM (%(outcomes)s) o
                 WHERE run.id = o.id
                   AND (run.outcome_at IS NULL
                        OR run.outcome_segment_ids IS DISTINCT FROM o.segment_ids
                        OR run.outcome_revenue IS DISTINCT FROM o.revenue
                        OR run.outcome_bought IS DISTINCT FROM o.bought)
                RETURNING run.rule_id, run.step_id, date_trunc('month', run.executed_at)::date
                """,
                now=fields.Datetime.now(),
                outcomes=self._outcome_sql(where),
            )
        )
        self.env["pulse.segment.action.total"]._recount(sorted(set(changed)))

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
        self.env["pulse.rule.engine"]._wake_up()
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
        # sudo: what follows a done run (next steps, first touch, who is told, the
        # enrolment completed) is the engine's bookkeeping, not rights of the user; theirs
        # on these runs are checked
        self.sudo()._finish({})
        self.env["pulse.enrolment"].sudo()._sweep(SQL("AND e.id = ANY(%s)", self.enrolment_id.ids))
        return True

    def _check_unknown(self):
        self.check_access("write")
        if any(run.state != "unknown" for run in self):
            raise UserError(
                self.env._(
                    "Only a step whose outcome is unknown is retried or marked done by hand."
                )
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
        self.env["pulse.rule.engine"]._wake_up(min(now + s._delay() for s in roots))

    def _schedule_children(self):
        """Schedule the steps that follow these (done or skipped) runs, in one INSERT (a
        step already scheduled for an enrolment is not scheduled twice)."""
        now = fields.Datetime.now()
        rows = [
            (run.enrolment_id.id, child.id, now + child._delay(), run.test_mode)
            for run in self
            for child in run.step_id.child_ids
        ]
        if not rows:
            return
        self.env["pulse.enrolment"].flush_model(["rule_id", "partner_id", "company_id"])
        self.env["pulse.rule.step"].flush_model(["action"])
        enrolments, steps, dates, tests = map(list, zip(*rows, strict=True))
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO pulse_step_run (enrolment_id, step_id, rule_id, partner_id,
                       company_id, action, state, scheduled_at, test_mode, attempts,
                       create_uid, write_uid, create_date, write_date)
                SELECT e.id, st.id, e.rule_id, e.partner_id, e.company_id, st.action,
                       'scheduled', n.at, n.test, 0, %(uid)s, %(uid)s, %(now)s, %(now)s
                  FROM UNNEST(%(enrolments)s::integer[], %(steps)s::integer[],
                              %(dates)s::timestamp[], %(tests)s::boolean[])
                       AS n(enrolment_id, step_id, at, test)
                  JOIN pulse_enrolment e ON e.id = n.enrolment_id
                  JOIN pulse_rule_step st ON st.id = n.step_id
                ON CONFLICT DO NOTHING
                """,
                uid=self.env.uid,
                now=now,
                enrolments=enrolments,
                steps=steps,
                dates=dates,
                tests=tests,
            )
        )
        self.env["pulse.enrolment"].invalidate_model(["run_ids"])
        self.env["pulse.rule.step"].invalidate_model(["run_ids"])
        self.env["pulse.rule.engine"]._wake_up(min(dates))

    @api.model
    def _cancel_scheduled(self, enrolment_ids, reason):
        """Cancel the runs still scheduled of these (closed) enrolments, set-based."""
        if not enrolment_ids:
            return
        self.flush_model(["enrolment_id", "state", "reason"])
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                UPDATE pulse_step_run SET state = 'cancelled', reason = %(reason)s,
                       write_date = %(now)s
                 WHERE enrolment_id = ANY(%(ids)s) AND state = 'scheduled'
                """,
                reason=reason,
                now=now,
                ids=list(enrolment_ids),
            )
        )
        self.invalidate_model(["state", "reason", "write_date"])

    # ----------------------------------------------------------------- claims
    @api.model
    def _claim(self, limit):
        """Claim due runs of running rules (a paused rule's steps wait): FOR UPDATE SKIP
        LOCKED, so that two workers never take the same run; the claim commits or rolls
        back with the effects. The locking SELECT is a materialized CTE: as a subquery of
        the UPDATE, the planner may run it again per row, and a row the UPDATE has just
        claimed no longer matches, so the LIMIT was passed (3 claimed for a limit of 1)."""
        self.flush_model(["state", "scheduled_at", "rule_id", "attempts"])
        self.env["pulse.rule"].flush_model(["state"])
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
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
                now=now,
                limit=limit,
            ),
            # a serialization failure is the caller's to handle (see pulse.rule.engine
            # _claim_due): not an error to log
            log_exceptions=False,
        )
        ids = sorted(r[0] for r in self.env.cr.fetchall())
        self.invalidate_model(["state", "attempts", "write_date"])
        return self.browse(ids)

    def _release(self):
        """Give back claimed runs that did not start (time budget spent, rule paused):
        scheduled again, the attempt not counted."""
        if not self:
            return
        self.flush_model(["state", "attempts", "call_started_at"])
        self.env.cr.execute(
            SQL(
                """
                UPDATE pulse_step_run
                   SET state = 'scheduled', attempts = GREATEST(attempts - 1, 0)
                 WHERE id = ANY(%s) AND state = 'processing' AND call_started_at IS NULL
                """,
                self.ids,
            )
        )
        self.invalidate_recordset(["state", "attempts"])

    # ----------------------------------------------------------------- acting
    def _guarded(self, method, *args):
        """Call method in a savepoint; a skip or an error becomes this run's state.
        Returns method's result, or False when it did not complete."""
        try:
            with self.env.cr.savepoint():
                return method(*args)
        except Exception as e:
            self._fail(e)
        return False

    def _fail(self, error):
        """This run did not act because of `error`: skipped with its reason (RunSkipped:
        the next steps follow, an unreachable customer still gets them) or failed."""
        now = fields.Datetime.now()
        if isinstance(error, RunSkipped):
            self.write({"state": "skipped", "reason": str(error), "executed_at": now})
            self._schedule_children()
            return
        _logger.info("pulse step run %s failed: %s", self.id, error)
        self.write({"state": "failed", "error": str(error) or repr(error), "executed_at": now})

    def _act(self):
        """Do this run's step alone (its action family's _act), then finish it."""
        produced = self.step_id._action_model()._act(self)
        self._finish({self: produced} if produced else {})
        return True

    def _act_in_batch(self):
        """{run: record, or the error that run alone failed with} when the step's action
        ran for all these runs (of one step) at once, None when it has no batch form or the
        batch failed (each run then acts alone)."""
        if len(self) < MIN_BATCH or len(self.partner_id) < len(self):
            return None
        try:
            with self.env.cr.savepoint():
                return self[0].step_id._action_model()._act_batch(self)
        except Exception as e:  # one bad record: the runs act one by one
            _logger.info("pulse: batch of %s runs acts run by run: %s", len(self), e)
            return None

    def _finish(self, produced):
        """Mark these runs done (produced: {run: record it made}), note the first touch,
        tell who must be told and schedule what follows."""
        if not self:
            return
        now = fields.Datetime.now()
        self._mark_done(now, {run: record for run, record in produced.items() if record})
        touched = self.filtered(lambda r: r.step_id.action in TOUCHES).enrolment_id
        touched._note_first_touch(now)
        for run in self.filtered(lambda r: r.step_id.notify_user_ids):
            run._notify()
        self._schedule_children()

    def _mark_done(self, now, produced):
        """Mark these runs done, each with the record it made if any ({run: record}; an
        email also as the run's email), all in one UPDATE."""
        self.flush_recordset()  # nothing the ORM holds back overwrites these later
        records = [produced.get(run) for run in self]
        self.env.cr.execute(
            SQL(
                """
                UPDATE pulse_step_run r
                   SET state = 'done', executed_at = %(now)s, error = NULL,
                       write_date = %(now)s, write_uid = %(uid)s,
                       res_model = COALESCE(v.model, r.res_model),
                       res_id = COALESCE(v.res_id, r.res_id),
                       mail_id = CASE WHEN v.model IS NULL THEN r.mail_id ELSE v.mail_id END
                  FROM UNNEST(%(ids)s::integer[], %(models)s::varchar[], %(res_ids)s::integer[],
                              %(mail_ids)s::integer[]) AS v(id, model, res_id, mail_id)
                 WHERE r.id = v.id
                """,
                now=now,
                uid=self.env.uid,
                ids=self.ids,
                models=[record._name if record else None for record in records],
                res_ids=[record.id if record else None for record in records],
                mail_ids=[
                    record.id if record and record._name == "mail.mail" else None
                    for record in records
                ],
            )
        )
        done = ["state", "executed_at", "error", "res_model", "res_id", "mail_id"]
        self.invalidate_recordset([*done, "write_date", "write_uid"])

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

    # -------------------------------------------------------- external calls
    def _is_external(self):
        """True when this run's action calls out of the machine (a webhook, a text through
        the HTTP gateway): it is made exactly once, outside the batch's transaction."""
        self.ensure_one()
        return self.step_id._action_model()._is_external(self)

    def _idempotency_key(self):
        """The same for every attempt of this run: the receiver deduplicates on it."""
        return f"pulse-run-{self.env.cr.dbname}-{self.id}"

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
                self.env["pulse.rule.engine"]._wake_up()
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
        self.flush_model(["state", "call_started_at", "attempts"])
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                UPDATE pulse_step_run SET call_started_at = %(now)s, write_date = %(now)s
                 WHERE id = %(id)s AND state = 'processing' AND call_started_at IS NULL
                   AND attempts = %(attempts)s
                RETURNING id
                """,
                now=now,
                id=self.id,
                attempts=self.attempts,
            )
        )
        started = bool(self.env.cr.fetchall())
        self.invalidate_recordset(["call_started_at", "write_date"])
        return started

    def _external_request(self):
        """What this run's external call sends (its action family's _request), with the
        Idempotency-Key, checked and rendered before the call is marked started. Raises
        RunSkipped or an error."""
        request = self.step_id._action_model()._request(self)
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
                timeout=CALL_TIMEOUT,
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
        if HTTPStatus.MULTIPLE_CHOICES <= code < HTTPStatus.BAD_REQUEST:
            outcome["status"] = "failed"
            outcome["error"] = self.env._(
                "%(what)s answered a redirect (%(code)s): not followed", what=what, code=code
            )
        elif code == HTTPStatus.TOO_MANY_REQUESTS or code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            outcome["status"] = "retry"
            outcome["error"] = self.env._("%(what)s answered %(code)s", what=what, code=code)
        elif code >= HTTPStatus.BAD_REQUEST:
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
            attempts = setting(self.env, "external_max_attempts")
            if self.attempts < attempts:
                at = now + RETRY_UNIT * 2**self.attempts
                self.write({**vals, "state": "scheduled", "error": error, "scheduled_at": at})
                self.env["pulse.rule.engine"]._wake_up(at)
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
        self.flush_model(["state", "call_started_at", "executed_at", "reason", "write_date"])
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
            SQL(
                """
                UPDATE pulse_step_run SET state = 'scheduled', write_date = %(now)s
                 WHERE state = 'processing' AND call_started_at IS NULL
                   AND write_date < %(limit)s
                """,
                now=now,
                limit=now - LOST_CALL_AFTER,
            )
        )
        self.invalidate_model(["state", "reason", "executed_at", "write_date"])


def _redact(text, secrets):
    """The text of an error without the query strings, fragments and credentials of the
    URLs it quotes, nor any of the given secrets (tokens, query values)."""
    text = _URL_USERINFO.sub(r"\g<keep>", text)
    text = _URL_SECRETS.sub(r"\g<keep>", text)
    for secret in sorted(
        {s for s in secrets if s and len(s) >= SECRET_MIN_CHARS}, key=len, reverse=True
    ):
        text = text.replace(secret, "…")
    return text
