from odoo import fields, models
from odoo.tools import SQL

# A row's id is its facts row's id times this plus its rank: room for as many categories per
# customer.
ROW_ID_STRIDE = 10000


class PulsePartnerCategoryStats(models.Model):
    """Customer facts per product category, for reporting: a view over the per-category
    arrays that the customer facts refresh keeps on each pulse.partner.stats row."""

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
