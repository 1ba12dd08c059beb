from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .pulse_rule_step import TOUCHES

# the revenue attributed to enrolments is kept up to date while their first touch is
# younger than this
ATTRIBUTION_HORIZON = timedelta(days=400)


class PulseEnrolment(models.Model):
    """One customer's way through a rule. A customer can go through a rule again (a new
    cycle) when its re-entry policy allows; (rule, customer, cycle) is unique."""

    _name = "pulse.enrolment"
    _description = "Rule enrolment"
    _order = "date_enrolled desc, id desc"
    _rec_name = "partner_id"

    rule_id = fields.Many2one("pulse.rule", required=True, ondelete="cascade", index=True)
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one("res.company", required=True)
    currency_id = fields.Many2one(related="company_id.currency_id")
    salesperson_id = fields.Many2one(related="partner_id.user_id", string="Salesperson")
    cycle = fields.Integer(required=True, default=1)
    state = fields.Selection(
        [
            ("running", "In progress"),
            ("completed", "Completed"),
            ("converted", "Converted"),
            ("exited", "Exited"),
        ],
        required=True,
        default="running",
        index=True,
    )
    trigger_key = fields.Char(
        "Trigger", readonly=True, help="What made the customer enter (one episode)."
    )
    date_enrolled = fields.Datetime("Entered", required=True, default=fields.Datetime.now)
    date_closed = fields.Datetime("Closed")
    exit_reason = fields.Char()
    first_touch_date = fields.Datetime(
        readonly=True, help="When the customer was first reached (email, text, survey)."
    )
    attributed_revenue = fields.Monetary(
        readonly=True,
        groups="account.group_account_invoice",
        help="Invoiced to the customer (net, untaxed) within the rule's attribution window "
        "after their first touch.",
    )
    converting_step_id = fields.Many2one(
        "pulse.rule.step",
        string="Converted by",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The step whose touch (email, text, survey invitation) came last before the "
        "customer's first invoice within the attribution window: the enrolment's revenue is "
        "this step's.",
    )
    run_ids = fields.One2many("pulse.step.run", "enrolment_id", string="Steps")

    _sql_constraints = [
        (
            "rule_partner_cycle_uniq",
            "unique(rule_id, partner_id, cycle)",
            "A customer goes through a rule once per cycle.",
        ),
        (
            "rule_partner_trigger_uniq",
            "unique(rule_id, partner_id, trigger_key)",
            "A customer enters a rule once per trigger.",
        ),
    ]

    def _close(self, state, reason=False):
        """Close these enrolments and cancel their pending steps."""
        if not self:
            return
        self.write({"state": state, "exit_reason": reason, "date_closed": fields.Datetime.now()})
        pending = self.run_ids.filtered(lambda r: r.state == "scheduled")
        pending.write({"state": "cancelled", "reason": reason or state})

    def _note_first_touch(self, now):
        """These enrolments' customers were reached now: the first touch of those not
        reached before, their revenue nil until the upkeep attributes some (see
        pulse.rule.engine _upkeep), in one UPDATE."""
        if not self:
            return
        touched = ["first_touch_date", "attributed_revenue"]
        self.flush_recordset(touched)
        self.env.cr.execute(
            SQL(
                """
                UPDATE pulse_enrolment
                   SET first_touch_date = %(now)s,
                       attributed_revenue = COALESCE(attributed_revenue, 0),
                       write_date = %(now)s, write_uid = %(uid)s
                 WHERE id = ANY(%(ids)s) AND first_touch_date IS NULL
                """,
                now=now,
                uid=self.env.uid,
                ids=self.ids,
            )
        )
        self.invalidate_recordset([*touched, "write_date", "write_uid"])

    def _sweep(self, only=None):
        """Set-based upkeep of running enrolments: close as converted those whose customer
        ordered since entering (rules that exit on purchase), complete those with nothing
        left to run, and update the revenue attributed to touched customers. `only`: SQL
        that restricts the enrolments looked at (alias e; the rule engine's calls look at
        those whose customers changed), all when None."""
        only = only or SQL()
        cr = self.env.cr
        self.env.flush_all()  # orders, invoices, enrolments and their runs are read
        now = fields.Datetime.now()
        reason = self.env._("bought since entering")
        cr.execute(
            SQL(
                """
                UPDATE pulse_enrolment e SET state = 'converted', date_closed = %(now)s,
                       exit_reason = %(reason)s, write_date = %(now)s
                  FROM pulse_rule r
                 WHERE r.id = e.rule_id AND r.exit_on_purchase AND e.state = 'running'
                   AND %(bought)s %(only)s
                RETURNING e.id
                """,
                now=now,
                reason=reason,
                only=only,
                bought=self.env["pulse.rule.policy"]._bought_since_entering_sql("e"),
            )
        )
        converted = [r[0] for r in cr.fetchall()]
        self.env["pulse.step.run"]._cancel_scheduled(converted, reason)
        self._complete(only, now)
        self._attribute(now - ATTRIBUTION_HORIZON, only)
        self.invalidate_model()

    @api.model
    def _complete(self, only=None, now=None):
        """Complete the running enrolments (restricted by `only`, SQL on alias e) with
        nothing left to run."""
        self.env["pulse.step.run"].flush_model(["enrolment_id", "state"])
        self.flush_model(["state"])
        now = now or fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                UPDATE pulse_enrolment e SET state = 'completed', date_closed = %(now)s,
                       write_date = %(now)s
                 WHERE e.state = 'running' AND NOT EXISTS (
                       SELECT 1 FROM pulse_step_run r WHERE r.enrolment_id = e.id
                          AND r.state IN ('scheduled', 'processing', 'unknown')) %(only)s
                """,
                now=now,
                only=only or SQL(),
            )
        )
        self.invalidate_model(["state", "date_closed", "write_date"])

    @api.model
    def _attribute(self, oldest=None, only=None):
        """Set-based: the revenue attributed to the enrolments first touched from `oldest`
        on (all when None) — invoices posted within the rule's window after the first touch
        — and the step it goes to: the one whose touch came last before the first invoice
        of that window (touched the same day counts as before). The document that made the
        customer enter is not revenue of the rule (a thank-you for an order is not paid by
        that order)."""
        self.env.flush_all()  # invoices, rules, enrolments and their runs are read
        touched = SQL(
            "e.first_touch_date IS NOT NULL %s %s",
            SQL("AND e.first_touch_date >= %s", oldest) if oldest else SQL(),
            only or SQL(),  # see _sweep
        )
        self.env.cr.execute(
            SQL(
                """
                WITH triggered AS MATERIALIZED (%(triggered)s),
                revenue AS MATERIALIZED (
                    SELECT e.id,
                           COALESCE(SUM(m.amount_untaxed_signed)
                               FILTER (WHERE tr.move_id IS NULL), 0) AS revenue,
                           MIN(m.invoice_date) FILTER (WHERE m.move_type = 'out_invoice'
                               AND tr.move_id IS NULL) AS first_invoice
                      FROM pulse_enrolment e
                      JOIN pulse_rule r ON r.id = e.rule_id
                      LEFT JOIN account_move m
                        ON m.commercial_partner_id = e.partner_id
                       AND m.company_id = e.company_id AND m.state = 'posted'
                       AND m.move_type IN ('out_invoice', 'out_refund')
                       AND m.invoice_date >= e.first_touch_date::date
                       AND m.invoice_date <= (e.first_touch_date + make_interval(
                           days => r.attribution_days))::date
                      LEFT JOIN triggered tr ON tr.enrolment_id = e.id AND tr.move_id = m.id
                     WHERE %(touched)s
                     GROUP BY e.id
                ), last_touch AS (
                    SELECT DISTINCT ON (run.enrolment_id) run.enrolment_id, run.step_id
                      FROM revenue x
                      JOIN pulse_step_run run ON run.enrolment_id = x.id
                     WHERE x.first_invoice IS NOT NULL AND run.state = 'done'
                       AND run.action = ANY(%(touches)s)
                       AND run.executed_at < x.first_invoice + 1
                     ORDER BY run.enrolment_id, run.executed_at DESC, run.id DESC
                )
                UPDATE pulse_enrolment e
                   SET attributed_revenue = x.revenue, converting_step_id = t.step_id
                  FROM revenue x
                  LEFT JOIN last_touch t ON t.enrolment_id = x.id
                 WHERE e.id = x.id
                   AND (e.attributed_revenue IS DISTINCT FROM x.revenue
                        OR e.converting_step_id IS DISTINCT FROM t.step_id)
                """,
                touched=touched,
                touches=list(TOUCHES),
                triggered=self._triggering_invoices_sql(touched),
            )
        )
        self.invalidate_model(["attributed_revenue", "converting_step_id"])

    @api.model
    def _triggering_invoices_sql(self, where):
        """SELECT enrolment_id, move_id: the invoices that made enrolments (alias e, of
        pulse_enrolment, filtered by `where`) — the invoice of their trigger (invoice posted,
        paid or overdue), or the invoices of the order that triggered them. Keys are read
        only once their kind is known (a CASE), so that no other key is cast."""
        kind = SQL("split_part(e.trigger_key, ',', 1)")
        number = SQL("split_part(e.trigger_key, ',', 2)::integer")
        return SQL(
            """
            SELECT e.id AS enrolment_id,
                   CASE WHEN %(kind)s IN ('invoice', 'paid', 'overdue') THEN %(number)s END
                       AS move_id
              FROM pulse_enrolment e
             WHERE %(kind)s IN ('invoice', 'paid', 'overdue') AND %(where)s
             UNION
            SELECT e.id, aml.move_id
              FROM pulse_enrolment e
              JOIN sale_order_line sol
                ON sol.order_id = CASE WHEN %(kind)s = 'order' THEN %(number)s END
              JOIN sale_order_line_invoice_rel rel ON rel.order_line_id = sol.id
              JOIN account_move_line aml ON aml.id = rel.invoice_line_id
             WHERE %(kind)s = 'order' AND %(where)s
            """,
            kind=kind,
            number=number,
            where=where,
        )
