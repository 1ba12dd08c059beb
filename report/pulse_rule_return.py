from odoo import api, fields, models
from odoo.tools import SQL

from ..models.pulse_rule_step import ACTIONS

PERCENT = 100.0
# the ratios are computed from the sums of each group, not summed (see _read_group_select)
RATIOS = ("conversion_rate", "roi")
# groupings at which the conversion rate is per step: converted / customers the step touched
STEP_GROUPINGS = ("step_id", "action")


class PulseRuleReturn(models.Model):
    """Return on rules, per rule, step, month of entering and company (like sale.report).

    Three kinds of rows: per step, its runs done (not in test mode, as counted in
    pulse.step.run.tally, not read one by one) and their cost, and the
    enrolments it converted with their revenue (the step whose touch came last before the
    first invoice of the attribution window, pulse.enrolment converting_step_id); per rule
    and month, without a step, the customers who entered (and the revenue of enrolments
    converted by no step, e.g. refunds only); per rule, without a step, its fixed cost in
    the month it started. Every figure but the ratios adds up over any grouping."""

    _name = "pulse.rule.return"
    _inherit = "pulse.report.view"
    _description = "Return on rules"
    _auto = False
    _order = "date desc, rule_id, step_id"
    _rec_name = "rule_id"
    _depends = {
        # (the runs are counted in the tally as they are written)
        "pulse.step.run": ["enrolment_id", "step_id", "state", "test_mode"],
        "pulse.step.run.tally": ["rule_id", "step_id", "company_id", "month", "state"],
        "pulse.enrolment": [
            "rule_id",
            "company_id",
            "date_enrolled",
            "attributed_revenue",
            "converting_step_id",
        ],
        "pulse.rule.step": ["action", "cost_per_run"],
        "pulse.rule": ["company_id", "fixed_cost", "date_start"],
        "res.company": ["currency_id"],
    }

    rule_id = fields.Many2one("pulse.rule", "Rule", readonly=True)
    step_id = fields.Many2one(
        "pulse.rule.step",
        "Step",
        readonly=True,
        help="Empty: the rule's own line (customers who entered, its fixed cost).",
    )
    action = fields.Selection(ACTIONS, readonly=True)
    date = fields.Date(
        "Month",
        readonly=True,
        help="The month the customers entered the rule (its fixed cost: the month it started).",
    )
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    enrolled = fields.Integer(readonly=True, help="Customers who entered the rule.")
    touched = fields.Integer(
        "Runs done",
        readonly=True,
        help="Runs of the step done (emails, texts, activities…), not in test mode.",
    )
    converted = fields.Integer(
        readonly=True,
        help="Enrolments invoiced within the rule's attribution window after a touch (email, "
        "text, survey invitation); each counts for the step whose touch came last before "
        "its first invoice.",
    )
    conversion_rate = fields.Float(
        "Conversion rate (%)",
        readonly=True,
        digits=(16, 1),
        help="Per rule or month: converted / enrolled. Per step: converted / runs done of "
        "the step.",
    )
    cost = fields.Monetary(
        readonly=True,
        help="Runs done × the step's cost per run, and the rule's fixed cost, in the "
        "company's currency.",
    )
    revenue = fields.Monetary(
        "Attributed revenue",
        readonly=True,
        groups="account.group_account_invoice",
        help="Invoiced (untaxed, net of credit notes) within the attribution window after the "
        "first touch, going to the step whose touch came last before the first invoice.",
    )
    return_amount = fields.Monetary(
        "Return",
        readonly=True,
        groups="account.group_account_invoice",
        help="Attributed revenue − cost.",
    )
    roi = fields.Float(
        "ROI",
        readonly=True,
        digits=(16, 2),
        groups="account.group_account_invoice",
        help="Return / cost of the group: 2.00 means it brought back twice what it cost, on "
        "top of its cost.",
    )

    # ------------------------------------------------------------------ query
    def _with(self):
        return SQL(
            """
            WITH touches AS (
                SELECT t.rule_id, t.step_id, t.month AS date, t.company_id,
                       SUM(t.run_count) AS touched, 0 AS converted, 0 AS revenue
                  FROM pulse_step_run_tally t
                 WHERE t.state = 'done' AND NOT t.test_mode
                 GROUP BY 1, 2, 3, 4
            ), conversions AS (
                SELECT e.rule_id, e.converting_step_id AS step_id,
                       date_trunc('month', e.date_enrolled)::date AS date, e.company_id,
                       0 AS touched, COUNT(*) AS converted,
                       COALESCE(SUM(e.attributed_revenue), 0) AS revenue
                  FROM pulse_enrolment e
                 WHERE e.converting_step_id IS NOT NULL
                 GROUP BY 1, 2, 3, 4
            ), per_step AS (
                SELECT s.rule_id, s.step_id, s.date, s.company_id, 0 AS enrolled,
                       SUM(s.touched) AS touched, SUM(s.converted) AS converted,
                       SUM(s.revenue) AS revenue, SUM(s.touched) * st.cost_per_run AS cost
                  FROM (SELECT * FROM touches UNION ALL SELECT * FROM conversions) s
                  JOIN pulse_rule_step st ON st.id = s.step_id
                 GROUP BY s.rule_id, s.step_id, s.date, s.company_id, st.cost_per_run
            ), per_rule AS (
                SELECT e.rule_id, NULL::integer AS step_id,
                       date_trunc('month', e.date_enrolled)::date AS date, e.company_id,
                       COUNT(*) AS enrolled, 0 AS touched, 0 AS converted,
                       COALESCE(SUM(e.attributed_revenue)
                           FILTER (WHERE e.converting_step_id IS NULL), 0) AS revenue,
                       0 AS cost
                  FROM pulse_enrolment e
                 GROUP BY e.rule_id, 3, e.company_id
            ), fixed AS (
                SELECT r.id AS rule_id, NULL::integer AS step_id,
                       date_trunc('month', COALESCE(r.date_start, r.create_date))::date AS date,
                       r.company_id, 0 AS enrolled, 0 AS touched, 0 AS converted,
                       0 AS revenue, r.fixed_cost AS cost
                  FROM pulse_rule r
                 WHERE r.fixed_cost > 0
            ), lines AS (
                SELECT * FROM per_step
                 UNION ALL SELECT * FROM per_rule
                 UNION ALL SELECT * FROM fixed
            )
            """
        )

    def _select(self):
        return SQL(
            """
            SELECT ROW_NUMBER() OVER (ORDER BY l.rule_id, l.date, l.step_id NULLS FIRST,
                                      l.cost) AS id,
                   l.rule_id, l.step_id, st.action, l.date, l.company_id,
                   co.currency_id, l.enrolled, l.touched, l.converted,
                   %(percent)s * l.converted / NULLIF(
                       CASE WHEN l.step_id IS NULL THEN l.enrolled ELSE l.touched END, 0)
                       AS conversion_rate,
                   l.cost, l.revenue, l.revenue - l.cost AS return_amount,
                   (l.revenue - l.cost) / NULLIF(l.cost, 0) AS roi
            """,
            percent=PERCENT,
        )

    def _from(self):
        return SQL(
            """
              FROM lines l
              JOIN res_company co ON co.id = l.company_id
              LEFT JOIN pulse_rule_step st ON st.id = l.step_id
            """
        )

    # ------------------------------------------------------------- grouping
    @api.model
    def _read_group(
        self, domain, groupby=(), aggregates=(), having=(), offset=0, limit=None, order=None
    ):
        """The conversion rate of a group per step is converted / runs done of the step;
        of any other group, converted / enrolled."""
        by_step = any(spec.split(":")[0].split(".")[0] in STEP_GROUPINGS for spec in groupby)
        return super(PulseRuleReturn, self.with_context(pulse_return_by_step=by_step))._read_group(
            domain, groupby, aggregates, having, offset, limit, order
        )

    def _read_group_select(self, aggregate_spec, query):
        """Ratios from the group's sums (a sum or an average of each line's ratio would be
        meaningless)."""
        fname = aggregate_spec.split(":")[0]
        if fname not in RATIOS:
            return super()._read_group_select(aggregate_spec, query)

        def column(name):
            return SQL("SUM(%s)", self._field_to_sql(self._table, name, query))

        if fname == "roi":
            return SQL(
                "(%s - %s) / NULLIF(%s, 0)", column("revenue"), column("cost"), column("cost")
            )
        base = "touched" if self.env.context.get("pulse_return_by_step") else "enrolled"
        return SQL("%s * %s / NULLIF(%s, 0)", PERCENT, column("converted"), column(base))
