from odoo import fields, models
from odoo.tools import SQL

from ..models.pulse_rule_step import ACTIONS
from ..models.pulse_step_run import outcome_todo

PERCENT = 100.0
# the ratios are computed from the sums of each group, not summed (see _read_group_select)
RATIOS = {
    "purchase_rate": ("buyer_count", "action_count", PERCENT),
    "revenue_per_action": ("revenue", "action_count", 1.0),
}


class PulseSegmentActionReturn(models.Model):
    """What followed the actions rules took on each segment's members: one line per segment,
    rule, step and month of the action (runs done, not in test mode) with the revenue
    invoiced to the customer within the rule's attribution window after each action. The
    segment is the one the customer was a member of when the action was taken; the invoices
    count even if they left it since (buying is how a customer leaves a lapsed segment).

    Not an attribution: an invoice that followed two actions counts after each of them, so
    revenue adds up over months and segments but not over the steps of one customer's way
    through a rule (Return on rules gives each invoice to one step).

    What followed each action is recorded and added up by the rule engine as it goes (at
    each call for its new runs and the customers invoiced since, once a day for the whole
    attribution horizon: pulse.segment.action.total), so that the report does not look it
    up action by action; the runs done since its last call are looked up."""

    _name = "pulse.segment.action.return"
    _inherit = "pulse.report.view"
    _description = "Revenue after actions on segments"
    _auto = False
    _order = "date desc, segment_id, rule_id, step_id"
    _rec_name = "segment_id"
    _depends = {
        "pulse.step.run": [
            "partner_id",
            "company_id",
            "rule_id",
            "step_id",
            "action",
            "state",
            "test_mode",
            "executed_at",
        ],
        "pulse.rule": ["attribution_days"],
        "pulse.segment.member": ["segment_id", "partner_id", "date_entered", "date_left"],
        "pulse.segment": ["company_id"],
        "pulse.segment.action.total": ["segment_id", "rule_id", "step_id", "month"],
        "account.move": [
            "commercial_partner_id",
            "company_id",
            "state",
            "move_type",
            "invoice_date",
            "amount_untaxed_signed",
        ],
        "res.company": ["currency_id"],
    }

    segment_id = fields.Many2one("pulse.segment", readonly=True)
    rule_id = fields.Many2one("pulse.rule", "Rule", readonly=True)
    step_id = fields.Many2one("pulse.rule.step", "Step", readonly=True)
    action = fields.Selection(ACTIONS, readonly=True)
    date = fields.Date("Month", readonly=True, help="The month the action was taken.")
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    action_count = fields.Integer(
        "Actions", readonly=True, help="Runs done on members of the segment, not in test mode."
    )
    buyer_count = fields.Integer(
        "Followed by a purchase",
        readonly=True,
        help="Actions after which the customer was invoiced within the rule's attribution "
        "window.",
    )
    purchase_rate = fields.Float(
        "Purchase rate (%)",
        readonly=True,
        digits=(16, 1),
        help="Followed by a purchase / actions.",
    )
    revenue = fields.Monetary(
        "Revenue after",
        readonly=True,
        groups="account.group_account_invoice",
        help="Invoiced to the customer (untaxed, net of credit notes) from the day of the "
        "action to the end of the rule's attribution window, in the company's currency.",
    )
    revenue_per_action = fields.Monetary(
        "Revenue per action",
        readonly=True,
        groups="account.group_account_invoice",
        help="Revenue after / actions.",
    )

    def _with(self):
        # the actions as the engine added them up (pulse.segment.action.total), and those
        # done since its last call looked up here, added up per set of segments before the
        # sets are unnested
        return SQL(
            """
            WITH fresh AS (
                SELECT o.segment_ids, o.company_id, o.rule_id, o.step_id, o.action,
                       date_trunc('month', o.executed_at)::date AS date, COUNT(*) AS actions,
                       COUNT(*) FILTER (WHERE o.bought) AS buyers, SUM(o.revenue) AS revenue
                  FROM (%s) o
                 GROUP BY 1, 2, 3, 4, 5, 6
            ), acts AS (
                SELECT t.segment_id, t.company_id, t.rule_id, t.step_id, t.action,
                       t.month AS date, t.action_count AS actions, t.buyer_count AS buyers,
                       t.revenue
                  FROM pulse_segment_action_total t
                 UNION ALL
                SELECT s.segment_id, x.company_id, x.rule_id, x.step_id, x.action, x.date,
                       x.actions, x.buyers, x.revenue
                  FROM fresh x, unnest(x.segment_ids) AS s(segment_id)
            )
            """,
            self.env["pulse.step.run"]._outcome_sql(SQL(outcome_todo())),
        )

    def _select(self):
        return SQL(
            """
            SELECT ROW_NUMBER() OVER (ORDER BY a.segment_id, a.rule_id, a.step_id, a.date)
                       AS id,
                   a.segment_id, a.rule_id, a.step_id, a.action, a.date, a.company_id,
                   co.currency_id,
                   SUM(a.actions)::integer AS action_count,
                   SUM(a.buyers)::integer AS buyer_count,
                   %(percent)s * SUM(a.buyers) / SUM(a.actions) AS purchase_rate,
                   SUM(a.revenue) AS revenue,
                   SUM(a.revenue) / SUM(a.actions) AS revenue_per_action
            """,
            percent=PERCENT,
        )

    def _from(self):
        return SQL(
            """
              FROM acts a
              JOIN pulse_segment seg ON seg.id = a.segment_id AND seg.company_id = a.company_id
              JOIN res_company co ON co.id = a.company_id
            """
        )

    def _group_by(self):
        return SQL(
            "GROUP BY a.segment_id, a.rule_id, a.step_id, a.action, a.date, a.company_id,"
            " co.currency_id"
        )

    def _read_group_select(self, aggregate_spec, query):
        """Ratios from the group's sums."""
        fname = aggregate_spec.split(":")[0]
        if fname not in RATIOS:
            return super()._read_group_select(aggregate_spec, query)
        numerator, denominator, factor = RATIOS[fname]
        return SQL(
            "%s * SUM(%s) / NULLIF(SUM(%s), 0)",
            factor,
            self._field_to_sql(self._table, numerator, query),
            self._field_to_sql(self._table, denominator, query),
        )
