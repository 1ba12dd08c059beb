from odoo import fields, models
from odoo.tools import SQL

OUTCOMES = [
    ("forward", "Moved forward"),
    ("back", "Moved back"),
    ("won", "Won"),
    ("lost", "Lost"),
]
PERCENT = 100


class PulseStageConversion(models.Model):
    """Every departure of a lead from a stage (a move or a loss), read from the stage
    history: where it went, after how many days, and whether the lead was won in the end.
    Averaged per stage, the rates are the stage's conversion; the days, its average
    time (stays not over yet are not counted)."""

    _name = "pulse.stage.conversion"
    _inherit = "pulse.report.view"
    _description = "Stage conversion"
    _auto = False
    _order = "date desc"
    _rec_name = "lead_id"

    lead_id = fields.Many2one("crm.lead", "Opportunity", readonly=True)
    change_id = fields.Many2one("pulse.lead.stage.change", "Change", readonly=True)
    date = fields.Datetime("Left on", readonly=True)
    from_stage_id = fields.Many2one("crm.stage", "From stage", readonly=True)
    to_stage_id = fields.Many2one("crm.stage", "To stage", readonly=True)
    outcome = fields.Selection(OUTCOMES, readonly=True)
    user_id = fields.Many2one("res.users", "Salesperson", readonly=True)
    team_id = fields.Many2one("crm.team", "Sales Team", readonly=True)
    team_leader_id = fields.Many2one("res.users", "Team Leader", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    expected_revenue = fields.Monetary(currency_field="currency_id", readonly=True)
    days_in_stage = fields.Float("Days in stage", digits=(16, 2), aggregator="avg", readonly=True)
    forward_rate = fields.Float(
        "Moved forward (%)",
        aggregator="avg",
        readonly=True,
        help="Share of the departures to a later stage or a won stage.",
    )
    lost_rate = fields.Float(
        "Lost (%)",
        aggregator="avg",
        readonly=True,
        help="Share of the departures that were losses.",
    )
    won_rate = fields.Float(
        "Won in the end (%)",
        aggregator="avg",
        readonly=True,
        help="Share of the leads that are won today, among those that left the stage.",
    )

    def _select(self):
        return SQL(
            """
            SELECT h.id, h.id AS change_id, h.lead_id, h.date, h.from_stage_id,
                   h.to_stage_id, o.outcome, h.user_id, h.team_id, h.team_leader_id,
                   h.company_id, co.currency_id, h.expected_revenue,
                   h.days_in_previous AS days_in_stage,
                   CASE WHEN o.outcome IN ('forward', 'won') THEN %(percent)s ELSE 0 END
                       AS forward_rate,
                   CASE WHEN o.outcome = 'lost' THEN %(percent)s ELSE 0 END AS lost_rate,
                   CASE WHEN l.active AND now_stage.is_won THEN %(percent)s ELSE 0 END
                       AS won_rate
            """,
            percent=PERCENT,
        )

    def _from(self):
        return SQL(
            """
            FROM pulse_lead_stage_change h
            JOIN crm_lead l ON l.id = h.lead_id
            JOIN crm_stage fs ON fs.id = h.from_stage_id
            LEFT JOIN crm_stage ts ON ts.id = h.to_stage_id
            LEFT JOIN crm_stage now_stage ON now_stage.id = l.stage_id
            LEFT JOIN res_company co ON co.id = h.company_id
            CROSS JOIN LATERAL (
                SELECT CASE WHEN h.kind = 'lost' THEN 'lost'
                            WHEN ts.is_won THEN 'won'
                            WHEN (ts.sequence, ts.id) > (fs.sequence, fs.id) THEN 'forward'
                            ELSE 'back' END AS outcome) o
            """
        )

    def _where(self):
        # departures from a stage: moves and losses (creations and restorations enter one)
        return SQL("WHERE h.kind IN ('moved', 'lost')")

    def action_open_lead(self):
        self.ensure_one()
        return self.change_id.action_open_lead()
