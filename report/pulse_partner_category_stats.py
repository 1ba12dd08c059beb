from odoo import api, fields, models
from odoo.osv import expression
from odoo.tools import SQL

# A row's id is its facts row's id times this plus its rank: room for as many categories per
# customer.
ROW_ID_STRIDE = 10000
# Read from the totals (pulse.category.total) when a grouping asks no more of the rows than
# they keep: these fields in the filter (record rules included) and the groups, and these
# aggregates (`__count` being the customers).
TOTALS_FIELDS = ("company_id", "categ_id", "last_date")
TOTALS_AGGREGATES = {
    "order_count:sum",
    "quantity:sum",
    "amount:sum",
    "last_date:max",
    "last_date:min",
    "categ_id:count_distinct",
    "company_id:count_distinct",
}
# Context key: the grouping reads the totals.
TOTALS_CONTEXT = "pulse_category_totals"


class PulsePartnerCategoryStats(models.Model):
    """Customer facts per product category, for reporting: a view over the per-category
    arrays that the customer facts refresh keeps on each pulse.partner.stats row. Grouped
    by category, company or day of last purchase only (the pivot as it opens), it reads the
    same figures added up in pulse.category.total instead of unnesting every customer's
    categories."""

    _name = "pulse.partner.category.stats"
    _inherit = "pulse.report.view"
    _description = "Customer facts per product category"
    _auto = False
    _order = "last_date desc, id"
    _rec_name = "categ_id"

    stats_id = fields.Many2one("pulse.partner.stats", string="Customer facts", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one(related="company_id.currency_id", string="Currency")
    categ_id = fields.Many2one("product.category", string="Product category", readonly=True)
    rank = fields.Integer(
        readonly=True, help="1 for the category this customer spent the most on, and so on."
    )
    first_date = fields.Date("First bought", readonly=True)
    last_date = fields.Date("Last bought", readonly=True)
    order_count = fields.Integer("Orders", readonly=True)
    quantity = fields.Float(readonly=True, digits="Product Unit of Measure")
    amount = fields.Monetary("Amount (untaxed)", readonly=True)

    def _select(self):
        return SQL(
            """
            SELECT s.id::bigint * %(stride)s + c.rank AS id, s.id AS stats_id, s.partner_id,
                   s.company_id, c.categ_id, c.rank::integer AS rank, c.first_date,
                   c.last_date, c.order_count, c.quantity, c.amount
            """,
            stride=ROW_ID_STRIDE,
        )

    def _from(self):
        # the parallel arrays of the facts row (pulse_partner_stats.EXTRA_COLUMNS), biggest
        # category first: its position is its rank
        return SQL(
            """
              FROM pulse_partner_stats s,
                   UNNEST(s.categ_ids, s.categ_first_dates, s.categ_last_dates,
                          s.categ_order_counts, s.categ_quantities, s.categ_amounts)
                       WITH ORDINALITY
                       AS c(categ_id, first_date, last_date, order_count, quantity, amount,
                            rank)
            """
        )

    # ------------------------------------------------------------------ totals
    @property
    def _table_query(self):
        if self.env.context.get(TOTALS_CONTEXT):
            # a row per company, category and day: the sums of the rows above, `__count`
            # their customers (see _read_group_select)
            return SQL(
                """
                SELECT t.id, NULL::integer AS stats_id, NULL::integer AS partner_id,
                       t.company_id, t.categ_id, NULL::integer AS rank,
                       NULL::date AS first_date, t.last_date, t.order_count, t.quantity,
                       t.amount, t.customer_count
                  FROM pulse_category_total t
                """
            )
        return self._query()

    @api.model
    def _reads_totals(self, domain, groupby, aggregates):
        """Whether the totals answer this grouping: it filters and groups on what they keep
        only, record rules included, and adds up what they add up."""
        if self.env.context.get(TOTALS_CONTEXT) is not None:
            return False
        if any(spec.split(":")[0] not in TOTALS_FIELDS for spec in groupby):
            return False
        if any(spec != "__count" and spec not in TOTALS_AGGREGATES for spec in aggregates):
            return False
        rules = self.env["ir.rule"]._compute_domain(self._name, "read")
        for leaf in expression.normalize_domain(list(domain or [])) + list(rules or []):
            if not expression.is_leaf(leaf) or leaf in (
                expression.TRUE_LEAF,
                expression.FALSE_LEAF,
            ):
                continue
            path = leaf[0].split(".")
            if path[0] not in TOTALS_FIELDS or (path[0] == "last_date" and len(path) > 1):
                return False
        return True

    @api.model
    def _read_group(
        self, domain, groupby=(), aggregates=(), having=(), offset=0, limit=None, order=None
    ):
        if not self._reads_totals(domain, groupby, aggregates):
            return super()._read_group(domain, groupby, aggregates, having, offset, limit, order)
        reader = self.with_context(**{TOTALS_CONTEXT: True})
        rows = super(PulsePartnerCategoryStats, reader)._read_group(
            domain, groupby, aggregates, having, offset, limit, order
        )
        # the groups' records in the caller's environment: the totals are for this read only
        return [
            tuple(v.with_env(self.env) if isinstance(v, models.BaseModel) else v for v in row)
            for row in rows
        ]

    def _read_group_select(self, aggregate_spec, query):
        if aggregate_spec == "__count" and self.env.context.get(TOTALS_CONTEXT):
            return SQL("COALESCE(SUM(%s), 0)", SQL.identifier(self._table, "customer_count"))
        return super()._read_group_select(aggregate_spec, query)
