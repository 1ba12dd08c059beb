from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.schema import (
    create_missing_indexes,
    create_trigger_functions,
    create_triggers,
    empty_beside,
)

# Set (transaction-local) while a refresh of the facts writes them: the refresh counts the
# rows it deletes itself, the trigger below leaves them alone.
FOLLOWED_SETTING = "pulse.category_totals_followed"


def unnested(alias):
    """What follows a facts row's alias in FROM to unnest the categories it adds up as `c`
    (the per-category arrays of pulse_partner_stats.EXTRA_COLUMNS)."""
    return f"""
    UNNEST({alias}.categ_ids, {alias}.categ_last_dates, {alias}.categ_order_counts,
           {alias}.categ_quantities, {alias}.categ_amounts)
        AS c(categ_id, last_date, order_count, quantity, amount)"""


# Facts rows deleted by anything but a refresh (a partner merged or deleted: its facts row
# goes with it) leave the totals: one statement per DELETE, over the rows it deleted.
DELETE_FUNCTION = "pulse_category_total_gone"
DELETE_BODY = f"""
BEGIN
    IF current_setting('{FOLLOWED_SETTING}', TRUE) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO pulse_category_total AS t
           (company_id, categ_id, last_date, customer_count, order_count, quantity, amount)
    SELECT s.company_id, c.categ_id, c.last_date, -COUNT(*), -SUM(c.order_count),
           -SUM(c.quantity), -SUM(c.amount)
      FROM gone s, {unnested("s")}
     GROUP BY 1, 2, 3
    ON CONFLICT (company_id, categ_id, last_date) DO UPDATE
       SET customer_count = t.customer_count + EXCLUDED.customer_count,
           order_count = t.order_count + EXCLUDED.order_count,
           quantity = t.quantity + EXCLUDED.quantity,
           amount = t.amount + EXCLUDED.amount;
    DELETE FROM pulse_category_total WHERE customer_count = 0;
    RETURN NULL;
END
"""
DELETE_TRIGGER = "pulse_category_total_gone"
DELETE_TRIGGER_SQL = f"""
    AFTER DELETE ON pulse_partner_stats REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION {DELETE_FUNCTION}()"""


class PulseCategoryTotal(models.Model):
    """The customer facts per product category added up per company, category and day of
    last purchase: what *Customers by product category* shows when it is read whole (or by
    company, category and last purchase), without unnesting every customer's categories.
    Kept in step by the refresh of the facts, in its transaction (the rows it rewrites are
    taken out before and added back after), and by a trigger for facts rows deleted
    otherwise (partner merges)."""

    _name = "pulse.category.total"
    _description = "Customer facts per product category, added up"
    _order = "company_id, categ_id, last_date desc"
    _rec_name = "categ_id"
    _log_access = False

    company_id = fields.Many2one("res.company", required=True, readonly=True, ondelete="cascade")
    categ_id = fields.Many2one(
        "product.category", "Product category", required=True, readonly=True, ondelete="cascade"
    )
    last_date = fields.Date("Last bought", required=True, readonly=True)
    customer_count = fields.Integer("Customers", readonly=True)
    order_count = fields.Integer("Orders", readonly=True)
    # numeric columns, as the facts' arrays: the sums are exact
    quantity = fields.Float(readonly=True, digits=(16, 4))
    amount = fields.Float("Amount (untaxed)", readonly=True, digits=(16, 2))

    def init(self):
        cr = self.env.cr
        # one total per company, category and day (what the upserts meet)
        create_missing_indexes(
            cr,
            {
                "pulse_category_total_key_uniq": """
                    ON pulse_category_total (company_id, categ_id, last_date)"""
            },
            unique=True,
        )
        create_trigger_functions(cr, {DELETE_FUNCTION: DELETE_BODY})
        create_triggers(cr, DELETE_TRIGGER, {"pulse_partner_stats": DELETE_TRIGGER_SQL})
        # facts computed before the totals existed (an update from an earlier version)
        if empty_beside(cr, self._table, "pulse_partner_stats WHERE categ_ids IS NOT NULL"):
            self._rebuild()

    # ------------------------------------------------------------------ upkeep
    @api.model
    def _add(self, sign, partner_ids):
        """Add (sign 1) or take out (sign -1) the categories of these commercial partners'
        facts, as stored now."""
        self.env.execute_query(
            SQL(
                """
                INSERT INTO pulse_category_total AS t
                       (company_id, categ_id, last_date, customer_count, order_count,
                        quantity, amount)
                SELECT s.company_id, c.categ_id, c.last_date, %(sign)s * COUNT(*),
                       %(sign)s * SUM(c.order_count), %(sign)s * SUM(c.quantity),
                       %(sign)s * SUM(c.amount)
                  FROM pulse_partner_stats s, %(unnested)s
                 WHERE s.partner_id = ANY(%(ids)s)
                 GROUP BY 1, 2, 3
                ON CONFLICT (company_id, categ_id, last_date) DO UPDATE
                   SET customer_count = t.customer_count + EXCLUDED.customer_count,
                       order_count = t.order_count + EXCLUDED.order_count,
                       quantity = t.quantity + EXCLUDED.quantity,
                       amount = t.amount + EXCLUDED.amount
                """,
                sign=sign,
                unnested=SQL(unnested("s")),
                ids=list(partner_ids),
            )
        )

    @api.model
    def _rebuild(self):
        """Add up every customer's categories again."""
        self.env.execute_query(
            SQL(
                """
                DELETE FROM pulse_category_total;
                INSERT INTO pulse_category_total
                       (company_id, categ_id, last_date, customer_count, order_count,
                        quantity, amount)
                SELECT s.company_id, c.categ_id, c.last_date, COUNT(*), SUM(c.order_count),
                       SUM(c.quantity), SUM(c.amount)
                  FROM pulse_partner_stats s, %s
                 GROUP BY 1, 2, 3
                """,
                SQL(unnested("s")),
            )
        )

    @api.model
    def _before_refresh(self, partner_ids=None):
        """Called by the refresh of the facts before it writes those of these commercial
        partners (None: everyone): their categories are taken out, and the rows it deletes
        are its own to count."""
        self.env.execute_query(SQL("SELECT set_config(%s, 'on', TRUE)", FOLLOWED_SETTING))
        if partner_ids is not None:
            self._add(-1, partner_ids)

    @api.model
    def _after_refresh(self, partner_ids=None):
        """Called by the refresh of the facts once it wrote them: their categories as they
        are now are added back (everyone's added up again after a full refresh)."""
        if partner_ids is None:
            self._rebuild()
        else:
            self._add(1, partner_ids)
            self.env.execute_query(SQL("DELETE FROM pulse_category_total WHERE customer_count = 0"))
        self.env.execute_query(SQL("SELECT set_config(%s, 'off', TRUE)", FOLLOWED_SETTING))
        self.invalidate_model()
