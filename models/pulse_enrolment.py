from datetime import timedelta

from odoo import fields, models
from odoo.tools import SQL

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

    def _sweep(self):
        """Set-based upkeep of running enrolments: close as converted those whose customer
        ordered since entering (rules that exit on purchase), complete those with nothing
        left to run, and update the revenue attributed to touched customers."""
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
                   AND %(bought)s
                RETURNING e.id
                """,
                now=now,
                reason=reason,
                bought=self.env["pulse.rule.policy"]._bought_since_entering_sql("e"),
            )
        )
        converted = [r[0] for r in cr.fetchall()]
        self.env["pulse.step.run"]._cancel_scheduled(converted, reason)
        cr.execute(
            SQL(
                """
                UPDATE pulse_enrolment e SET state = 'completed', date_closed = %(now)s,
                       write_date = %(now)s
                 WHERE e.state = 'running' AND NOT EXISTS (
                       SELECT 1 FROM pulse_step_run r WHERE r.enrolment_id = e.id
                          AND r.state IN ('scheduled', 'processing', 'unknown'))
                """,
                now=now,
            )
        )
        # attribution: invoices posted within the window after the first touch
        cr.execute(
            SQL(
                """
                UPDATE pulse_enrolment e SET attributed_revenue = x.revenue
                  FROM (
                    SELECT e.id, COALESCE(SUM(m.amount_untaxed_signed), 0) AS revenue
                      FROM pulse_enrolment e
                      JOIN pulse_rule r ON r.id = e.rule_id
                      LEFT JOIN account_move m
                        ON m.commercial_partner_id = e.partner_id
                       AND m.company_id = e.company_id AND m.state = 'posted'
                       AND m.move_type IN ('out_invoice', 'out_refund')
                       AND m.invoice_date >= e.first_touch_date::date
                       AND m.invoice_date <= (e.first_touch_date + make_interval(
                           days => r.attribution_days))::date
                     WHERE e.first_touch_date IS NOT NULL
                       AND e.first_touch_date >= %(oldest)s
                     GROUP BY e.id
                  ) x
                 WHERE e.id = x.id AND e.attributed_revenue IS DISTINCT FROM x.revenue
                """,
                oldest=now - ATTRIBUTION_HORIZON,
            )
        )
        self.invalidate_model()
