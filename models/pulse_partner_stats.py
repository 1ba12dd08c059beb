from odoo import api, fields, models

from ..tools.schema import add_missing_columns, create_missing_indexes

RFM_SEGMENTS = [
    ("champions", "Champions"),
    ("loyal", "Loyal"),
    ("potential_loyalist", "Potential loyalist"),
    ("new", "New"),
    ("promising", "Promising"),
    ("need_attention", "Need attention"),
    ("about_to_sleep", "About to sleep"),
    ("at_risk", "At risk"),
    ("cant_lose", "Can't lose"),
    ("hibernating", "Hibernating"),
    ("lost", "Lost"),
]

# ---- What the facts table holds besides its fields. Odoo drops the table with them at
# uninstall. (The refresh that writes it: pulse.facts.engine.)

# Columns of the facts table that no field declares, by SQL type.
EXTRA_COLUMNS = {
    # Per product category facts, sorted by amount (biggest first), as parallel arrays on the
    # customer's row: one row to write per customer instead of one per category, no
    # foreign-key check per category. pulse.partner.category.stats unnests them for reporting.
    "categ_ids": "integer[]",
    "categ_first_dates": "date[]",
    "categ_last_dates": "date[]",
    "categ_order_counts": "integer[]",
    "categ_quantities": "numeric[]",
    "categ_amounts": "numeric[]",
    # categories recommended from the category affinity, best first
    "recommended_categ_ids": "integer[]",
    # The figures of 30 days ago the RFM segment of then is scored on (orders and invoices
    # dated until that day): last order, orders and amount invoiced in the RFM window ending
    # that day (NULL: no order nor invoice by then). Computed with today's facts, in the same
    # pass, so that the nightly refresh only rescores them.
    "previous_last_order_date": "date",
    "previous_rfm_window_orders": "integer",
    "previous_rfm_window_amount": "numeric",
}
# Indexes of the facts that no field declares: what follows CREATE INDEX <name>.
OWN_INDEXES = {
    # "no purchase since": the flagship segment and rule read it as an index-only scan
    # instead of the whole (wide) facts table
    "pulse_partner_stats_last_order_idx": """
        ON pulse_partner_stats (company_id, last_order_date) INCLUDE (partner_id)""",
    # the RFM migration matrix (segment 30 days ago × today, with its row and column totals)
    # and the customers grouped by segment: index-only scans instead of the wide table
    # (at a million customers 3.0 s → about a third)
    "pulse_partner_stats_rfm_move_idx": """
        ON pulse_partner_stats (company_id, rfm_segment_previous, rfm_segment)
        INCLUDE (partner_id)""",
}


class PulsePartnerStats(models.Model):
    """One row of facts per customer (commercial partner) and company: what they ordered,
    were invoiced, paid and owe, their rhythm and RFM scores. Written by the refresh of
    pulse.facts.engine only; read by the partner form, segments, rules and reports."""

    _name = "pulse.partner.stats"
    _description = "Customer facts"
    _order = "last_order_date desc nulls last, id"
    _rec_name = "partner_id"
    # Computed rows: no create/write user columns (each would cost a foreign-key check per
    # row on every refresh); the refresh time is kept per company in pulse.rfm.threshold.
    _log_access = False

    # (partner_id, company_id) is unique: its index serves lookups by partner
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, ondelete="cascade", readonly=True
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    currency_id = fields.Many2one(related="company_id.currency_id", string="Currency")
    salesperson_id = fields.Many2one(related="partner_id.user_id", string="Salesperson")
    country_id = fields.Many2one(related="partner_id.country_id", string="Country")
    first_order_date = fields.Date(readonly=True)
    last_order_date = fields.Date(readonly=True)
    order_count = fields.Integer(string="Orders", readonly=True, aggregator="sum")
    order_amount = fields.Monetary(string="Ordered (untaxed)", readonly=True)
    invoiced_amount = fields.Monetary(
        string="Invoiced (net of refunds)", readonly=True, groups="account.group_account_invoice"
    )
    invoice_count = fields.Integer(string="Invoices", readonly=True)
    last_invoice_date = fields.Date(readonly=True)
    last_payment_date = fields.Date(readonly=True, groups="account.group_account_invoice")
    amount_due = fields.Monetary(
        string="Due (net of credit notes)", readonly=True, groups="account.group_account_invoice"
    )
    amount_overdue = fields.Monetary(readonly=True, groups="account.group_account_invoice")
    oldest_overdue_date = fields.Date(
        string="Oldest overdue due date", readonly=True, groups="account.group_account_invoice"
    )
    avg_days_between_orders = fields.Float(
        string="Rhythm (days)",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="Average number of days between two confirmed orders.",
    )
    next_order_date = fields.Date(
        string="Expected next order",
        readonly=True,
        help="Last order date plus the customer's usual rhythm.",
    )
    rfm_recency = fields.Integer(string="R", readonly=True, aggregator="avg")
    rfm_frequency = fields.Integer(string="F", readonly=True, aggregator="avg")
    rfm_monetary = fields.Integer(string="M", readonly=True, aggregator="avg")
    rfm_segment = fields.Selection(RFM_SEGMENTS, string="RFM segment", readonly=True)
    rfm_segment_previous = fields.Selection(
        RFM_SEGMENTS,
        string="RFM segment 30 days ago",
        readonly=True,
        help="The RFM segment the customer was in 30 days ago, computed from the orders and "
        "invoices dated until then (empty: not a customer yet). With the RFM segment it makes "
        "the migration matrix.",
    )
    rfm_window_orders = fields.Integer(
        string="Orders in RFM window",
        readonly=True,
        help="Confirmed orders within the RFM window (Settings).",
    )
    rfm_window_amount = fields.Monetary(
        string="Invoiced in RFM window", readonly=True, groups="account.group_account_invoice"
    )
    days_since_last_order = fields.Integer(
        compute="_compute_days_since_last_order", string="Days since last order"
    )

    _sql_constraints = [
        (
            "partner_company_uniq",
            "unique(partner_id, company_id)",
            "One row of facts per customer and company.",
        ),
    ]

    @api.depends("last_order_date")
    @api.depends_context("date")
    def _compute_days_since_last_order(self):
        today = fields.Date.context_today(self)
        for stats in self:
            stats.days_since_last_order = (
                (today - stats.last_order_date).days if stats.last_order_date else 0
            )

    def init(self):
        add_missing_columns(self.env.cr, self._table, EXTRA_COLUMNS)
        create_missing_indexes(self.env.cr, OWN_INDEXES)

    def action_refresh_all(self):
        self.env["pulse.partner.stats"].check_access("write")
        # sudo: the refresh writes every company's facts
        self.env["pulse.facts.engine"].sudo()._refresh_all()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Customer facts refreshed"),
                "type": "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }
