from odoo import api, fields, models
from odoo.tools import SQL


class PulsePartnerCategoryStats(models.Model):
    _name = "pulse.partner.category.stats"
    _description = "Customer facts per product category"
    _order = "last_date desc, id"
    _rec_name = "categ_id"

    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        index=True,
        ondelete="cascade",
        readonly=True,
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    currency_id = fields.Many2one(related="company_id.currency_id", string="Currency")
    categ_id = fields.Many2one(
        "product.category",
        string="Product category",
        required=True,
        index=True,
        ondelete="cascade",
        readonly=True,
    )
    first_date = fields.Date("First bought", readonly=True)
    last_date = fields.Date("Last bought", readonly=True)
    order_count = fields.Integer("Orders", readonly=True)
    quantity = fields.Float(readonly=True, digits="Product Unit of Measure")
    amount = fields.Monetary("Amount (untaxed)", readonly=True)

    _sql_constraints = [
        (
            "partner_company_categ_uniq",
            "unique(partner_id, company_id, categ_id)",
            "One row of facts per customer, company and product category.",
        ),
    ]

    def init(self):
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS pulse_sale_order_line_order_idx
                ON sale_order_line (order_id) INCLUDE (product_id, product_uom_qty,
                                                       price_subtotal)
            """
        )

    @api.model
    def _facts_query(self, partner_ids=None):
        """SELECT of the facts per (commercial partner, company, category)."""
        restrict = SQL("")
        if partner_ids is not None:
            restrict = SQL("AND cp.id = ANY(%s)", list(partner_ids))
        return SQL(
            """
            SELECT cp.id AS partner_id, so.company_id, pt.categ_id,
                   MIN(so.date_order)::date AS first_date,
                   MAX(so.date_order)::date AS last_date,
                   COUNT(DISTINCT so.id) AS order_count,
                   SUM(sol.product_uom_qty) AS quantity,
                   ROUND(SUM(sol.price_subtotal
                             / COALESCE(NULLIF(so.currency_rate, 0), 1)), 2) AS amount
              FROM sale_order so
              JOIN sale_order_line sol ON sol.order_id = so.id
              JOIN product_product pp ON pp.id = sol.product_id
              JOIN product_template pt ON pt.id = pp.product_tmpl_id
              JOIN res_partner p ON p.id = so.partner_id
              JOIN res_partner cp ON cp.id = COALESCE(p.commercial_partner_id, p.id)
             WHERE so.state = 'sale' AND pt.categ_id IS NOT NULL %s
             GROUP BY cp.id, so.company_id, pt.categ_id
            """,
            restrict,
        )

    @api.model
    def _refresh(self, partner_ids=None):
        """Same contract as pulse.partner.stats._refresh, per product category."""
        restrict_delete = SQL("")
        if partner_ids is not None:
            partner_ids = list(partner_ids)
            restrict_delete = SQL("AND s.partner_id = ANY(%s)", partner_ids)
        self.env.cr.execute(
            SQL(
                """
                WITH facts AS MATERIALIZED (%(facts)s), upserted AS (
                    INSERT INTO pulse_partner_category_stats AS s
                           (partner_id, company_id, categ_id, first_date, last_date,
                            order_count, quantity, amount, create_uid, write_uid,
                            create_date, write_date)
                    SELECT partner_id, company_id, categ_id, first_date, last_date,
                           order_count, quantity, amount, %(uid)s, %(uid)s,
                           now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
                      FROM facts
                    ON CONFLICT (partner_id, company_id, categ_id) DO UPDATE
                       SET first_date = EXCLUDED.first_date, last_date = EXCLUDED.last_date,
                           order_count = EXCLUDED.order_count, quantity = EXCLUDED.quantity,
                           amount = EXCLUDED.amount, write_date = EXCLUDED.write_date
                     WHERE (s.first_date, s.last_date, s.order_count, s.quantity, s.amount)
                           IS DISTINCT FROM (EXCLUDED.first_date, EXCLUDED.last_date,
                                             EXCLUDED.order_count, EXCLUDED.quantity,
                                             EXCLUDED.amount)
                    RETURNING 1
                ), deleted AS (
                    DELETE FROM pulse_partner_category_stats s
                     WHERE NOT EXISTS (SELECT 1 FROM facts f
                                        WHERE f.partner_id = s.partner_id
                                          AND f.company_id = s.company_id
                                          AND f.categ_id = s.categ_id)
                       %(restrict_delete)s
                    RETURNING 1
                )
                SELECT (SELECT COUNT(*) FROM upserted), (SELECT COUNT(*) FROM deleted)
                """,
                facts=self._facts_query(partner_ids),
                restrict_delete=restrict_delete,
                uid=self.env.uid,
            )
        )
        result = self.env.cr.fetchone()
        self.invalidate_model()
        return result
