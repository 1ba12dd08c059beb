import logging
import time
from datetime import timedelta

from psycopg2.errors import SerializationFailure

from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.cron import batch_committer
from ..tools.params import param_key, setting
from .pulse_enrolment import ATTRIBUTION_HORIZON
from .pulse_step_run import RunSkipped, outcome_todo

_logger = logging.getLogger(__name__)

BATCH = 500  # runs claimed per transaction
TIME_BUDGET = 50  # seconds a cron call works before handing over (Odoo kills a cron at 120 s)
# each call of the engine looks after the enrolments of the customers whose orders or
# invoices are dated this recently (it runs every 15 minutes, and when an order is confirmed)
UPKEEP_LOOKBACK = timedelta(hours=2)
# claims tried on a fresh snapshot when another worker committed the same runs first
CLAIM_ATTEMPTS = 3


class PulseRuleEngine(models.AbstractModel):
    """The rules' engine, run by its cron: enrol the customers the running rules let in,
    then run the due steps in batches (claimed on pulse.step.run, checked against the
    rules' policies on pulse.rule.policy, acted by their action family, pulse.action.*),
    then the enrolments' upkeep (see _upkeep). Documents that trigger rules wake it up."""

    _name = "pulse.rule.engine"
    _description = "Rule engine"

    @api.model
    def _cron_run_engine(self):
        """Enrol, then run the due steps in batches within a time budget, checked between
        runs too: progress reported to the scheduler, a hand-over to the next call when the
        budget is spent.

        The cron is the one place commits belong: a batch commits its effects together
        with the runs it marks done, and an external call (webhook, SMS gateway) is made
        only once its claim is committed, its outcome recorded and committed right after
        (see pulse.step.run _call_external)."""
        commit = batch_committer(self.env)
        Run = self.env["pulse.step.run"]
        deadline = time.monotonic() + TIME_BUDGET
        Run._sweep_lost_calls()
        self._enrol_all()
        commit()
        done, spent = 0, False
        while True:
            processed = self._process_due(BATCH, deadline=deadline, commit=commit)
            done += processed
            commit()
            if not processed:
                break
            if processed == BATCH and done == BATCH:
                # a full batch: more is due, the second worker takes its share (in a cron
                # thread of its own, when the server has a free one)
                self._wake_up_helper()
            if time.monotonic() > deadline:
                self._wake_up()  # the budget is spent: the next call goes on
                spent = True
                break
        self._upkeep()
        self._compact_tally()
        # what is left is reported only when the budget is not spent: the scheduler runs a
        # job that reports more work again in the same worker, whose time limit (120 s)
        # would then kill it mid-batch; a spent call leaves the rest to the wake-up above
        remaining = (
            0
            if spent
            else Run.search_count(
                [("state", "=", "scheduled"), ("scheduled_at", "<=", fields.Datetime.now())]
            )
        )
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done

    @api.model
    def _cron_help_engine(self):
        """The engine's second worker: only runs due steps, in batches, within the same
        time budget, alongside the engine's cron (which enrols and looks after the
        enrolments alone). Woken by the engine when a full batch was due: on a server with
        two cron threads (Odoo's default) a large campaign uses both. Two workers never
        run one step twice: a batch is claimed with its rows locked (SKIP LOCKED, see
        pulse.step.run _claim) and marked done in the transaction of its effects."""
        commit = batch_committer(self.env)
        deadline = time.monotonic() + TIME_BUDGET
        done = 0
        while time.monotonic() < deadline:
            processed = self._process_due(BATCH, deadline=deadline, commit=commit)
            commit()
            done += processed
            if not processed:
                break
        # what is left is the engine's (its wake-up is set by whoever left it); what this
        # worker did is recorded by the engine's upkeep (outcomes of the runs, completed
        # enrolments): it is asked to run once this worker is through
        if done:
            self._wake_up()
        self.env["ir.cron"]._notify_progress(done=done, remaining=0)
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
    def _process_due(self, limit=BATCH, deadline=None, commit=None):
        """Claim and run up to `limit` due runs. Returns how many were run.

        Each run is first checked on its own against the policies (closed enrolment, exit,
        condition, exclusions); the runs of a rule whose filters no longer evaluate wait,
        and the rule is paused with the reason. The ready runs of one step then act
        together where the action has a batch form (one template rendering for all the
        emails, one INSERT of all the activities); if the batch fails, each run acts on its
        own, so that one bad record fails only its own run. Past `deadline`
        (time.monotonic()), the runs not acted yet are given back. External calls come
        last, each exactly once (see pulse.step.run _call_external). The batch's enrolments
        with nothing left to run are completed at its end (its checks closed those whose
        customer bought; the revenue its touches may earn is an invoice of the day, which the
        call's upkeep attributes, see _upkeep); `commit` ends a transaction (the engine's
        cron commits, a plain call only flushes)."""
        commit = commit or self.env.flush_all
        runs = self._claim_due(limit, commit)
        facts = self.env["pulse.rule.policy"]._due_facts(runs)
        waiting = runs.filtered(lambda r: r.rule_id in facts["broken"])
        for rule, error in facts["broken"].items():
            rule._pause_broken(error)
        waiting._release()
        runs -= waiting
        ready = self._check_due(runs, facts)
        external = ready.filtered(lambda r: r._is_external())
        left = self._act_by_step(ready - external, deadline)
        if left:
            left._release()
            self._wake_up()
        commit()  # the batch's effects, and the claims of its external calls
        external._call_external(commit, deadline)
        if runs:  # the batch's enrolments with nothing left to run are completed
            self.env["pulse.enrolment"]._complete(SQL("AND e.id = ANY(%s)", runs.enrolment_id.ids))
        return len(runs) - len(left)

    @api.model
    def _claim_due(self, limit, commit):
        """Claim up to `limit` due runs. With two workers (the engine and its second
        worker), a claim may find runs the other one committed after this transaction's
        snapshot was taken: PostgreSQL refuses it (a serialization failure, as Odoo's
        scheduler meets when it acquires a job); between the cron's batches the claim is
        then tried again on a fresh snapshot, elsewhere the error is raised."""
        restart = getattr(commit, "restart", None)
        attempts = CLAIM_ATTEMPTS if restart else 1
        for _attempt in range(1, attempts):
            try:
                return self.env["pulse.step.run"]._claim(limit)
            except SerializationFailure:
                _logger.debug("pulse: claim met another worker's commit, claiming again")
                restart()
        return self.env["pulse.step.run"]._claim(limit)  # the last attempt raises

    @api.model
    def _check_due(self, runs, facts):
        """The runs that may act now, each checked against the policies; the others get
        their final state (a skipped run's next steps are scheduled, all at once). The
        checks only write final states in the cache: no savepoint per run, so that a batch
        costs the same queries for 5 runs as for 200."""
        Policy = self.env["pulse.rule.policy"]
        ready, skipped = [], []
        reserved = {}  # touches of this batch per customer, for the frequency cap
        now = fields.Datetime.now()
        for run in runs:
            try:
                if Policy._check_due(run, facts, reserved):
                    ready.append(run.id)
            except RunSkipped as skip:
                run.write({"state": "skipped", "reason": str(skip), "executed_at": now})
                skipped.append(run.id)
            except Exception as e:
                _logger.info("pulse step run %s failed its checks: %s", run.id, e)
                run.write({"state": "failed", "error": str(e) or repr(e), "executed_at": now})
        # an unreachable customer still gets the next steps
        runs.browse(skipped)._schedule_children()
        return runs.browse(ready)

    @api.model
    def _act_by_step(self, todo, deadline=None):
        """Make these ready runs act, the runs of one step together where the action has a
        batch form, else (or if the batch fails) one by one; past `deadline`, stop (at
        least one run acts). Returns the runs that did not act."""
        left = todo

        def late():
            return deadline is not None and left != todo and time.monotonic() > deadline

        for step in todo.step_id:
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
                continue
            failed = group.browse()
            for run, error in produced.items():
                if isinstance(error, Exception):  # that customer alone
                    run._fail(error)
                    failed |= run
            (group - failed)._finish({r: p for r, p in produced.items() if r not in failed})
            left -= group
        return left

    # ----------------------------------------------------------------- upkeep
    @api.model
    def _compact_tally(self):
        """Merge the run counts' rows of differences the call's batches wrote (only this
        worker does, the second one only adds rows). Runs counted again meanwhile (a
        customer deleted) make it wait for the next call."""
        self._unless_changed_meanwhile(self.env["pulse.step.run.tally"]._compact, "run counts")

    @api.model
    def _upkeep(self):
        """The enrolments' upkeep (pulse.enrolment _sweep) at the end of a call: for all of
        them at the first call of the day, which also catches what no date shows (an
        invoice cancelled, a step deleted, a back-dated order); otherwise for the customers
        whose orders or invoices are dated since UPKEEP_LOOKBACK only (which includes
        every invoice of the day: the revenue of the touches made today). The enrolments
        of the runs a batch handled were completed with the batch (_process_due): nothing
        is left to look at for the others, which did not change. Then what followed the
        runs (pulse.step.run _record_outcomes, for the return on segment actions): the
        runs done since the last call, and those of the same customers as above; all of
        the attribution horizon at the first call of the day, with the totals added up
        again from scratch."""
        Enrolment = self.env["pulse.enrolment"]
        today = fields.Date.to_string(fields.Date.context_today(self))
        if setting(self.env, "rule_upkeep_date") != today:
            Enrolment._sweep()
            self._record_outcomes(
                SQL("run.executed_at >= %s", fields.Datetime.now() - ATTRIBUTION_HORIZON)
            )
            # (which also takes out the runs deleted since, with their customer)
            self._unless_changed_meanwhile(
                self.env["pulse.segment.action.total"]._recount, "segment action totals"
            )
            # sudo: the engine's bookkeeping, whoever runs the cron
            self.env["ir.config_parameter"].sudo().set_param(param_key("rule_upkeep_date"), today)
            return
        customers = self._recent_customers(fields.Datetime.now() - UPKEEP_LOOKBACK)
        if customers:
            Enrolment._sweep(SQL("AND e.partner_id = ANY(%s)", customers))
            self._record_outcomes(SQL("run.partner_id = ANY(%s)", customers))
        self._record_outcomes(SQL(outcome_todo()))

    @api.model
    def _record_outcomes(self, where):
        """What followed the runs done that `where` keeps (pulse.step.run
        _record_outcomes)."""
        self._unless_changed_meanwhile(
            lambda: self.env["pulse.step.run"]._record_outcomes(where), "outcomes of runs"
        )

    @api.model
    def _unless_changed_meanwhile(self, work, what):
        """Do the bookkeeping `work` (a callable) in a savepoint; when it meets a commit of
        the other worker or of a user on the same rows (a serialization failure of the
        cron's snapshot), leave it to the next call."""
        try:
            with self.env.cr.savepoint(flush=False):
                work()
        except SerializationFailure:
            _logger.info("%s: changed meanwhile, left to the next call", what)

    @api.model
    def _recent_customers(self, since):
        """The customers with a confirmed order dated from `since` on, or an invoice or
        refund posted with a date from that day on (read through the indexes on those
        dates)."""
        self.env["sale.order"].flush_model(["state", "date_order", "partner_id"])
        self.env["account.move"].flush_model(
            ["state", "move_type", "invoice_date", "commercial_partner_id"]
        )
        rows = self.env.execute_query(
            SQL(
                """
                SELECT COALESCE(p.commercial_partner_id, p.id)
                  FROM sale_order so JOIN res_partner p ON p.id = so.partner_id
                 WHERE so.state = 'sale' AND so.date_order >= %(since)s
                 UNION
                SELECT m.commercial_partner_id FROM account_move m
                 WHERE m.state = 'posted' AND m.move_type IN ('out_invoice', 'out_refund')
                   AND m.invoice_date >= %(day)s AND m.commercial_partner_id IS NOT NULL
                """,
                since=since,
                day=since.date(),
            )
        )
        return [row[0] for row in rows]

    # --------------------------------------------------------------- wake-ups
    @api.model
    def _wake_up(self, at=None):
        """Ask the engine's cron to run at `at` (now by default): exact-time wake-ups,
        the cron's own interval is only the safety net."""
        cron = self.env.ref("customer_pulse.ir_cron_pulse_rule_engine", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(at)  # sudo: crons are administrators' records

    @api.model
    def _wake_up_helper(self):
        """Ask the engine's second worker to run now."""
        cron = self.env.ref("customer_pulse.ir_cron_pulse_rule_helper", raise_if_not_found=False)
        if cron and cron.active:
            cron.sudo()._trigger()  # sudo: crons are administrators' records

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
