from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.schema import create_missing_indexes, empty_beside
from .pulse_rule_step import ACTIONS

TOTAL_COLUMNS = SQL(
    "segment_id, rule_id, step_id, action, month, company_id, action_count, buyer_count, revenue"
)
# the runs whose outcome is recorded (pulse.step.run _record_outcomes)
RECORDED = SQL("run.state = 'done' AND run.test_mode IS NOT TRUE AND run.outcome_at IS NOT NULL")


class PulseSegmentActionTotal(models.Model):
    """The recorded outcomes of the runs done (pulse.step.run _record_outcomes) added up per
    segment the customer was in, rule, step and month of the action: what *Revenue after
    actions on segments* reads instead of the runs one by one (after a campaign of 300,000
    runs, 0.3 s a query). Counted again by the rule engine for the rule, step and month of
    each outcome it records, and all of them once a day (which also takes out the runs
    deleted since, with their customer). Internal: no screen shows it directly."""

    _name = "pulse.segment.action.total"
    _description = "Revenue after actions on segments, added up"
    _rec_name = "segment_id"
    _log_access = False

    segment_id = fields.Many2one(
        "pulse.segment", required=True, readonly=True, ondelete="cascade", index=True
    )
    rule_id = fields.Many2one("pulse.rule", required=True, readonly=True, ondelete="cascade")
    step_id = fields.Many2one("pulse.rule.step", required=True, readonly=True, ondelete="cascade")
    action = fields.Selection(ACTIONS, readonly=True)
    month = fields.Date(required=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    action_count = fields.Integer("Actions", readonly=True)
    buyer_count = fields.Integer("Followed by a purchase", readonly=True)
    revenue = fields.Float("Revenue after", readonly=True, groups="account.group_account_invoice")

    def init(self):
        create_missing_indexes(
            self.env.cr,
            {
                "pulse_segment_action_total_key_idx": """
                    ON pulse_segment_action_total (rule_id, step_id, month)"""
            },
        )
        if empty_beside(self.env.cr, self._table, "pulse_step_run WHERE outcome_at IS NOT NULL"):
            self._recount()

    @api.model
    def _recount(self, keys=None):
        """Add up again the recorded outcomes of the runs of `keys` ([(rule id, step id,
        month)]), of every run when None."""
        if keys is not None and not keys:
            return
        if keys is None:
            where, cleared = SQL("TRUE"), SQL("TRUE")
        else:
            rules, steps, months = (list(column) for column in zip(*keys, strict=True))
            chosen = SQL(
                "(SELECT * FROM unnest(%s::integer[], %s::integer[], %s::date[]))",
                rules,
                steps,
                months,
            )
            cleared = SQL("(rule_id, step_id, month) IN %s", chosen)
            where = SQL(
                "(run.rule_id, run.step_id, date_trunc('month', run.executed_at)::date) IN %s",
                chosen,
            )
        self.env.execute_query(
            SQL(
                """
                DELETE FROM pulse_segment_action_total WHERE %(cleared)s;
                INSERT INTO pulse_segment_action_total (%(columns)s)
                SELECT s.segment_id, x.rule_id, x.step_id, x.action, x.month, x.company_id,
                       SUM(x.actions), SUM(x.buyers), SUM(x.revenue)
                  FROM (
                        SELECT run.outcome_segment_ids AS segment_ids, run.rule_id,
                               run.step_id, run.action,
                               date_trunc('month', run.executed_at)::date AS month,
                               run.company_id, COUNT(*) AS actions,
                               COUNT(*) FILTER (WHERE run.outcome_bought) AS buyers,
                               SUM(run.outcome_revenue) AS revenue
                          FROM pulse_step_run run
                         WHERE %(recorded)s AND %(where)s
                         GROUP BY 1, 2, 3, 4, 5, 6
                       ) x, unnest(x.segment_ids) AS s(segment_id)
                 -- segments deleted since the action are left out, as the report does
                 WHERE EXISTS (SELECT 1 FROM pulse_segment seg WHERE seg.id = s.segment_id)
                 GROUP BY 1, 2, 3, 4, 5, 6
                """,
                cleared=cleared,
                columns=TOTAL_COLUMNS,
                recorded=RECORDED,
                where=where,
            )
        )
        self.invalidate_model()
