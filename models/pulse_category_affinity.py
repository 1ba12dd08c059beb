from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.analyze import analyze_if_large

# A pair of categories counts only when this many customers bought both: one customer's
# odd basket is not a pattern.
MIN_PAIR_CUSTOMERS = 2


class PulseCategoryAffinity(models.Model):
    """Which product categories go together: for each pair (A, B), how many customers who
    bought A also bought B. Recomputed set-based from the customer facts by the derived
    figures' refresh (pulse.facts.engine), which then reads it for each customer's
    recommendations (stored with the facts)."""

    _name = "pulse.category.affinity"
    _description = "Product category affinity"
    _order = "company_id, categ_id, confidence desc, id"
    _rec_name = "categ_id"
    _log_access = False

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    categ_id = fields.Many2one(
        "product.category", string="Customers who bought", required=True, readonly=True
    )
    other_categ_id = fields.Many2one(
        "product.category", string="Also bought", required=True, readonly=True
    )
    customer_count = fields.Integer(
        "Customers (both)", readonly=True, help="Customers who bought both categories."
    )
    base_count = fields.Integer(
        "Customers (first)",
        readonly=True,
        aggregator="max",
        help="Customers who bought the first category.",
    )
    confidence = fields.Float(
        "Confidence (%)",
        readonly=True,
        digits=(16, 1),
        aggregator="avg",
        help="Share of the customers who bought the first category who also bought the second.",
    )
    lift = fields.Float(
        readonly=True,
        digits=(16, 2),
        aggregator="avg",
        help="Confidence divided by the share of all customers who bought the second category: "
        "above 1, buying the first makes buying the second more likely than average.",
    )

    @api.model
    def _recompute(self):
        """Count every pair of categories bought by the same customers, per company, from
        the category arrays of the customer facts (one statement). Customers are counted
        per distinct set of categories (a few hundred), found from their arrays as stored
        (ranked by amount: tens of thousands of distinct ones): no array is unnested or
        sorted once per customer."""
        self.env["pulse.partner.stats"].flush_model(["partner_id", "company_id"])
        cr = self.env.cr
        cr.execute(SQL("DELETE FROM pulse_category_affinity"))
        deleted = cr.rowcount
        cr.execute(
            SQL(
                """
                WITH arrays AS (
                    SELECT company_id, categ_ids, COUNT(*) AS n FROM pulse_partner_stats
                     WHERE CARDINALITY(categ_ids) > 0
                     GROUP BY company_id, categ_ids
                ), sets AS (
                    SELECT company_id, categ_set, SUM(n) AS n
                      FROM (SELECT company_id, n,
                                   ARRAY(SELECT c FROM UNNEST(categ_ids) c ORDER BY c)
                                       AS categ_set
                              FROM arrays) a
                     GROUP BY company_id, categ_set
                ), bought AS (
                    SELECT s.company_id, s.categ_set, s.n, c.categ
                      FROM sets s, UNNEST(s.categ_set) AS c(categ)
                ), support AS (
                    SELECT company_id, categ, SUM(n) AS n FROM bought GROUP BY 1, 2
                ), buyers AS (
                    SELECT company_id, SUM(n) AS n FROM sets GROUP BY 1
                ), pairs AS (
                    SELECT a.company_id, a.categ AS categ_id, b.categ AS other_categ_id,
                           SUM(a.n) AS n
                      FROM bought a
                      JOIN bought b ON b.company_id = a.company_id
                                   AND b.categ_set = a.categ_set AND b.categ <> a.categ
                     GROUP BY 1, 2, 3
                    HAVING SUM(a.n) >= %(min)s
                )
                INSERT INTO pulse_category_affinity (company_id, categ_id, other_categ_id,
                       customer_count, base_count, confidence, lift)
                SELECT p.company_id, p.categ_id, p.other_categ_id, p.n, sa.n,
                       ROUND(100.0 * p.n / sa.n, 1),
                       ROUND((p.n / sa.n) / (sb.n / bu.n), 2)
                  FROM pairs p
                  JOIN support sa ON sa.company_id = p.company_id AND sa.categ = p.categ_id
                  JOIN support sb ON sb.company_id = p.company_id
                                 AND sb.categ = p.other_categ_id
                  JOIN buyers bu ON bu.company_id = p.company_id
                """,
                min=MIN_PAIR_CUSTOMERS,
            )
        )
        inserted = cr.rowcount
        # the table was rewritten: the recommendations read it next, planned on fresh figures
        analyze_if_large(cr, self._table, deleted + inserted, full=True)
        self.invalidate_model()
        return inserted
