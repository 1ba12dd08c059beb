from odoo import api, fields, models
from odoo.tools import SQL

from .pulse_partner_stats import RFM_SEGMENTS

# partner field -> customer fact it shows (current company, commercial partner's row)
PULSE_FIELDS = {
    "pulse_last_order_date": "last_order_date",
    "pulse_first_order_date": "first_order_date",
    "pulse_order_count": "order_count",
    "pulse_avg_days_between_orders": "avg_days_between_orders",
    "pulse_next_order_date": "next_order_date",
    "pulse_rfm_segment": "rfm_segment",
    "pulse_last_payment_date": "last_payment_date",
    "pulse_amount_due": "amount_due",
    "pulse_amount_overdue": "amount_overdue",
    "pulse_oldest_overdue_date": "oldest_overdue_date",
    "pulse_window_amount": "rfm_window_amount",
}


def _fact_searcher(fact):
    """The search method of a partner field that shows the customer fact `fact`."""

    def search(self, operator, value):
        return self._search_pulse_fact(fact, operator, value)

    return search


class ResPartner(models.Model):
    _inherit = "res.partner"

    pulse_stats_id = fields.Many2one(
        "pulse.partner.stats", compute="_compute_pulse_stats", string="Customer facts"
    )
    pulse_last_order_date = fields.Date(
        "Last order", compute="_compute_pulse_stats", search="_search_pulse_last_order_date"
    )
    pulse_first_order_date = fields.Date(
        "First order", compute="_compute_pulse_stats", search="_search_pulse_first_order_date"
    )
    pulse_order_count = fields.Integer(
        "Confirmed orders", compute="_compute_pulse_stats", search="_search_pulse_order_count"
    )
    pulse_avg_days_between_orders = fields.Float(
        "Rhythm (days)", compute="_compute_pulse_stats", digits=(16, 0)
    )
    pulse_next_order_date = fields.Date(
        "Expected next order",
        compute="_compute_pulse_stats",
        search="_search_pulse_next_order_date",
    )
    pulse_rfm_segment = fields.Selection(
        RFM_SEGMENTS,
        "RFM segment",
        compute="_compute_pulse_stats",
        search="_search_pulse_rfm_segment",
    )
    pulse_last_payment_date = fields.Date(
        "Last payment", compute="_compute_pulse_stats", groups="account.group_account_invoice"
    )
    pulse_amount_due = fields.Monetary(
        "Due",
        compute="_compute_pulse_stats",
        search="_search_pulse_amount_due",
        currency_field="pulse_currency_id",
        groups="account.group_account_invoice",
    )
    pulse_amount_overdue = fields.Monetary(
        "Overdue",
        compute="_compute_pulse_stats",
        search="_search_pulse_amount_overdue",
        currency_field="pulse_currency_id",
        groups="account.group_account_invoice",
    )
    pulse_oldest_overdue_date = fields.Date(
        "Oldest overdue due date",
        compute="_compute_pulse_stats",
        groups="account.group_account_invoice",
    )
    pulse_window_amount = fields.Monetary(
        "Invoiced (RFM window)",
        compute="_compute_pulse_stats",
        currency_field="pulse_currency_id",
        groups="account.group_account_invoice",
    )
    pulse_currency_id = fields.Many2one("res.currency", compute="_compute_pulse_stats")
    pulse_segment_ids = fields.Many2many(
        "pulse.segment",
        string="Segments",
        compute="_compute_pulse_segment_ids",
        search="_search_pulse_segment_ids",
        help="Segments the customer is a member of now.",
    )
    pulse_category_ids = fields.Many2many(
        "product.category",
        string="Categories bought",
        compute="_compute_pulse_categories",
        search="_search_pulse_category_ids",
        help="Product categories this customer bought, biggest amount first.",
    )
    pulse_recommended_categ_ids = fields.Many2many(
        "product.category",
        string="Recommended categories",
        compute="_compute_pulse_categories",
        search="_search_pulse_recommended_categ_ids",
        help="Categories this customer has not bought that customers who buy what they buy "
        "buy most (best first).",
    )
    pulse_interest_categ_ids = fields.Many2many(
        "product.category",
        string="Interested in category",
        compute="_compute_pulse_categories",
        search="_search_pulse_interest_categ_ids",
        help="Categories bought or recommended.",
    )
    pulse_category_stat_ids = fields.One2many(
        "pulse.partner.category.stats",
        string="Category facts",
        compute="_compute_pulse_category_stat_ids",
        search="_search_pulse_category_stat_ids",
        help="What the customer bought per product category (first and last date, orders, "
        "quantity, amount): filter with 'matches any of' to find, e.g., customers who "
        "bought a category in the last year.",
    )
    pulse_days_since_last_order = fields.Integer(
        "Days since last order", compute="_compute_pulse_stats"
    )

    @api.depends_context("company")
    def _compute_pulse_stats(self):
        company = self.env.company
        commercial = self.commercial_partner_id
        stats = (
            self.env["pulse.partner.stats"]
            .sudo()
            .search([("partner_id", "in", commercial.ids), ("company_id", "=", company.id)])
        )  # sudo: financial columns are hidden by the partner fields' own groups
        by_partner = {s.partner_id.id: s for s in stats}
        today = fields.Date.context_today(self)
        for partner in self:
            row = by_partner.get(partner.commercial_partner_id.id)
            partner.pulse_stats_id = row.with_env(self.env) if row else False
            partner.pulse_currency_id = company.currency_id
            for fname, fact in PULSE_FIELDS.items():
                partner[fname] = row[fact] if row else False
            partner.pulse_days_since_last_order = (
                (today - row.last_order_date).days if row and row.last_order_date else 0
            )

    @api.depends_context("company")
    def _compute_pulse_categories(self):
        # one query for all partners; category ids and their order only, no amount is shown
        self.env.cr.execute(
            "SELECT partner_id, categ_ids, recommended_categ_ids FROM pulse_partner_stats"
            " WHERE partner_id = ANY(%s) AND company_id = %s",
            [self.commercial_partner_id.ids, self.env.company.id],
        )
        by_partner = {r[0]: r[1:] for r in self.env.cr.fetchall()}
        for partner in self:
            bought, recommended = by_partner.get(partner.commercial_partner_id.id) or ([], [])
            partner.pulse_category_ids = bought or []
            partner.pulse_recommended_categ_ids = recommended or []
            partner.pulse_interest_categ_ids = (bought or []) + (recommended or [])

    @api.depends_context("company")
    def _compute_pulse_category_stat_ids(self):
        rows = self.env["pulse.partner.category.stats"].search(
            [
                ("partner_id", "in", self.commercial_partner_id.ids),
                ("company_id", "=", self.env.company.id),
            ]
        )
        for partner in self:
            partner.pulse_category_stat_ids = rows.filtered(
                lambda r, p=partner: r.partner_id == p.commercial_partner_id
            )

    def _search_pulse_category_stat_ids(self, operator, value):
        # "matches any of" arrives here as ("in", query of the matching rows)
        if operator not in ("in", "not in"):
            return NotImplemented
        rows = (
            self.env["pulse.partner.category.stats"]
            .sudo()
            ._search([("id", "in", value), ("company_id", "=", self.env.company.id)])
        )
        return [("commercial_partner_id", operator, rows.subselect("partner_id"))]

    def _search_pulse_categ_array(self, columns, operator, value):
        """Partners whose current-company facts list one of these categories (or one of
        their subcategories with child_of) in one of the array columns."""
        if operator not in ("in", "=", "child_of"):
            return NotImplemented
        if isinstance(value, int | str):
            value = [value]
        categories = self.env["product.category"]
        if operator == "child_of":
            ids = categories.search([("id", "child_of", value)]).ids
        elif all(isinstance(v, int) for v in value):
            ids = list(value)
        else:  # names typed in the search bar
            ids = categories.search([("complete_name", "ilike", value[0])]).ids
        matches = SQL(" OR ").join(
            SQL("%s && %s::integer[]", SQL.identifier(c), ids) for c in columns
        )
        return [
            (
                "commercial_partner_id",
                "in",
                SQL(
                    "(SELECT partner_id FROM pulse_partner_stats WHERE company_id = %s AND (%s))",
                    self.env.company.id,
                    matches,
                ),
            )
        ]

    def _search_pulse_category_ids(self, operator, value):
        return self._search_pulse_categ_array(("categ_ids",), operator, value)

    def _search_pulse_recommended_categ_ids(self, operator, value):
        return self._search_pulse_categ_array(("recommended_categ_ids",), operator, value)

    def _search_pulse_interest_categ_ids(self, operator, value):
        return self._search_pulse_categ_array(
            ("categ_ids", "recommended_categ_ids"), operator, value
        )

    def _compute_pulse_segment_ids(self):
        members = self.env["pulse.segment.member"].search(
            [("partner_id", "in", self.commercial_partner_id.ids), ("date_left", "=", False)]
        )
        by_partner = {}
        for member in members:
            by_partner.setdefault(member.partner_id.id, []).append(member.segment_id.id)
        for partner in self:
            partner.pulse_segment_ids = by_partner.get(partner.commercial_partner_id.id, [])

    def _search_pulse_segment_ids(self, operator, value):
        if operator not in ("in", "="):
            return NotImplemented
        members = self.env["pulse.segment.member"]._search(
            [("segment_id", operator, value), ("date_left", "=", False)]
        )
        return [("commercial_partner_id", "in", members.subselect("partner_id"))]

    def _search_pulse_fact(self, fact, operator, value):
        """Partners (contacts included) whose commercial partner's current-company fact
        matches: one SQL subquery, no Python loop."""
        stats = (
            self.env["pulse.partner.stats"]
            .sudo()
            ._search([(fact, operator, value), ("company_id", "=", self.env.company.id)])
        )
        return [("commercial_partner_id", "in", stats.subselect("partner_id"))]

    _search_pulse_last_order_date = _fact_searcher("last_order_date")
    _search_pulse_order_count = _fact_searcher("order_count")
    _search_pulse_first_order_date = _fact_searcher("first_order_date")
    _search_pulse_next_order_date = _fact_searcher("next_order_date")
    _search_pulse_rfm_segment = _fact_searcher("rfm_segment")
    _search_pulse_amount_due = _fact_searcher("amount_due")
    _search_pulse_amount_overdue = _fact_searcher("amount_overdue")

    def action_pulse_orders(self):
        action = self.env["ir.actions.actions"]._for_xml_id("sale.action_orders")
        action["domain"] = [
            ("partner_id", "child_of", self.commercial_partner_id.ids),
            ("state", "=", "sale"),
        ]
        action["context"] = {"create": False}
        return action

    def action_pulse_invoices(self):
        action = self.env["ir.actions.actions"]._for_xml_id("account.action_move_out_invoice_type")
        action["domain"] = [
            ("partner_id", "child_of", self.commercial_partner_id.ids),
            ("move_type", "in", ("out_invoice", "out_refund")),
            ("state", "=", "posted"),
        ]
        action["context"] = {"create": False, "default_move_type": "out_invoice"}
        return action
