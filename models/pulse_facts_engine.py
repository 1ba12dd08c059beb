import logging
import time
from datetime import timedelta

from odoo import api, fields, models
from odoo.sql_db import db_connect
from odoo.tools import SQL

from ..tools.analyze import analyze_if_large
from ..tools.cron import batch_committer
from ..tools.params import param_key, setting
from ..tools.schema import create_missing_indexes
from .pulse_stats_queue import QUEUE_SOURCE_FIELDS

_logger = logging.getLogger(__name__)


def rfm_segment_sql(r, f):
    """The classic recency x frequency grid (scores 1-5), as SQL over the expressions r and
    f."""
    return SQL(
        """CASE
            WHEN %(r)s = 5 AND %(f)s >= 4 THEN 'champions'
            WHEN %(r)s >= 3 AND %(f)s >= 4 THEN 'loyal'
            WHEN %(r)s >= 4 AND %(f)s BETWEEN 2 AND 3 THEN 'potential_loyalist'
            WHEN %(r)s = 5 AND %(f)s = 1 THEN 'new'
            WHEN %(r)s = 4 AND %(f)s = 1 THEN 'promising'
            WHEN %(r)s = 3 AND %(f)s = 3 THEN 'need_attention'
            WHEN %(r)s = 3 AND %(f)s <= 2 THEN 'about_to_sleep'
            WHEN %(r)s <= 2 AND %(f)s = 5 THEN 'cant_lose'
            WHEN %(r)s <= 2 AND %(f)s >= 3 THEN 'at_risk'
            WHEN %(r)s = 1 AND %(f)s = 1 THEN 'lost'
            ELSE 'hibernating'
        END""",
        r=r,
        f=f,
    )


# The grid over columns r and f (today's scores), and over previous_r and previous_f (the
# scores of 30 days ago: no segment when the customer had no order nor invoice by then).
RFM_SEGMENT_SQL = rfm_segment_sql(SQL("r"), SQL("f"))
PREVIOUS_SEGMENT_SQL = SQL(
    "CASE WHEN previous_rfm_window_orders IS NOT NULL THEN %s END",
    rfm_segment_sql(SQL("previous_r"), SQL("previous_f")),
)
# The RFM scores are quintiles: a value scores 1 + the number of these cut points of its
# company's customers it is above.
QUINTILE_CUTS = (0.2, 0.4, 0.6, 0.8)
# The RFM segment of this many days ago is kept beside today's (the migration matrix).
PREVIOUS_RFM_DAYS = 30
# The prefix of the figures of 30 days ago, beside today's: previous_last_order_date...,
# their boundaries previous_recency..., their scores previous_r...
PREVIOUS = "previous_"
# The nightly refresh moves the facts on from the day they stand at when it is at most this
# many days back; further back, or unknown, it recomputes everything.
MAX_ROLL_DAYS = 7
# How many categories are recommended to each customer.
RECOMMENDATIONS = 3

# The facts the date alone changes, its documents unchanged (_dated_facts_sql): what the
# nightly refresh recomputes of the customers whose dates move.
DATED_COLUMNS = (
    "amount_overdue",
    "oldest_overdue_date",
    "rfm_window_orders",
    "rfm_window_amount",
    "previous_last_order_date",
    "previous_rfm_window_orders",
    "previous_rfm_window_amount",
)
# Columns written by the refresh from the facts query (same names on both sides).
FACT_COLUMNS = (
    "first_order_date",
    "last_order_date",
    "order_count",
    "order_amount",
    "invoiced_amount",
    "invoice_count",
    "last_invoice_date",
    "last_payment_date",
    "amount_due",
    "amount_overdue",
    "oldest_overdue_date",
    "avg_days_between_orders",
    "next_order_date",
    "rfm_window_orders",
    "rfm_window_amount",
    "previous_last_order_date",
    "previous_rfm_window_orders",
    "previous_rfm_window_amount",
    "categ_ids",
    "categ_first_dates",
    "categ_last_dates",
    "categ_order_counts",
    "categ_quantities",
    "categ_amounts",
)
# The scores and segments, and what they are computed as in the scoring queries. (There,
# the scores are computed in a subquery kept apart with OFFSET 0: pulled up into the
# query above, each score's expression was copied into every branch of the segment grid
# and computed a dozen times per customer.)
RFM_COLUMNS = ("rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_segment")
SCORED_COLUMNS = ("r", "f", "m", "rfm_segment")
# Added to an UPDATE of the facts FROM a CTE `changed` of the rows to write, usually few:
# they are found by their primary key, instead of hashing every row of the table to join them.
BY_ID = SQL("AND t.id = ANY(ARRAY(SELECT id FROM changed))")
# The boundaries of pulse.rfm.threshold (and, prefixed with PREVIOUS, those of 30 days ago).
THRESHOLD_NAMES = ("recency", "frequency", "monetary")
REFRESH_LOCK = 0x70756C7365  # advisory lock key ("pulse")
# Customers claimed from the queue by one incremental refresh.
QUEUE_BATCH = 20000

# What the refresh reads from the ERP, by model: flushed before it reads. The fields whose
# writes fire the queue triggers (pulse.stats.queue), and what else the facts query reads.
SOURCE_FIELDS = {
    model: sorted({*QUEUE_SOURCE_FIELDS.get(model, ()), *extra})
    for model, extra in {
        "res.partner": (),
        "sale.order": (),
        "sale.order.line": ("order_id", "product_id", "product_uom_qty", "price_subtotal"),
        "product.product": ("product_tmpl_id",),
        "product.template": ("categ_id",),
        "account.move": ("move_type",),
        "account.payment": (
            "partner_id",
            "company_id",
            "date",
            "state",
            "partner_type",
            "payment_type",
        ),
    }.items()
}

# Source-table indexes the refresh reads through: what follows CREATE INDEX <name>.
# Covering indexes: the incremental refresh reads a few thousand customers' documents with
# index-only scans instead of a random heap read per document. A changed index gets a new
# name (the old one is dropped by a migration): an existing one is never rebuilt by an update.
ERP_INDEXES = {
    "pulse_sale_order_customer_idx": """
        ON sale_order (partner_id, company_id)
        INCLUDE (id, date_order, amount_untaxed, currency_rate)
        WHERE state = 'sale'""",
    "pulse_sale_order_line_order_idx": """
        ON sale_order_line (order_id)
        INCLUDE (product_id, product_uom_qty, price_subtotal)""",
    "pulse_account_payment_inbound_idx": """
        ON account_payment (partner_id) INCLUDE (date, company_id, state)
        WHERE partner_type = 'customer' AND payment_type = 'inbound'""",
    "pulse_account_move_invoice_idx": """
        ON account_move (commercial_partner_id, company_id)
        INCLUDE (move_type, invoice_date, invoice_date_due, amount_untaxed_signed,
                 amount_residual_signed)
        WHERE state = 'posted' AND move_type IN ('out_invoice', 'out_refund')""",
    # the open invoices by due date: the nightly run of the purchase habits finds the
    # customers whose lateness grows without reading a year of invoices
    "pulse_account_move_open_due_idx": """
        ON account_move (invoice_date_due) INCLUDE (commercial_partner_id)
        WHERE state = 'posted' AND move_type = 'out_invoice'
          AND payment_state IN ('not_paid', 'partial')""",
}

# The nightly chain: the full refresh of the facts, then the figures derived from them, then
# the purchase habits in the profiles; each cron starts the next when it is done.
DERIVED_CRON = "customer_pulse.ir_cron_pulse_stats_derived"
PROFILE_CRON = "customer_pulse.ir_cron_pulse_purchase_attributes"
# A cron of the chain runs on its own schedule (a day apart) only as a safety net: each run
# of the chain moves that schedule to this long after it, so it fires only when a night's
# chain did not reach it.
CHAIN_SAFETY_NET = timedelta(days=1, hours=6)


class PulseFactsEngine(models.AbstractModel):
    """The refresh of the customer facts (pulse.partner.stats): full, incremental (the
    customers queued in pulse.stats.queue), the RFM scores against each company's quintile
    boundaries (pulse.rfm.threshold), the RFM segment of 30 days ago and the
    recommendations; the crons' entry points. Set-based SQL throughout."""

    _name = "pulse.facts.engine"
    _description = "Customer facts refresh"

    def init(self):
        """Create the source-table indexes that are missing (only those: creating an index,
        even one that exists, blocks every write on its table until the update ends)."""
        create_missing_indexes(self.env.cr, ERP_INDEXES)

    # ------------------------------------------------------------------ queries
    @api.model
    def _contacts_of(self, commercial_ids):
        """The partners whose documents count for these commercial partners (themselves and
        their contacts), as (contact ids, their commercial partner ids): restricting the source
        tables by `partner_id = ANY(contact ids)` uses their indexes, and the pairs replace a
        join with every partner."""
        ids = list(commercial_ids)
        pairs = sorted(
            self.env.execute_query(
                SQL(
                    "SELECT id, COALESCE(commercial_partner_id, id) FROM res_partner"
                    " WHERE commercial_partner_id = ANY(%s) OR id = ANY(%s)",
                    ids,
                    ids,
                )
            )
        )
        return [p[0] for p in pairs], [p[1] for p in pairs]

    @api.model
    def _partners_sql(self, contacts):
        """The relation (id, commercial_partner_id) the source tables join to find each
        document's customer: every partner, or the pairs of _contacts_of."""
        if contacts is None:
            return SQL("res_partner")
        return SQL(
            "(SELECT UNNEST(%s::integer[]) AS id, UNNEST(%s::integer[]) AS commercial_partner_id)",
            *contacts,
        )

    @api.model
    def _days(self, today=None):
        """The days the facts are computed against, as a dict: today; since, the first day of
        today's RFM window; previous_since and previous_until, the first day of the window of
        PREVIOUS_RFM_DAYS ago and the day after its last (the figures of then)."""
        today = today or fields.Date.context_today(self)
        window = timedelta(days=setting(self.env, "rfm_window_days"))
        then = today - timedelta(days=PREVIOUS_RFM_DAYS)
        return {
            "today": today,
            "since": today - window,
            "previous_since": then - window,
            "previous_until": then + timedelta(days=1),
        }

    @api.model
    def _orders_query(self, days, contacts=None):
        """SELECT of the confirmed orders per (commercial partner, company): first and last
        order date, count, untaxed amount in the company's currency, window_orders (the
        orders of the RFM window); and the same of PREVIOUS_RFM_DAYS ago: previous_orders
        (dated until then), previous_last_order_date, previous_window_orders. days: of
        _days; contacts: only those of _contacts_of (None: all)."""
        where = [SQL("so.state = 'sale'")]
        if contacts is not None:
            # by the source table's own partner column, so that its index serves
            where.append(SQL("so.partner_id = ANY(%s)", contacts[0]))
        then = SQL("so.date_order < %s", days["previous_until"])
        return SQL(
            """
            SELECT COALESCE(p.commercial_partner_id, p.id) AS partner_id, so.company_id,
                   MIN(so.date_order)::date AS first_order_date,
                   MAX(so.date_order)::date AS last_order_date,
                   COUNT(*) AS order_count,
                   SUM(so.amount_untaxed / COALESCE(NULLIF(so.currency_rate, 0), 1))
                       AS order_amount,
                   COUNT(*) FILTER (WHERE so.date_order >= %(since)s) AS window_orders,
                   COUNT(*) FILTER (WHERE %(then)s) AS previous_orders,
                   (MAX(so.date_order) FILTER (WHERE %(then)s))::date
                       AS previous_last_order_date,
                   COUNT(*) FILTER (WHERE %(then)s AND so.date_order >= %(previous_since)s)
                       AS previous_window_orders
              FROM sale_order so
              JOIN %(partners)s p ON p.id = so.partner_id
             WHERE %(where)s
             GROUP BY 1, so.company_id
            """,
            since=days["since"],
            then=then,
            previous_since=days["previous_since"],
            partners=self._partners_sql(contacts),
            where=SQL(" AND ").join(where),
        )

    @api.model
    def _moves_query(self, days, partner_ids=None):
        """SELECT of the posted invoices and credit notes per (commercial partner, company):
        amounts, counts, what is due and overdue today, window_invoiced (the amount invoiced
        in the RFM window); and the same of PREVIOUS_RFM_DAYS ago: previous_moves (dated
        until then), previous_window_invoiced. days: of _days; partner_ids: only those
        commercial partners (None: all)."""
        where = [
            SQL("m.state = 'posted' AND m.move_type IN ('out_invoice', 'out_refund')"),
            SQL("m.commercial_partner_id IS NOT NULL"),
        ]
        if partner_ids is not None:
            where.append(SQL("m.commercial_partner_id = ANY(%s)", list(partner_ids)))
        then = SQL("m.invoice_date < %s", days["previous_until"])
        return SQL(
            """
            SELECT m.commercial_partner_id AS partner_id, m.company_id,
                   SUM(m.amount_untaxed_signed) AS invoiced_amount,
                   COUNT(*) FILTER (WHERE m.move_type = 'out_invoice') AS invoice_count,
                   MAX(m.invoice_date) FILTER (WHERE m.move_type = 'out_invoice')
                       AS last_invoice_date,
                   SUM(m.amount_residual_signed) AS amount_due,
                   SUM(m.amount_residual_signed) FILTER (
                       WHERE m.move_type = 'out_invoice' AND m.invoice_date_due < %(today)s
                         AND m.amount_residual_signed > 0) AS amount_overdue,
                   MIN(m.invoice_date_due) FILTER (
                       WHERE m.move_type = 'out_invoice' AND m.invoice_date_due < %(today)s
                         AND m.amount_residual_signed > 0) AS oldest_overdue_date,
                   SUM(m.amount_untaxed_signed) FILTER (WHERE m.invoice_date >= %(since)s)
                       AS window_invoiced,
                   COUNT(*) FILTER (WHERE %(then)s) AS previous_moves,
                   SUM(m.amount_untaxed_signed) FILTER (
                       WHERE %(then)s AND m.invoice_date >= %(previous_since)s)
                       AS previous_window_invoiced
              FROM account_move m
             WHERE %(where)s
             GROUP BY m.commercial_partner_id, m.company_id
            """,
            since=days["since"],
            today=days["today"],
            then=then,
            previous_since=days["previous_since"],
            where=SQL(" AND ").join(where),
        )

    @api.model
    def _category_facts_query(self, contacts=None):
        """SELECT of the facts per (commercial partner, company, product category)."""
        restrict = SQL("")
        if contacts is not None:
            restrict = SQL("AND so.partner_id = ANY(%s)", contacts[0])
        return SQL(
            """
            SELECT COALESCE(p.commercial_partner_id, p.id) AS partner_id, so.company_id,
                   pt.categ_id,
                   MIN(so.date_order)::date AS first_date,
                   MAX(so.date_order)::date AS last_date,
                   COUNT(DISTINCT so.id)::integer AS order_count,
                   SUM(sol.product_uom_qty) AS quantity,
                   ROUND(SUM(sol.price_subtotal
                             / COALESCE(NULLIF(so.currency_rate, 0), 1)), 2) AS amount
              FROM sale_order so
              JOIN sale_order_line sol ON sol.order_id = so.id
              JOIN product_product pp ON pp.id = sol.product_id
              JOIN product_template pt ON pt.id = pp.product_tmpl_id
              JOIN %s p ON p.id = so.partner_id
             WHERE so.state = 'sale' AND pt.categ_id IS NOT NULL %s
             GROUP BY 1, so.company_id, pt.categ_id
            """,
            self._partners_sql(contacts),
            restrict,
        )

    @api.model
    def _facts_query(self, partner_ids=None):
        """SELECT of every fact per (commercial partner, company); partner_ids restricts it
        to those commercial partners (None: all)."""
        days = self._days()
        contacts = None
        restrict_pay = SQL("")
        if partner_ids is not None:
            contacts = self._contacts_of(partner_ids)
            restrict_pay = SQL("AND pay.partner_id = ANY(%s)", contacts[0])
        return SQL(
            """
            WITH orders AS (%(orders)s
            ), moves AS (%(moves)s
            ), payments AS (
                SELECT COALESCE(p.commercial_partner_id, p.id) AS partner_id, pay.company_id,
                       MAX(pay.date) AS last_payment_date
                  FROM account_payment pay
                  JOIN %(partners)s p ON p.id = pay.partner_id
                 WHERE pay.partner_type = 'customer' AND pay.payment_type = 'inbound'
                   AND pay.state IN ('in_process', 'paid') %(restrict_pay)s
                 GROUP BY 1, pay.company_id
            ), categories AS (
                -- one sort for all six arrays (PostgreSQL 15 would sort once per aggregate
                -- with an ORDER BY inside it); they stay parallel whatever the order
                SELECT partner_id, company_id,
                       ARRAY_AGG(categ_id) AS categ_ids,
                       ARRAY_AGG(first_date) AS categ_first_dates,
                       ARRAY_AGG(last_date) AS categ_last_dates,
                       ARRAY_AGG(order_count) AS categ_order_counts,
                       ARRAY_AGG(quantity) AS categ_quantities,
                       ARRAY_AGG(amount) AS categ_amounts
                  FROM (%(categ_facts)s
                        ORDER BY partner_id, company_id, amount DESC, categ_id) c
                 GROUP BY partner_id, company_id
            ), keys AS (
                SELECT partner_id, company_id FROM orders
                 UNION SELECT partner_id, company_id FROM moves
            ), facts AS (
                SELECT partner_id, company_id, o.first_order_date, o.last_order_date,
                       COALESCE(o.order_count, 0) AS order_count,
                       ROUND(COALESCE(o.order_amount, 0), 2) AS order_amount,
                       COALESCE(mv.invoiced_amount, 0) AS invoiced_amount,
                       COALESCE(mv.invoice_count, 0) AS invoice_count,
                       mv.last_invoice_date, pa.last_payment_date,
                       COALESCE(mv.amount_due, 0) AS amount_due,
                       CASE WHEN o.order_count > 1 THEN
                           ROUND(((o.last_order_date - o.first_order_date)::numeric
                                  / (o.order_count - 1)), 1) END AS avg_days,
                       %(dated)s,
                       ca.categ_ids, ca.categ_first_dates, ca.categ_last_dates,
                       ca.categ_order_counts, ca.categ_quantities, ca.categ_amounts
                  FROM keys k
                  LEFT JOIN orders o USING (partner_id, company_id)
                  LEFT JOIN moves mv USING (partner_id, company_id)
                  LEFT JOIN payments pa USING (partner_id, company_id)
                  LEFT JOIN categories ca USING (partner_id, company_id)
            )
            SELECT partner_id, company_id, first_order_date, last_order_date, order_count,
                   order_amount, invoiced_amount, invoice_count, last_invoice_date,
                   last_payment_date, amount_due, amount_overdue, oldest_overdue_date,
                   avg_days AS avg_days_between_orders,
                   (last_order_date + ROUND(avg_days)::integer) AS next_order_date,
                   rfm_window_orders, rfm_window_amount, previous_last_order_date,
                   previous_rfm_window_orders, previous_rfm_window_amount, categ_ids,
                   categ_first_dates, categ_last_dates, categ_order_counts, categ_quantities,
                   categ_amounts
              FROM facts
            """,
            orders=self._orders_query(days, contacts=contacts),
            moves=self._moves_query(days, partner_ids=partner_ids),
            dated=self._dated_facts_sql(),
            partners=self._partners_sql(contacts),
            restrict_pay=restrict_pay,
            categ_facts=self._category_facts_query(contacts),
        )

    @api.model
    def _dated_facts_sql(self):
        """The select list of the facts the date alone changes (DATED_COLUMNS), over the
        aggregates `o` (_orders_query) and `mv` (_moves_query). The figures of 30 days ago
        are NULL for a customer without an order or invoice by then."""
        then = SQL("COALESCE(o.previous_orders, 0) + COALESCE(mv.previous_moves, 0) > 0")
        return SQL(
            """COALESCE(mv.amount_overdue, 0) AS amount_overdue, mv.oldest_overdue_date,
               COALESCE(o.window_orders, 0) AS rfm_window_orders,
               COALESCE(mv.window_invoiced, 0) AS rfm_window_amount,
               o.previous_last_order_date,
               CASE WHEN %(then)s THEN COALESCE(o.previous_window_orders, 0) END
                   AS previous_rfm_window_orders,
               CASE WHEN %(then)s THEN COALESCE(mv.previous_window_invoiced, 0) END
                   AS previous_rfm_window_amount""",
            then=then,
        )

    @api.model
    def _quintiles_sql(self, column, positive_only=False):
        """The aggregate of the QUINTILE_CUTS boundaries of `column` (an array, ties kept:
        PERCENTILE_DISC returns values that exist); positive_only: over the rows where the
        column is above 0."""
        quintiles = SQL(
            "PERCENTILE_DISC(%s::float8[]) WITHIN GROUP (ORDER BY %s)",
            list(QUINTILE_CUTS),
            column,
        )
        if positive_only:
            quintiles = SQL("%s FILTER (WHERE %s > 0)", quintiles, column)
        return quintiles

    @api.model
    def _thresholds_query(self, source, company_ids=None, prefixes=("",)):
        """SELECT of each company's RFM boundaries over `source`, a relation of facts: for
        each prefix p (PREVIOUS: the figures of 30 days ago), p+recency, p+frequency and
        p+monetary, of the columns p+last_order_date, p+rfm_window_orders and
        p+rfm_window_amount; company_ids: those companies only (None: all)."""
        where = SQL("WHERE company_id = ANY(%s)", list(company_ids)) if company_ids else SQL("")
        boundaries = []
        for prefix in prefixes:
            for name, column, positive_only in (
                ("recency", "last_order_date", False),
                ("frequency", "rfm_window_orders", True),
                ("monetary", "rfm_window_amount", True),
            ):
                boundaries.append(
                    SQL(
                        "%s AS %s",
                        self._quintiles_sql(
                            SQL.identifier(prefix + column), positive_only=positive_only
                        ),
                        SQL.identifier(prefix + name),
                    )
                )
        return SQL(
            "SELECT company_id, %s FROM %s %s GROUP BY company_id",
            SQL(", ").join(boundaries),
            source,
            where,
        )

    @api.model
    def _threshold_columns_sql(self, thresholds=None, prefixes=("", PREVIOUS)):
        """The relation the scores read as `th`: each company's boundaries of `thresholds`
        (a relation like pulse_rfm_threshold, the default) one per column, p+recency_1...
        (p: each prefix). A customer is compared with columns, several times cheaper than
        with the elements of arrays; kept apart with OFFSET 0, they are taken out of the
        arrays once per company, not once per customer."""
        columns = [
            SQL(
                "%s[%s] AS %s",
                SQL.identifier(prefix + name),
                i,
                SQL.identifier(f"{prefix}{name}_{i}"),
            )
            for prefix in prefixes
            for name in THRESHOLD_NAMES
            for i in range(1, len(QUINTILE_CUTS) + 1)
        ]
        return SQL(
            "(SELECT company_id, %s FROM %s OFFSET 0)",
            SQL(", ").join(columns),
            thresholds or SQL("pulse_rfm_threshold"),
        )

    @staticmethod
    def _score_sql(value, name):
        """1 + the number of the boundaries th.<name>_1..4 strictly below value (1 when the
        value or the boundaries are unknown): a score that ties never split arbitrarily."""
        return SQL(" + ").join(
            [SQL("1")]
            + [
                SQL("COALESCE((%s > %s)::int, 0)", value, SQL.identifier("th", f"{name}_{i}"))
                for i in range(1, len(QUINTILE_CUTS) + 1)
            ]
        )

    @api.model
    def _rfm_scores_sql(self, prefix=""):
        """The select list of the scores p+r, p+f and p+m (p: prefix) of facts `f` against
        boundaries `th` (_threshold_columns_sql; a customer with no order or no amount in the
        window scores 1)."""

        def col(name):
            return SQL.identifier("f", prefix + name)

        return SQL(
            """%(r)s AS %(r_name)s,
               CASE WHEN %(orders)s > 0 THEN %(f)s ELSE 1 END AS %(f_name)s,
               CASE WHEN %(amount)s > 0 THEN %(m)s ELSE 1 END AS %(m_name)s""",
            r=self._score_sql(col("last_order_date"), prefix + "recency"),
            f=self._score_sql(col("rfm_window_orders"), prefix + "frequency"),
            m=self._score_sql(col("rfm_window_amount"), prefix + "monetary"),
            orders=col("rfm_window_orders"),
            amount=col("rfm_window_amount"),
            r_name=SQL.identifier(prefix + "r"),
            f_name=SQL.identifier(prefix + "f"),
            m_name=SQL.identifier(prefix + "m"),
        )

    # ------------------------------------------------------------------ refresh
    @api.model
    def _flush_sources(self):
        """Write what the ORM holds of the documents the refresh reads."""
        for model, fnames in SOURCE_FIELDS.items():
            self.env[model].flush_model(fnames)
        self.env["pulse.partner.stats"].flush_model()

    @api.model
    def _refresh(self, partner_ids=None):
        """Recompute facts of the given commercial partners (None: everyone).

        Two statements: the facts go into a temporary table (a plain CREATE TABLE AS, which
        PostgreSQL may run in parallel), then one statement scores them, compares them with
        the stored rows in a hash join and writes only the new, changed and gone rows (all
        orders cancelled, partner merged away). A full refresh also recomputes each company's
        RFM quintile boundaries (today's and those of 30 days ago) and the segments of 30 days
        ago; an incremental one scores the touched customers against the stored boundaries
        and leaves their segment of 30 days ago to the nightly rescoring (_rescore). Returns
        (rows written, rows deleted)."""
        cr = self.env.cr
        self._flush_sources()
        full = partner_ids is None
        # the categories added up for reporting follow the rows written here
        self.env["pulse.category.total"]._before_refresh(partner_ids)
        # Sorts and hash joins in memory, and no JIT (the planner's row estimates are far too
        # high, and compiling took longer than aggregating). This transaction only.
        cr.execute("SET LOCAL work_mem = '256MB'")
        cr.execute("SET LOCAL jit = off")
        cr.execute("DROP TABLE IF EXISTS pulse_facts_new")
        cr.execute(
            SQL(
                "CREATE TEMP TABLE pulse_facts_new ON COMMIT DROP AS %s",
                self._facts_query(None if full else partner_ids),
            )
        )
        cr.execute("ANALYZE pulse_facts_new")
        if full:
            self._compute_thresholds(SQL("pulse_facts_new"))
            restrict_delete = SQL("")
        else:
            self._ensure_thresholds()
            restrict_delete = SQL("AND s.partner_id = ANY(%s)", list(partner_ids))
        rfm_cols, scored_cols = RFM_COLUMNS, SCORED_COLUMNS
        previous_scores = previous_segment = SQL("")
        if full:
            rfm_cols += ("rfm_segment_previous",)
            scored_cols += ("rfm_segment_previous",)
            previous_scores = SQL(", %s", self._rfm_scores_sql(PREVIOUS))
            previous_segment = SQL(", %s AS rfm_segment_previous", PREVIOUS_SEGMENT_SQL)
        all_cols = (*FACT_COLUMNS, *rfm_cols)
        new_cols = (*FACT_COLUMNS, *scored_cols)
        cols = SQL(", ").join(SQL.identifier(c) for c in all_cols)
        # Compare new facts with stored ones in one hash join: only new, changed and gone
        # rows are written (a per-row ON CONFLICT probe costs more than the whole join).
        cr.execute(
            SQL(
                """
                WITH th AS %(th)s,
                scored AS (
                    SELECT x.*, %(segment)s AS rfm_segment %(previous_segment)s
                      FROM (SELECT f.*, %(scores)s %(previous_scores)s
                              FROM pulse_facts_new f
                              LEFT JOIN th ON th.company_id = f.company_id
                            OFFSET 0) x
                ), stored AS (
                    SELECT * FROM pulse_partner_stats s WHERE TRUE %(restrict_delete)s
                ), changes AS MATERIALIZED (
                    SELECT s.id AS stats_id, n.*
                      FROM scored n
                      FULL JOIN stored s
                        ON s.partner_id = n.partner_id AND s.company_id = n.company_id
                     WHERE s.id IS NULL OR n.partner_id IS NULL
                        OR (%(stored_cols)s) IS DISTINCT FROM (%(new_cols)s)
                ), inserted AS (
                    INSERT INTO pulse_partner_stats AS s (partner_id, company_id, %(cols)s)
                    SELECT partner_id, company_id, %(new_values)s
                      FROM changes WHERE stats_id IS NULL
                    ON CONFLICT (partner_id, company_id) DO UPDATE SET %(excluded)s
                    RETURNING 1
                ), updated AS (
                    UPDATE pulse_partner_stats s
                       SET %(from_changes)s
                      FROM changes c
                     WHERE s.id = c.stats_id AND c.partner_id IS NOT NULL %(restrict_delete)s
                    RETURNING 1
                ), deleted AS (
                    DELETE FROM pulse_partner_stats s
                     USING changes c
                     WHERE s.id = c.stats_id AND c.partner_id IS NULL %(restrict_delete)s
                    RETURNING 1
                )
                SELECT (SELECT COUNT(*) FROM inserted) + (SELECT COUNT(*) FROM updated),
                       (SELECT COUNT(*) FROM deleted)
                """,
                th=self._threshold_columns_sql(),
                scores=self._rfm_scores_sql(),
                segment=RFM_SEGMENT_SQL,
                previous_scores=previous_scores,
                previous_segment=previous_segment,
                cols=cols,
                new_values=SQL(", ").join(SQL.identifier(c) for c in new_cols),
                stored_cols=SQL(", ").join(SQL("s.%s", SQL.identifier(c)) for c in all_cols),
                new_cols=SQL(", ").join(SQL("n.%s", SQL.identifier(c)) for c in new_cols),
                excluded=SQL(", ").join(
                    SQL("%s = EXCLUDED.%s", SQL.identifier(c), SQL.identifier(c)) for c in all_cols
                ),
                from_changes=SQL(", ").join(
                    SQL("%s = c.%s", SQL.identifier(c), SQL.identifier(n))
                    for c, n in zip(all_cols, new_cols, strict=True)
                ),
                restrict_delete=restrict_delete,
            )
        )
        upserted, deleted = cr.fetchone()
        self.env["pulse.category.total"]._after_refresh(partner_ids)
        written = upserted + deleted
        today = fields.Date.context_today(self)
        basis = self._facts_basis()
        # The day the facts stand at is the earliest any of them was computed for (a refresh
        # run in a time zone where it is still yesterday): the nightly refresh moves them on
        # from there, missing no customer's change of day.
        if full or (basis and today < basis[0]):
            self._set_facts_basis(today)
        # Fresh statistics for what reads the facts next (segment filters, partner search,
        # segments' key figures): planned from a stale, near-empty sample, "last order
        # before X" ran as a nested loop over a million customers (130 s instead of seconds).
        analyze_if_large(cr, "pulse_partner_stats", written, full=full)
        self.env["pulse.partner.stats"].invalidate_model()
        return upserted, deleted

    @api.model
    def _compute_thresholds(self, source, company_ids=None):
        """Store each company's RFM quintile boundaries, today's and those of 30 days ago,
        computed from `source` (a table of facts: the fresh facts of a full refresh, or the
        stored ones)."""
        names = [prefix + name for prefix in ("", PREVIOUS) for name in THRESHOLD_NAMES]
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO pulse_rfm_threshold (company_id, %(names)s, computed_at)
                SELECT company_id, %(names)s, now() AT TIME ZONE 'UTC' FROM (%(query)s) q
                ON CONFLICT (company_id) DO UPDATE
                   SET %(excluded)s, computed_at = EXCLUDED.computed_at
                """,
                names=SQL(", ").join(SQL.identifier(n) for n in names),
                query=self._thresholds_query(source, company_ids, prefixes=("", PREVIOUS)),
                excluded=SQL(", ").join(
                    SQL("%s = EXCLUDED.%s", SQL.identifier(n), SQL.identifier(n)) for n in names
                ),
            )
        )
        self.env["pulse.rfm.threshold"].invalidate_model()

    @api.model
    def _ensure_thresholds(self):
        """Companies without RFM boundaries yet (no full refresh so far) get them from the
        facts already stored, so that their first customers are scored at once."""
        self.env["pulse.rfm.threshold"].flush_model()
        missing = self.env.execute_query(
            SQL(
                "SELECT id FROM res_company"
                " WHERE id NOT IN (SELECT company_id FROM pulse_rfm_threshold)"
            )
        )
        if missing:
            self._compute_thresholds(SQL("pulse_partner_stats"), [r[0] for r in missing])

    @api.model
    def _refresh_dates(self, partner_ids):
        """Recompute the facts the date alone changes (DATED_COLUMNS) of these commercial
        partners, from their orders' and invoices' aggregates only (no categories, no
        payments: the date changes none of them), and write those that changed; their
        scores are left to _rescore. Returns the number of rows written."""
        ids = list(partner_ids)
        cr = self.env.cr
        cr.execute("SET LOCAL work_mem = '256MB'")
        cr.execute("SET LOCAL jit = off")
        days = self._days()
        new = SQL(", ").join(SQL.identifier("d", c) for c in DATED_COLUMNS)
        cr.execute(
            SQL(
                """
                WITH orders AS (%(orders)s
                ), moves AS (%(moves)s
                ), dated AS (
                    SELECT partner_id, company_id, %(dated)s
                      FROM orders o FULL JOIN moves mv USING (partner_id, company_id)
                )
                UPDATE pulse_partner_stats t SET (%(cols)s) = (%(new)s)
                  FROM dated d
                 WHERE t.partner_id = d.partner_id AND t.company_id = d.company_id
                   AND t.partner_id = ANY(%(ids)s) AND (%(old)s) IS DISTINCT FROM (%(new)s)
                """,
                orders=self._orders_query(days, contacts=self._contacts_of(ids)),
                moves=self._moves_query(days, partner_ids=ids),
                dated=self._dated_facts_sql(),
                cols=SQL(", ").join(SQL.identifier(c) for c in DATED_COLUMNS),
                old=SQL(", ").join(SQL.identifier("t", c) for c in DATED_COLUMNS),
                new=new,
                ids=ids,
            )
        )
        self.env["pulse.partner.stats"].invalidate_model()
        return cr.rowcount

    @api.model
    def _rescore(self):
        """Recompute each company's RFM boundaries, today's and those of 30 days ago, from
        the stored facts, and rescore every customer whose scores or segments (today's, of
        30 days ago) they change: one pass over the facts, only the changed rows written.
        The RFM migration matrix is then a pivot of the facts, available from the day of
        installation (no snapshot to wait a month for). Returns the number of rows
        written."""
        self.env["pulse.partner.stats"].flush_model()
        cr = self.env.cr
        cr.execute("SET LOCAL work_mem = '256MB'")  # the quintiles' sorts in memory
        cr.execute("SET LOCAL jit = off")
        self._compute_thresholds(SQL("pulse_partner_stats"))
        stored = (*RFM_COLUMNS, "rfm_segment_previous")
        cr.execute(
            SQL(
                """
                WITH th AS %(th)s, changed AS MATERIALIZED (
                    SELECT * FROM (
                        SELECT x.id, x.r, x.f, x.m, %(segment)s AS new_segment,
                               %(previous_segment)s AS new_previous, %(stored)s
                          FROM (SELECT f.id, f.previous_rfm_window_orders, %(stored_f)s,
                                       %(scores)s, %(previous_scores)s
                                  FROM pulse_partner_stats f
                                  LEFT JOIN th ON th.company_id = f.company_id
                                OFFSET 0) x
                    ) y
                     WHERE (%(stored)s) IS DISTINCT FROM (r, f, m, new_segment, new_previous)
                )
                UPDATE pulse_partner_stats t
                   SET rfm_recency = c.r, rfm_frequency = c.f, rfm_monetary = c.m,
                       rfm_segment = c.new_segment, rfm_segment_previous = c.new_previous
                  FROM changed c
                 WHERE t.id = c.id %(by_id)s
                """,
                by_id=BY_ID,
                th=self._threshold_columns_sql(),
                segment=RFM_SEGMENT_SQL,
                previous_segment=PREVIOUS_SEGMENT_SQL,
                stored=SQL(", ").join(SQL.identifier(c) for c in stored),
                stored_f=SQL(", ").join(SQL.identifier("f", c) for c in stored),
                scores=self._rfm_scores_sql(),
                previous_scores=self._rfm_scores_sql(PREVIOUS),
            )
        )
        written = cr.rowcount
        self.env["pulse.partner.stats"].invalidate_model([*stored])
        return written

    # ------------------------------------------------------------------ nightly
    @api.model
    def _facts_basis(self):
        """(day, RFM window in days) the stored facts were computed for, or None when
        unknown (no full refresh yet)."""
        try:
            day, window = setting(self.env, "facts_basis").split()
            return fields.Date.to_date(day), int(window)
        except (AttributeError, ValueError):
            return None

    @api.model
    def _set_facts_basis(self, day):
        # sudo: the engine's bookkeeping, in a system parameter
        self.env["ir.config_parameter"].sudo().set_param(
            param_key("facts_basis"), f"{day} {setting(self.env, 'rfm_window_days')}"
        )

    @api.model
    def _date_moved_partners(self, before, after):
        """The commercial partners whose facts change when the day moves from `before` to
        `after` while their documents stay as they are: an open invoice fell due, an order
        or invoice left today's RFM window, or entered or left the figures of 30 days ago.
        Found by range scans of the documents' date indexes, not by reading every
        customer's documents."""
        old, new = self._days(before), self._days(after)

        def moved(column, keys):
            return SQL(" OR ").join(
                SQL("(%s >= %s AND %s < %s)", column, old[key], column, new[key]) for key in keys
            )

        windows = ("since", "previous_since", "previous_until")
        rows = self.env.execute_query(
            SQL(
                """
                SELECT COALESCE(p.commercial_partner_id, p.id)
                  FROM sale_order so
                  JOIN res_partner p ON p.id = so.partner_id
                 WHERE so.state = 'sale' AND (%(orders)s)
                 UNION
                SELECT m.commercial_partner_id FROM account_move m
                 WHERE m.state = 'posted' AND m.move_type IN ('out_invoice', 'out_refund')
                   AND m.commercial_partner_id IS NOT NULL AND (%(moves)s)
                 UNION
                SELECT m.commercial_partner_id FROM account_move m
                 WHERE m.state = 'posted' AND m.move_type = 'out_invoice'
                   AND m.amount_residual_signed > 0 AND m.commercial_partner_id IS NOT NULL
                   AND (%(fell_due)s)
                """,
                orders=moved(SQL("so.date_order"), windows),
                moves=moved(SQL("m.invoice_date"), windows),
                fell_due=moved(SQL("m.invoice_date_due"), ("today",)),
            )
        )
        return {row[0] for row in rows}

    @api.model
    def _refresh_nightly(self):
        """Move the facts on to today: recompute only the customers whose facts the date
        changes (_date_moved_partners; the queue keeps the others' up to date as their
        documents change), then rescore everyone against the day's boundaries (_rescore).
        A full refresh instead when the day the facts stand at is unknown, more than
        MAX_ROLL_DAYS back, or the RFM window changed since. Returns whether it was a full
        refresh."""
        # one refresh at a time: two writing the same rows in different orders could deadlock
        self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(%s)", REFRESH_LOCK))
        today = fields.Date.context_today(self)
        basis = self._facts_basis()
        if (
            not basis
            or basis[1] != setting(self.env, "rfm_window_days")
            or not 0 <= (today - basis[0]).days <= MAX_ROLL_DAYS
        ):
            self._refresh_all(derived=False)
            return True
        self._flush_sources()
        moved = self._date_moved_partners(basis[0], today)
        written = self._refresh_dates(moved) if moved else 0
        rescored = self._rescore()
        analyze_if_large(self.env.cr, "pulse_partner_stats", written + rescored)
        self._set_facts_basis(today)
        _logger.info(
            "customer facts: moved on from %s to %s, %d customers' dated facts recomputed"
            " (%d rows written), %d rescored",
            basis[0],
            today,
            len(moved),
            written,
            rescored,
        )
        return False

    @api.model
    def _compute_recommendations(self, partner_ids=None):
        """Store on each customer's facts the categories they have not bought that the
        customers who buy what they buy buy most (the sum of the pairs' confidence in
        pulse.category.affinity over the categories they bought, best first). partner_ids:
        those commercial partners only (None: everyone). Returns the number of rows changed."""
        self.env["pulse.category.affinity"].flush_model()
        restrict = SQL("")
        if partner_ids is not None:
            restrict = SQL("AND s.partner_id = ANY(%s)", list(partner_ids))
        # Recommendations depend only on the set of categories bought: they are computed
        # once per distinct set (a few hundred), not once per customer (a million); and a
        # customer's set is found from their categories as stored (ranked by amount: tens of
        # thousands of distinct arrays), so that no array is sorted once per customer. The
        # recommendations by array go to a table of their own, analysed: estimated from the
        # CTEs (a row), they were joined with the customers in a nested loop.
        cr = self.env.cr
        cr.execute("DROP TABLE IF EXISTS pulse_recommended")
        cr.execute(
            SQL(
                """
                CREATE TEMP TABLE pulse_recommended ON COMMIT DROP AS
                WITH arrays AS (
                    SELECT DISTINCT s.company_id, s.categ_ids FROM pulse_partner_stats s
                     WHERE CARDINALITY(s.categ_ids) > 0 %(restrict)s
                ), sets AS (
                    SELECT company_id, categ_ids,
                           ARRAY(SELECT c FROM UNNEST(categ_ids) c ORDER BY c) AS categ_set
                      FROM arrays
                ), scores AS (
                    SELECT st.company_id, st.categ_set, a.other_categ_id AS categ,
                           SUM(a.confidence) AS score
                      FROM (SELECT DISTINCT company_id, categ_set FROM sets) st
                     CROSS JOIN LATERAL UNNEST(st.categ_set) AS mine(categ)
                      JOIN pulse_category_affinity a
                        ON a.company_id = st.company_id AND a.categ_id = mine.categ
                     WHERE a.other_categ_id <> ALL(st.categ_set)
                     GROUP BY st.company_id, st.categ_set, a.other_categ_id
                ), ranked AS (
                    SELECT company_id, categ_set, categ,
                           ROW_NUMBER() OVER (PARTITION BY company_id, categ_set
                                              ORDER BY score DESC, categ) AS rn
                      FROM scores
                ), by_set AS (
                    SELECT company_id, categ_set, ARRAY_AGG(categ ORDER BY rn) AS categs
                      FROM ranked WHERE rn <= %(top)s GROUP BY company_id, categ_set
                )
                SELECT st.company_id, st.categ_ids, b.categs
                  FROM sets st JOIN by_set b USING (company_id, categ_set)
                """,
                restrict=restrict,
                top=RECOMMENDATIONS,
            )
        )
        cr.execute("ANALYZE pulse_recommended")
        cr.execute(
            SQL(
                """
                WITH changed AS MATERIALIZED (
                    SELECT s.id, r.categs FROM pulse_partner_stats s
                      LEFT JOIN pulse_recommended r
                        ON r.company_id = s.company_id AND r.categ_ids = s.categ_ids
                     WHERE s.recommended_categ_ids IS DISTINCT FROM r.categs %(restrict)s
                )
                UPDATE pulse_partner_stats t SET recommended_categ_ids = c.categs
                  FROM changed c
                 WHERE t.id = c.id %(by_id)s
                """,
                by_id=BY_ID,
                restrict=restrict,
            )
        )
        return cr.rowcount

    @api.model
    def _refresh_all(self, derived=True, profile=True):
        """Full refresh (manager button, the nightly refresh when it cannot move the facts
        on). derived: also recompute what is derived from all customers' facts (category
        affinity and recommendations); profile: and the purchase-derived profile attributes
        (the nightly crons leave them to a cron of their own, in its own time budget)."""
        # one refresh at a time: two writing the same rows in different orders could deadlock
        self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(%s)", REFRESH_LOCK))
        self.env["pulse.stats.queue"]._clear()
        upserted, deleted = self._refresh()  # analyses what it wrote
        _logger.info("customer facts: full refresh, %d rows written, %d dropped", upserted, deleted)
        if derived:
            self._refresh_derived(profile=profile)
        if not (derived and profile):
            # everyone's facts were recomputed: the purchase habits' next nightly run
            # recomputes everyone's too
            self.env["pulse.attribute.value"]._forget_purchase_attributes_date()
        return upserted, deleted

    @api.model
    def _refresh_derived(self, profile=True):
        """Recompute the figures derived from every customer's facts; returns the seconds
        each took. profile: and every customer's purchase-derived profile attributes."""
        timings = {}
        steps = [
            ("affinity", self.env["pulse.category.affinity"]._recompute),
            ("recommendations", self._compute_recommendations),
        ]
        if profile:
            steps.append(
                ("profile", self.env["pulse.attribute.value"]._refresh_purchase_attributes)
            )
        written = {}
        for name, step in steps:
            start = time.monotonic()
            written[name] = step()
            timings[name] = round(time.monotonic() - start, 2)
        # the recommendations rewrite the facts' rows (all of them, the first time); the
        # affinity and the profile analyse their own tables
        analyze_if_large(self.env.cr, "pulse_partner_stats", written["recommendations"])
        _logger.info("customer facts: derived figures refreshed in %s", timings)
        return timings

    @api.model
    def _refresh_queue(self, limit=QUEUE_BATCH):
        """Incremental refresh of the queued partners (cron every few minutes): their facts,
        recommendations, payment follow-up and purchase habits. Queue rows are claimed with
        SKIP LOCKED, so a concurrent run or an invoice being posted never waits on this one;
        they are deleted in the transaction that refreshes them."""
        Queue = self.env["pulse.stats.queue"]
        Queue._flush_sources()  # pending ORM writes fire the queue triggers
        [(locked,)] = self.env.execute_query(
            SQL("SELECT pg_try_advisory_xact_lock(%s)", REFRESH_LOCK)
        )
        if not locked:
            return 0  # a full refresh is running: the queue waits for the next run
        partner_ids = Queue._claim(limit)
        if not partner_ids:
            return 0
        # a contact queued for itself counts for its commercial partner
        rows = self.env.execute_query(
            SQL(
                "SELECT DISTINCT COALESCE(commercial_partner_id, id) FROM res_partner"
                " WHERE id = ANY(%s)",
                list(partner_ids),
            )
        )
        partner_ids |= {r[0] for r in rows}
        try:
            self._refresh(partner_ids)
        except Exception:
            # the transaction rolls back, queue rows included: the next run retries them
            _logger.exception(
                "customer facts: refreshing partners %s failed", sorted(partner_ids)[:100]
            )
            raise
        # the affinity between categories is a population figure, recomputed nightly; the
        # touched customers' recommendations follow their purchases
        self._compute_recommendations(partner_ids)
        # their payment follow-up too: a customer who paid leaves the marketing hold now
        self.env["pulse.followup"]._refresh(partner_ids)
        # and their purchase habits in the profiles
        self.env["pulse.attribute.value"]._refresh_purchase_attributes(partner_ids)
        return len(partner_ids)

    @api.model
    def _vacuum_facts(self, analyze=True):
        """VACUUM the facts on a connection of its own (VACUUM cannot run in a transaction);
        analyze: and ANALYZE them."""
        with db_connect(self.env.cr.dbname).cursor() as cr:
            connection = cr._cnx
            connection.autocommit = True
            try:
                cr.execute(
                    "VACUUM (ANALYZE) pulse_partner_stats"
                    if analyze
                    else "VACUUM pulse_partner_stats"
                )
            finally:
                connection.autocommit = False

    @api.model
    def _trigger_next(self, xmlid):
        """Start the next cron of the nightly chain now, and move its own schedule (the
        safety net) to CHAIN_SAFETY_NET from now."""
        cron = self.env.ref(xmlid, raise_if_not_found=False)
        if not cron:
            return
        # sudo: the chain is the addon's own scheduling, whoever runs the cron
        cron = cron.sudo()
        # not when that cron is running (its row is locked): its next run stays as it was
        cron.try_write({"nextcall": fields.Datetime.now() + CHAIN_SAFETY_NET})
        cron._trigger()

    # ------------------------------------------------------------------ crons
    @api.model
    def _cron_refresh_queue(self):
        """Every few minutes: the customers whose documents changed."""
        done = self._refresh_queue()
        remaining = self.env["pulse.stats.queue"]._pending()
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)

    @api.model
    def _cron_refresh_all(self):
        """Nightly: the facts moved on to today (_refresh_nightly: a full refresh only when
        they cannot be), committed, then the facts table vacuumed so that the segments'
        filters read its indexes without visiting the rows (index-only scans need the
        visibility map that only VACUUM sets); then the derived figures' cron. Each cron of
        the chain stays inside Odoo's cron time limit at 1M customers."""
        full = self._refresh_nightly()
        batch_committer(self.env)()  # VACUUM only sees committed row versions
        # moved on, few rows were written: the statistics stay (a large write analysed them)
        self._vacuum_facts(analyze=full)
        self._trigger_next(DERIVED_CRON)

    @api.model
    def _cron_refresh_derived(self):
        """Nightly, after the facts: category affinity and recommendations; then the
        profiles' cron."""
        self._refresh_derived(profile=False)
        self._trigger_next(PROFILE_CRON)
