from odoo import fields, models
from odoo.tools import SQL

from ..models.pulse_rule_step import ACTIONS

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
    through a rule (Return on rules gives each invoice to one step)."""

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
        return SQL(
            """
            WITH acts AS (
                SELECT run.id, run.partner_id, run.company_id, run.rule_id, run.step_id,
                       run.action, run.executed_at, r.attribution_days
                  FROM pulse_step_run run
                  JOIN pulse_rule r ON r.id = run.rule_id
                 WHERE run.state = 'done' AND run.test_mode IS NOT TRUE
            ), after AS (
                SELECT a.id, SUM(m.amount_untaxed_signed) AS revenue,
                       COUNT(*) FILTER (WHERE m.move_type = 'out_invoice') AS invoices
                  FROM acts a
                  JOIN account_move m
                    ON m.commercial_partner_id = a.partner_id AND m.company_id = a.company_id
                   AND m.state = 'posted' AND m.move_type IN ('out_invoice', 'out_refund')
                   AND m.invoice_date >= a.executed_at::date
                   AND m.invoice_date <= a.executed_at::date + a.attribution_days
                 GROUP BY a.id
            )
            """
        )

    def _select(self):
        return SQL(
            """
            SELECT ROW_NUMBER() OVER (ORDER BY mem.segment_id, a.rule_id, a.step_id,
                                      %(month)s) AS id,
                   mem.segment_id, a.rule_id, a.step_id, a.action, %(month)s AS date,
                   a.company_id, co.currency_id,
                   COUNT(*) AS action_count,
                   COUNT(*) FILTER (WHERE x.invoices > 0) AS buyer_count,
                   %(percent)s * COUNT(*) FILTER (WHERE x.invoices > 0) / COUNT(*)
                       AS purchase_rate,
                   COALESCE(SUM(x.revenue), 0) AS revenue,
                   COALESCE(SUM(x.revenue), 0) / COUNT(*) AS revenue_per_action
            """,
            month=self._month(),
            percent=PERCENT,
        )

    def _from(self):
        return SQL(
            """
              FROM acts a
              JOIN pulse_segment_member mem
                ON mem.partner_id = a.partner_id AND mem.date_entered <= a.executed_at
               AND (mem.date_left IS NULL OR mem.date_left > a.executed_at)
              JOIN pulse_segment seg ON seg.id = mem.segment_id AND seg.company_id = a.company_id
              JOIN res_company co ON co.id = a.company_id
              LEFT JOIN after x ON x.id = a.id
            """
        )

    def _group_by(self):
        return SQL(
            "GROUP BY mem.segment_id, a.rule_id, a.step_id, a.action, %s, a.company_id,"
            " co.currency_id",
            self._month(),
        )

    def _month(self):
        return SQL("date_trunc('month', a.executed_at)::date")

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
