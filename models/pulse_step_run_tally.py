from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.schema import (
    create_missing_indexes,
    create_trigger_functions,
    create_triggers,
    empty_beside,
    planned_at_each_call,
)
from .pulse_step_run import RUN_STATES

# The step runs counted per rule, step, month of entering, state and test mode, kept as the
# runs are written: database triggers on pulse_step_run, one statement per INSERT, UPDATE or
# DELETE, over the rows it wrote. Each adds a row of differences (+1 a run that arrived in a
# key, -1 one that left it), never updates one: the engine's two workers write runs of the
# same step at the same time, and a counter row updated by both would make one wait for the
# other's batch to commit. The differences are added up when read and merged now and then
# (_compact). A run is counted under its enrolment's rule, company and month of entering.
TALLY_COLUMNS = "rule_id, step_id, company_id, month, state, test_mode, run_count"


def tally_insert(rows):
    """The INSERT of the differences of `rows` (SQL text of a query returning
    enrolment_id, step_id, state, test_mode, n): for runs whose enrolment, step and rule
    still exist (a run deleted with its step or enrolment leaves with them: the step's
    differences are deleted with it, an enrolment's are counted again, ENROLMENT_BODY)."""
    return f"""
    INSERT INTO pulse_step_run_tally ({TALLY_COLUMNS})
    SELECT e.rule_id, d.step_id, e.company_id, date_trunc('month', e.date_enrolled)::date,
           d.state, COALESCE(d.test_mode, FALSE), SUM(d.n)
      FROM ({rows}) d
      JOIN pulse_enrolment e ON e.id = d.enrolment_id
     WHERE EXISTS (SELECT 1 FROM pulse_rule_step st WHERE st.id = d.step_id)
       AND EXISTS (SELECT 1 FROM pulse_rule r WHERE r.id = e.rule_id)
     GROUP BY 1, 2, 3, 4, 5, 6
    HAVING SUM(d.n) <> 0"""


RUN_COLUMNS = "enrolment_id, step_id, state, test_mode"
# a statement on the runs: (trigger function, trigger definition, body)
RUN_TRIGGERS = {
    "pulse_step_run_tally_added": (
        "AFTER INSERT ON pulse_step_run REFERENCING NEW TABLE AS added",
        tally_insert(f"SELECT {RUN_COLUMNS}, 1 AS n FROM added"),
    ),
    "pulse_step_run_tally_changed": (
        # every UPDATE (a trigger with transition tables cannot name columns): only the rows
        # whose keys changed are counted (not an email's link or a run's recorded outcome)
        "AFTER UPDATE ON pulse_step_run REFERENCING OLD TABLE AS before NEW TABLE AS after",
        tally_insert(
            f"""
            WITH moved AS (
                SELECT a.enrolment_id, a.step_id, a.state, a.test_mode,
                       b.enrolment_id AS old_enrolment_id, b.step_id AS old_step_id,
                       b.state AS old_state, b.test_mode AS old_test_mode
                  FROM after a JOIN before b ON b.id = a.id
                 WHERE (a.enrolment_id, a.step_id, a.state, a.test_mode)
                       IS DISTINCT FROM (b.enrolment_id, b.step_id, b.state, b.test_mode)
            )
            SELECT {RUN_COLUMNS}, 1 AS n FROM moved
             UNION ALL
            SELECT old_enrolment_id, old_step_id, old_state, old_test_mode, -1 FROM moved"""
        ),
    ),
    "pulse_step_run_tally_gone": (
        "AFTER DELETE ON pulse_step_run REFERENCING OLD TABLE AS gone",
        tally_insert(f"SELECT {RUN_COLUMNS}, -1 AS n FROM gone"),
    ),
}
# Enrolments deleted (their customer deleted, or their rule): their runs went with them
# without a difference (the enrolment was gone first); the months they entered in are
# counted again from the runs left.
ENROLMENT_FUNCTION = "pulse_step_run_tally_recount"
ENROLMENT_TRIGGER_SQL = f"""
    AFTER DELETE ON pulse_enrolment REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION {ENROLMENT_FUNCTION}()"""
ENROLMENT_BODY = planned_at_each_call(
    f"""
    WITH recounted AS (
        SELECT DISTINCT rule_id, date_trunc('month', date_enrolled)::date AS month FROM gone
    ), cleared AS (
        DELETE FROM pulse_step_run_tally t USING recounted k
         WHERE t.rule_id = k.rule_id AND t.month = k.month
    )
    INSERT INTO pulse_step_run_tally ({TALLY_COLUMNS})
    SELECT e.rule_id, run.step_id, e.company_id, k.month, run.state,
           COALESCE(run.test_mode, FALSE), COUNT(*)
      FROM recounted k
      JOIN pulse_enrolment e
        ON e.rule_id = k.rule_id
       AND e.date_enrolled >= k.month AND e.date_enrolled < k.month + INTERVAL '1 month'
      JOIN pulse_step_run run ON run.enrolment_id = e.id
     GROUP BY 1, 2, 3, 4, 5, 6"""
)
TALLY_FUNCTIONS = {
    **{name: planned_at_each_call(body) for name, (_definition, body) in RUN_TRIGGERS.items()},
    ENROLMENT_FUNCTION: ENROLMENT_BODY,
}


class PulseStepRunTally(models.Model):
    """How many runs each step of each rule has, per month of entering, state and test
    mode: what a rule's form, its steps and the return on rules count instead of reading
    every run (after a campaign of 100,000 customers, 300,000 runs a screen). Kept by
    database triggers on the runs (RUN_TRIGGERS) as rows of differences, added up when
    read: read it with _read_group and the sum of run_count. Internal: no screen shows
    it directly."""

    _name = "pulse.step.run.tally"
    _description = "Step runs counted"
    _rec_name = "step_id"
    _log_access = False

    rule_id = fields.Many2one("pulse.rule", required=True, readonly=True, ondelete="cascade")
    step_id = fields.Many2one(
        "pulse.rule.step", required=True, readonly=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    month = fields.Date(required=True, readonly=True, help="Month the customers entered.")
    state = fields.Selection(RUN_STATES, required=True, readonly=True)
    test_mode = fields.Boolean(readonly=True)
    run_count = fields.Integer("Runs", readonly=True)

    def init(self):
        cr = self.env.cr
        create_missing_indexes(
            cr, {"pulse_step_run_tally_rule_idx": "ON pulse_step_run_tally (rule_id, month)"}
        )
        create_trigger_functions(cr, TALLY_FUNCTIONS)
        for name, (definition, _body) in RUN_TRIGGERS.items():
            create_triggers(
                cr,
                name,
                {"pulse_step_run": f"{definition} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"},
            )
        create_triggers(cr, ENROLMENT_FUNCTION, {"pulse_enrolment": ENROLMENT_TRIGGER_SQL})
        # runs made before the tally existed (an update from an earlier version)
        if empty_beside(cr, self._table, "pulse_step_run"):
            self._rebuild()

    @api.model
    def _rebuild(self):
        """Count every run again."""
        self.env["pulse.step.run"].flush_model(["enrolment_id", "step_id", "state", "test_mode"])
        self.env["pulse.enrolment"].flush_model(["rule_id", "company_id", "date_enrolled"])
        self.env.execute_query(
            SQL(
                """
                DELETE FROM pulse_step_run_tally;
                INSERT INTO pulse_step_run_tally (%(columns)s)
                SELECT e.rule_id, run.step_id, e.company_id,
                       date_trunc('month', e.date_enrolled)::date, run.state,
                       COALESCE(run.test_mode, FALSE), COUNT(*)
                  FROM pulse_step_run run
                  JOIN pulse_enrolment e ON e.id = run.enrolment_id
                 GROUP BY 1, 2, 3, 4, 5, 6
                """,
                columns=SQL(TALLY_COLUMNS),
            )
        )
        self.invalidate_model()

    @api.model
    def _compact(self):
        """Merge the rows of differences into one row per key (what a statement of the
        engine wrote since the last call): rows written meanwhile by the other worker are
        not seen and stay as they are, so the sums do not change."""
        self.env.execute_query(
            SQL(
                """
                WITH merged AS (
                    DELETE FROM pulse_step_run_tally RETURNING %(columns)s
                )
                INSERT INTO pulse_step_run_tally (%(columns)s)
                SELECT rule_id, step_id, company_id, month, state, test_mode, SUM(run_count)
                  FROM merged
                 GROUP BY 1, 2, 3, 4, 5, 6
                HAVING SUM(run_count) <> 0
                """,
                columns=SQL(TALLY_COLUMNS),
            )
        )
        self.invalidate_model()

    @api.model
    def _counts(self, domain, groupby):
        """{group key: runs} of the runs matching `domain` (on this model's fields), grouped
        by `groupby`, from the tally's sums."""
        self.env["pulse.step.run"].flush_model(["enrolment_id", "step_id", "state", "test_mode"])
        return {
            tuple(key): count
            for *key, count in self._read_group(domain, groupby, ["run_count:sum"])
        }
