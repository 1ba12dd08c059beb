import logging
import time
from datetime import timedelta

from odoo import api, fields, models
from odoo.sql_db import db_connect
from odoo.tools import SQL

from ..tools.analyze import analyze_if_large
from ..tools.cron import batch_committer
from ..tools.params import setting
from ..tools.schema import create_missing_indexes
from .pulse_stats_queue import QUEUE_SOURCE_FIELDS

_logger = logging.getLogger(__name__)

# The classic recency x frequency grid (scores 1-5), as SQL over columns r and f.
RFM_SEGMENT_SQL = SQL(
    """CASE
        WHEN r = 5 AND f >= 4 THEN 'champions'
        WHEN r >= 3 AND f >= 4 THEN 'loyal'
        WHEN r >= 4 AND f BETWEEN 2 AND 3 THEN 'potential_loyalist'
        WHEN r = 5 AND f = 1 THEN 'new'
        WHEN r = 4 AND f = 1 THEN 'promising'
        WHEN r = 3 AND f = 3 THEN 'need_attention'
        WHEN r = 3 AND f <= 2 THEN 'about_to_sleep'
        WHEN r <= 2 AND f = 5 THEN 'cant_lose'
        WHEN r <= 2 AND f >= 3 THEN 'at_risk'
        WHEN r = 1 AND f = 1 THEN 'lost'
        ELSE 'hibernating'
    END"""
)
# The RFM scores are quintiles: a value scores 1 + the number of these cut points of its
# company's customers it is above.
QUINTILE_CUTS = (0.2, 0.4, 0.6, 0.8)
# The RFM segment of this many days ago is kept beside today's (the migration matrix).
PREVIOUS_RFM_DAYS = 30
# How many categories are recommended to each customer.
RECOMMENDATIONS = 3

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
    "categ_ids",
    "categ_first_dates",
    "categ_last_dates",
    "categ_order_counts",
    "categ_quantities",
    "categ_amounts",
)
RFM_COLUMNS = ("rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_segment")
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
    def _orders_query(self, since, until=None, contacts=None):
        """SELECT of the confirmed orders per (commercial partner, company): first and last
        order date, count, untaxed amount in the company's currency, and window_orders, the
        orders since `since` (the RFM window). until: only the orders dated before that day
        (the figures as they stood then); contacts: only those of _contacts_of (None: all)."""
        where = [SQL("so.state = 'sale'")]
        if contacts is not None:
            # by the source table's own partner column, so that its index serves
            where.append(SQL("so.partner_id = ANY(%s)", contacts[0]))
        if until:
            where.append(SQL("so.date_order < %s", until))
        return SQL(
            """
            SELECT COALESCE(p.commercial_partner_id, p.id) AS partner_id, so.company_id,
                   MIN(so.date_order)::date AS first_order_date,
                   MAX(so.date_order)::date AS last_order_date,
                   COUNT(*) AS order_count,
                   SUM(so.amount_untaxed / COALESCE(NULLIF(so.currency_rate, 0), 1))
                       AS order_amount,
                   COUNT(*) FILTER (WHERE so.date_order >= %(since)s) AS window_orders
              FROM sale_order so
              JOIN %(partners)s p ON p.id = so.partner_id
             WHERE %(where)s
             GROUP BY 1, so.company_id
            """,
            since=since,
            partners=self._partners_sql(contacts),
            where=SQL(" AND ").join(where),
        )

    @api.model
    def _moves_query(self, since, today, until=None, partner_ids=None):
        """SELECT of the posted invoices and credit notes per (commercial partner, company):
        amounts, counts, what is due and overdue on `today`, and window_invoiced, the amount
        invoiced since `since` (the RFM window). until: only the documents dated before that
        day; partner_ids: only those commercial partners (None: all)."""
        where = [
            SQL("m.state = 'posted' AND m.move_type IN ('out_invoice', 'out_refund')"),
            SQL("m.commercial_partner_id IS NOT NULL"),
        ]
        if partner_ids is not None:
            where.append(SQL("m.commercial_partner_id = ANY(%s)", list(partner_ids)))
        if until:
            where.append(SQL("m.invoice_date < %s", until))
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
                       AS window_invoiced
              FROM account_move m
             WHERE %(where)s
             GROUP BY m.commercial_partner_id, m.company_id
            """,
            since=since,
            today=today,
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
        today = fields.Date.context_today(self)
        since = today - timedelta(days=setting(self.env, "rfm_window_days"))
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
                       COALESCE(mv.amount_overdue, 0) AS amount_overdue,
                       mv.oldest_overdue_date,
                       CASE WHEN o.order_count > 1 THEN
                           ROUND(((o.last_order_date - o.first_order_date)::numeric
                                  / (o.order_count - 1)), 1) END AS avg_days,
                       COALESCE(o.window_orders, 0) AS window_orders,
                       COALESCE(mv.window_invoiced, 0) AS window_invoiced,
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
                   window_orders AS rfm_window_orders, window_invoiced AS rfm_window_amount,
                   categ_ids, categ_first_dates, categ_last_dates, categ_order_counts,
                   categ_quantities, categ_amounts
              FROM facts
            """,
            orders=self._orders_query(since, contacts=contacts),
            moves=self._moves_query(since, today, partner_ids=partner_ids),
            partners=self._partners_sql(contacts),
            restrict_pay=restrict_pay,
            categ_facts=self._category_facts_query(contacts),
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
    def _thresholds_query(self, source, company_ids=None):
        """SELECT of each company's RFM boundaries (recency, frequency, monetary) over
        `source`, a relation of facts (last_order_date, rfm_window_orders, rfm_window_amount
        per customer); company_ids: those companies only (None: all)."""
        where = SQL("WHERE company_id = ANY(%s)", list(company_ids)) if company_ids else SQL("")
        return SQL(
            """
            SELECT company_id, %(recency)s AS recency, %(frequency)s AS frequency,
                   %(monetary)s AS monetary
              FROM %(source)s %(where)s
             GROUP BY company_id
            """,
            recency=self._quintiles_sql(SQL("last_order_date")),
            frequency=self._quintiles_sql(SQL("rfm_window_orders"), positive_only=True),
            monetary=self._quintiles_sql(SQL("rfm_window_amount"), positive_only=True),
            source=source,
            where=where,
        )

    @staticmethod
    def _score_sql(value, thresholds):
        """1 + the number of stored quantile thresholds strictly below value (1 when the
        value or the thresholds are unknown): a score that ties never split arbitrarily."""
        return SQL(" + ").join(
            [SQL("1")]
            + [
                SQL("COALESCE((%s > %s[%s])::int, 0)", value, thresholds, i)
                for i in range(1, len(QUINTILE_CUTS) + 1)
            ]
        )

    @api.model
    def _rfm_scores_sql(self):
        """The select list of the scores r, f and m of facts `f` against boundaries `th`
        (a customer with no order or no amount in the window scores 1)."""
        return SQL(
            """%(r)s AS r,
               CASE WHEN f.rfm_window_orders > 0 THEN %(f)s ELSE 1 END AS f,
               CASE WHEN f.rfm_window_amount > 0 THEN %(m)s ELSE 1 END AS m""",
            r=self._score_sql(SQL("f.last_order_date"), SQL("th.recency")),
            f=self._score_sql(SQL("f.rfm_window_orders"), SQL("th.frequency")),
            m=self._score_sql(SQL("f.rfm_window_amount"), SQL("th.monetary")),
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
        RFM quintile boundaries; an incremental one scores the touched customers against the
        stored ones. Returns (rows written, rows deleted)."""
        cr = self.env.cr
        self._flush_sources()
        full = partner_ids is None
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
        all_cols = (*FACT_COLUMNS, *RFM_COLUMNS)
        new_cols = (*FACT_COLUMNS, "r", "f", "m", "rfm_segment")
        cols = SQL(", ").join(SQL.identifier(c) for c in all_cols)
        # Compare new facts with stored ones in one hash join: only new, changed and gone
        # rows are written (a per-row ON CONFLICT probe costs more than the whole join).
        cr.execute(
            SQL(
                """
                WITH th AS (SELECT * FROM pulse_rfm_threshold),
                scored AS (
                    SELECT x.*, %(segment)s AS rfm_segment
                      FROM (SELECT f.*, %(scores)s
                              FROM pulse_facts_new f
                              LEFT JOIN th ON th.company_id = f.company_id) x
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
                    SELECT partner_id, company_id, %(fact_cols)s, r, f, m, rfm_segment
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
                scores=self._rfm_scores_sql(),
                segment=RFM_SEGMENT_SQL,
                cols=cols,
                fact_cols=SQL(", ").join(SQL.identifier(c) for c in FACT_COLUMNS),
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
        written = upserted + deleted
        if not full:
            # the affinity between categories is a population figure, recomputed by the
            # full refresh; the touched customers' recommendations follow their purchases
            written += self._compute_recommendations(partner_ids)
        # Fresh statistics for what reads the facts next (segment filters, partner search,
        # segments' key figures): planned from a stale, near-empty sample, "last order
        # before X" ran as a nested loop over a million customers (130 s instead of seconds).
        analyze_if_large(cr, "pulse_partner_stats", written, full=full)
        self.env["pulse.partner.stats"].invalidate_model()
        return upserted, deleted

    @api.model
    def _compute_thresholds(self, source, company_ids=None):
        """Store each company's RFM quintile boundaries computed from `source` (a table of
        facts: the fresh facts of a full refresh, or the stored ones)."""
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO pulse_rfm_threshold (company_id, recency, frequency, monetary,
                                                 computed_at)
                SELECT company_id, recency, frequency, monetary, now() AT TIME ZONE 'UTC'
                  FROM (%s) q
                ON CONFLICT (company_id) DO UPDATE
                   SET recency = EXCLUDED.recency, frequency = EXCLUDED.frequency,
                       monetary = EXCLUDED.monetary, computed_at = EXCLUDED.computed_at
                """,
                self._thresholds_query(source, company_ids),
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
    def _compute_previous_rfm(self, days=PREVIOUS_RFM_DAYS):
        """Score every customer as they stood `days` ago (recency, orders and invoiced
        amount in the RFM window ending that day, quintile boundaries of that day) and
        store the segment they were in: the RFM migration matrix is then a pivot of the
        facts, available from the day of installation (no snapshot to wait a month for).
        The same aggregates and boundaries as the refresh, on the documents dated until
        that day. Returns the number of customers whose segment changed."""
        self._flush_sources()
        day = fields.Date.context_today(self) - timedelta(days=days)
        since = day - timedelta(days=setting(self.env, "rfm_window_days"))
        until = day + timedelta(days=1)
        # moves: only the window amount is read (PostgreSQL drops the other aggregates of an
        # inlined CTE whose columns are not read)
        cr = self.env.cr
        cr.execute(
            SQL(
                """
                WITH orders AS (%(orders)s
                ), moves AS (%(moves)s
                ), f AS (
                    SELECT partner_id, company_id, o.last_order_date,
                           COALESCE(o.window_orders, 0) AS rfm_window_orders,
                           COALESCE(mv.window_invoiced, 0) AS rfm_window_amount
                      FROM orders o FULL JOIN moves mv USING (partner_id, company_id)
                ), th AS (%(thresholds)s
                ), scored AS (
                    SELECT partner_id, company_id, %(segment)s AS segment
                      FROM (SELECT f.partner_id, f.company_id, %(scores)s
                              FROM f JOIN th USING (company_id)) x
                )
                UPDATE pulse_partner_stats t SET rfm_segment_previous = sc.segment
                  FROM pulse_partner_stats s
                  LEFT JOIN scored sc
                    ON sc.partner_id = s.partner_id AND sc.company_id = s.company_id
                 WHERE t.id = s.id AND t.rfm_segment_previous IS DISTINCT FROM sc.segment
                """,
                orders=self._orders_query(since, until=until),
                moves=self._moves_query(since, day, until=until),
                thresholds=self._thresholds_query(SQL("f")),
                scores=self._rfm_scores_sql(),
                segment=RFM_SEGMENT_SQL,
            )
        )
        self.env["pulse.partner.stats"].invalidate_model(["rfm_segment_previous"])
        return cr.rowcount

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
        # once per distinct set (a few hundred), not once per customer (a million).
        cr = self.env.cr
        cr.execute(
            SQL(
                """
                WITH customers AS (
                    SELECT s.id, s.company_id,
                           ARRAY(SELECT DISTINCT c FROM UNNEST(s.categ_ids) c ORDER BY c)
                               AS categ_set
                      FROM pulse_partner_stats s
                     WHERE TRUE %(restrict)s
                ), sets AS (
                    SELECT DISTINCT company_id, categ_set FROM customers
                     WHERE categ_set <> '{}'
                ), scores AS (
                    SELECT st.company_id, st.categ_set, a.other_categ_id AS categ,
                           SUM(a.confidence) AS score
                      FROM sets st
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
                ), recommended AS (
                    SELECT company_id, categ_set, ARRAY_AGG(categ ORDER BY rn) AS categs
                      FROM ranked WHERE rn <= %(top)s GROUP BY company_id, categ_set
                )
                UPDATE pulse_partner_stats t SET recommended_categ_ids = r.categs
                  FROM customers c
                  LEFT JOIN recommended r
                    ON r.company_id = c.company_id AND r.categ_set = c.categ_set
                 WHERE t.id = c.id AND t.recommended_categ_ids IS DISTINCT FROM r.categs
                """,
                restrict=restrict,
                top=RECOMMENDATIONS,
            )
        )
        return cr.rowcount

    @api.model
    def _refresh_all(self, derived=True, profile=True):
        """Full refresh (nightly cron, manager button). derived: also recompute what is
        derived from all customers' facts (category affinity and recommendations, the RFM
        segment of 30 days ago); profile: and the purchase-derived profile attributes (the
        nightly crons leave them to a cron of their own, in its own time budget)."""
        # one refresh at a time: two writing the same rows in different orders could deadlock
        self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(%s)", REFRESH_LOCK))
        self.env["pulse.stats.queue"]._clear()
        upserted, deleted = self._refresh()  # analyses what it wrote
        _logger.info("customer facts: full refresh, %d rows written, %d dropped", upserted, deleted)
        if derived:
            self._refresh_derived(profile=profile)
        return upserted, deleted

    @api.model
    def _refresh_derived(self, profile=True):
        """Recompute the figures derived from every customer's facts; returns the seconds
        each took."""
        timings = {}
        steps = [
            ("affinity", self.env["pulse.category.affinity"]._recompute),
            ("recommendations", self._compute_recommendations),
            ("previous_rfm", self._compute_previous_rfm),
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
        # the recommendations and the RFM segment of 30 days ago rewrite the facts' rows (all
        # of them, the first time); the affinity and the profile analyse their own tables
        analyze_if_large(
            self.env.cr,
            "pulse_partner_stats",
            written["recommendations"] + written["previous_rfm"],
        )
        _logger.info("customer facts: derived figures refreshed in %s", timings)
        return timings

    @api.model
    def _refresh_queue(self, limit=QUEUE_BATCH):
        """Incremental refresh of the queued partners (cron every few minutes). Queue rows
        are claimed with SKIP LOCKED, so a concurrent run or an invoice being posted never
        waits on this one; they are deleted in the transaction that refreshes them."""
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
        # their payment follow-up too: a customer who paid leaves the marketing hold now
        self.env["pulse.followup"]._refresh(partner_ids)
        return len(partner_ids)

    @api.model
    def _vacuum_facts(self):
        """VACUUM (ANALYZE) the facts on a connection of its own (VACUUM cannot run in a
        transaction)."""
        with db_connect(self.env.cr.dbname).cursor() as cr:
            connection = cr._cnx
            connection.autocommit = True
            try:
                cr.execute("VACUUM (ANALYZE) pulse_partner_stats")
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
        """Nightly: full refresh, committed, then the facts table vacuumed so that the
        segments' filters read its indexes without visiting the rows (index-only scans
        need the visibility map that only VACUUM sets; a full refresh rewrites many rows);
        then the derived figures' cron. Each cron of the chain stays inside Odoo's cron time
        limit at 1M customers."""
        self._refresh_all(derived=False)
        batch_committer(self.env)()  # VACUUM only sees committed row versions
        self._vacuum_facts()
        self._trigger_next(DERIVED_CRON)

    @api.model
    def _cron_refresh_derived(self):
        """Nightly, after the full refresh: affinity, recommendations, RFM 30 days ago; then
        the profiles' cron."""
        self._refresh_derived(profile=False)
        self._trigger_next(PROFILE_CRON)
