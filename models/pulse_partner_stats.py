import hashlib
import logging
import time
from datetime import timedelta

from odoo import api, fields, models
from odoo.sql_db import db_connect
from odoo.tools import SQL

from ..tools.analyze import analyze_if_large
from ..tools.params import int_param

_logger = logging.getLogger(__name__)

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
REFRESH_LOCK = 0x70756C7365  # advisory lock key ("pulse")
RFM_COLUMNS = ("rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_segment")

# ---- What the addon puts in the database outside its models' tables. Odoo drops the tables,
# views and columns of the addon's models at uninstall; the uninstall hook (hooks.py) drops
# everything below. Each list is the one place a name is added.

# Tables of their own: RFM quintile boundaries per company, the queue of customers to refresh.
EXTRA_TABLES = ("pulse_stats_queue", "pulse_rfm_threshold")

# Columns of the facts table that no field declares (dropped with it), by SQL type.
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
}
# Indexes on the facts and the queue (dropped with them): what follows CREATE INDEX <name>.
OWN_INDEXES = {
    # "no purchase since": the flagship segment and rule read it as an index-only scan
    # instead of the whole (wide) facts table
    "pulse_partner_stats_last_order_idx": """
        ON pulse_partner_stats (company_id, last_order_date) INCLUDE (partner_id)""",
    "pulse_stats_queue_partner_idx": "ON pulse_stats_queue (partner_id)",
}

# The queue triggers: database triggers fill the queue, so that every way a fact can change
# (business methods, stored computes, partner merges, raw SQL of other modules) is caught,
# inside the transaction that made the change: the queue row commits or rolls back with it.
# Bodies of the trigger functions (plpgsql), by function name.
QUEUE_FUNCTIONS = {
    "pulse_queue_sale_order": """
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO pulse_stats_queue (partner_id)
        SELECT COALESCE(p.commercial_partner_id, p.id) FROM res_partner p
         WHERE p.id = OLD.partner_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO pulse_stats_queue (partner_id)
        SELECT COALESCE(p.commercial_partner_id, p.id) FROM res_partner p
         WHERE p.id = NEW.partner_id;
    END IF;
    RETURN NULL;
END
""",
    "pulse_queue_account_move": """
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.commercial_partner_id IS NOT NULL
       AND OLD.move_type IN ('out_invoice', 'out_refund', 'entry') THEN
        INSERT INTO pulse_stats_queue (partner_id) VALUES (OLD.commercial_partner_id);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.commercial_partner_id IS NOT NULL
       AND NEW.move_type IN ('out_invoice', 'out_refund', 'entry') THEN
        INSERT INTO pulse_stats_queue (partner_id) VALUES (NEW.commercial_partner_id);
    END IF;
    RETURN NULL;
END
""",
    "pulse_queue_res_partner": """
BEGIN
    INSERT INTO pulse_stats_queue (partner_id)
    SELECT DISTINCT x FROM unnest(ARRAY[
        OLD.commercial_partner_id, NEW.commercial_partner_id, NEW.id]) x
     WHERE x IS NOT NULL;
    RETURN NULL;
END
""",
}
QUEUE_TRIGGER = "pulse_queue"
# The trigger on each source table: what follows CREATE TRIGGER pulse_queue.
QUEUE_TRIGGERS = {
    "sale_order": """
        AFTER INSERT OR DELETE OR UPDATE OF
            state, partner_id, date_order, amount_untaxed, company_id, currency_rate
        ON sale_order FOR EACH ROW EXECUTE FUNCTION pulse_queue_sale_order()""",
    "account_move": """
        AFTER INSERT OR DELETE OR UPDATE OF
            state, commercial_partner_id, amount_residual_signed, amount_untaxed_signed,
            invoice_date, invoice_date_due, payment_state, company_id
        ON account_move FOR EACH ROW EXECUTE FUNCTION pulse_queue_account_move()""",
    "res_partner": """
        AFTER UPDATE OF commercial_partner_id, parent_id, active
        ON res_partner FOR EACH ROW
        WHEN (OLD.commercial_partner_id IS DISTINCT FROM NEW.commercial_partner_id
              OR OLD.active IS DISTINCT FROM NEW.active)
        EXECUTE FUNCTION pulse_queue_res_partner()""",
}

# Source-table indexes the refresh reads through: what follows CREATE INDEX <name>.
# Covering indexes: the incremental refresh reads a few thousand customers' documents with
# index-only scans instead of a random heap read per document. A changed index gets a new
# name (its old name goes to OLD_ERP_INDEXES): an existing one is never rebuilt by an update.
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
# Indexes of earlier versions, dropped by an update.
OLD_ERP_INDEXES = (
    "pulse_sale_order_confirmed_idx",
    "pulse_account_payment_customer_idx",
    "pulse_account_move_customer_idx",
)


def trigger_version(definition):
    """The comment stored on a queue trigger: a digest of its definition (whitespace aside),
    so that an update re-creates a trigger only when its definition changed."""
    digest = hashlib.sha256(" ".join(definition.split()).encode()).hexdigest()[:16]
    return f"customer_pulse {digest}"


def contacts_of(cr, commercial_ids):
    """The partners whose documents count for these commercial partners (themselves and
    their contacts), as (contact ids, their commercial partner ids): restricting the source
    tables by `partner_id = ANY(contact ids)` uses their indexes, and the pairs replace a
    join with every partner."""
    ids = list(commercial_ids)
    cr.execute(
        "SELECT id, COALESCE(commercial_partner_id, id) FROM res_partner"
        " WHERE commercial_partner_id = ANY(%s) OR id = ANY(%s)",
        [ids, ids],
    )
    pairs = sorted(cr.fetchall())
    return [p[0] for p in pairs], [p[1] for p in pairs]


class PulsePartnerStats(models.Model):
    _name = "pulse.partner.stats"
    _description = "Customer facts"
    _order = "last_order_date desc nulls last, id"
    _rec_name = "partner_id"
    # Computed rows: no create/write user columns (each would cost a foreign-key check per
    # row on every refresh); the refresh time is kept per company in pulse_rfm_threshold.
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
        # Everything here is created only when missing: a module update runs in one
        # transaction, and a lock taken here (ALTER TABLE, CREATE INDEX even IF NOT EXISTS,
        # DROP TRIGGER) would hold the facts, the queue or account_move until it ends.
        cr = self.env.cr
        cr.execute(
            "SELECT attname FROM pg_attribute"
            " WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            [self._table],
        )
        existing = {r[0] for r in cr.fetchall()}
        missing = [column for column in EXTRA_COLUMNS if column not in existing]
        if missing:
            cr.execute(
                SQL(
                    "ALTER TABLE %s %s",
                    SQL.identifier(self._table),
                    SQL(", ").join(
                        SQL("ADD COLUMN %s %s", SQL.identifier(c), SQL(EXTRA_COLUMNS[c]))
                        for c in missing
                    ),
                )
            )
        # the RFM boundaries per company; the customers to refresh (filled by QUEUE_TRIGGERS)
        cr.execute(
            """
            CREATE TABLE IF NOT EXISTS pulse_rfm_threshold (
                company_id integer PRIMARY KEY REFERENCES res_company ON DELETE CASCADE,
                recency date[],
                frequency integer[],
                monetary numeric[],
                computed_at timestamp
            );
            CREATE TABLE IF NOT EXISTS pulse_stats_queue (
                partner_id integer NOT NULL,
                queued_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
            );
            """
        )
        self._init_erp_objects()

    def _init_erp_objects(self):
        """Bring the queue triggers and the indexes up to date, touching only what is
        missing or changed: an update of the module takes no lock on the ERP's tables
        (dropping and re-creating a trigger locks its table exclusively, account_move
        included; creating an index, even one that exists, blocks every write on it)."""
        cr = self.env.cr
        for name, body in QUEUE_FUNCTIONS.items():
            cr.execute("SELECT prosrc FROM pg_proc WHERE oid = to_regproc(%s)", [name])
            row = cr.fetchone()
            if not row or row[0] != body:
                cr.execute(
                    SQL(
                        "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS %s",
                        SQL.identifier(name),
                        body,
                    )
                )
        for table, definition in QUEUE_TRIGGERS.items():
            version = trigger_version(definition)
            cr.execute(
                """
                SELECT obj_description(oid, 'pg_trigger') FROM pg_trigger
                 WHERE tgrelid = to_regclass(%s) AND tgname = %s
                """,
                [table, QUEUE_TRIGGER],
            )
            row = cr.fetchone()
            if row and row[0] == version:
                continue
            trigger, on = SQL.identifier(QUEUE_TRIGGER), SQL.identifier(table)
            cr.execute(SQL("DROP TRIGGER IF EXISTS %s ON %s", trigger, on))
            cr.execute(SQL("CREATE TRIGGER %s %s", trigger, SQL(definition)))
            cr.execute(SQL("COMMENT ON TRIGGER %s ON %s IS %s", trigger, on, version))
        indexes = {**OWN_INDEXES, **ERP_INDEXES}
        cr.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relkind = 'i'"
            " AND relnamespace = current_schema()::regnamespace",
            [[*indexes, *OLD_ERP_INDEXES]],
        )
        existing = {r[0] for r in cr.fetchall()}
        for name in existing.intersection(OLD_ERP_INDEXES):
            cr.execute(SQL("DROP INDEX %s", SQL.identifier(name)))
        for name, definition in indexes.items():
            if name not in existing:
                cr.execute(SQL("CREATE INDEX %s %s", SQL.identifier(name), SQL(definition)))

    # ------------------------------------------------------------------ refresh
    def _facts_query(self, partner_ids=None):
        """SELECT of every fact per (commercial partner, company); partner_ids restricts it
        to those commercial partners (None: all)."""
        today = fields.Date.context_today(self)
        window = int_param(self.env, "customer_pulse.rfm_window_days", 365, minimum=1)
        restrict_so = SQL("")
        partners = SQL("res_partner")
        restrict_move = SQL("")
        restrict_pay = SQL("")
        if partner_ids is not None:
            ids = list(partner_ids)
            # by the source tables' own partner columns, so that their indexes serve
            contacts, commercials = contacts_of(self.env.cr, ids)
            partners = SQL(
                "(SELECT UNNEST(%s::integer[]) AS id,"
                " UNNEST(%s::integer[]) AS commercial_partner_id)",
                contacts,
                commercials,
            )
            restrict_so = SQL("AND so.partner_id = ANY(%s)", contacts)
            restrict_move = SQL("AND m.commercial_partner_id = ANY(%s)", ids)
            restrict_pay = SQL("AND pay.partner_id = ANY(%s)", contacts)
        return SQL(
            """
            WITH orders AS (
                SELECT COALESCE(p.commercial_partner_id, p.id) AS partner_id, so.company_id,
                       MIN(so.date_order)::date AS first_order_date,
                       MAX(so.date_order)::date AS last_order_date,
                       COUNT(*) AS order_count,
                       SUM(so.amount_untaxed / COALESCE(NULLIF(so.currency_rate, 0), 1))
                           AS order_amount,
                       COUNT(*) FILTER (WHERE so.date_order >= %(since)s) AS window_orders
                  FROM sale_order so
                  JOIN %(partners)s p ON p.id = so.partner_id
                 WHERE so.state = 'sale' %(restrict_so)s
                 GROUP BY 1, so.company_id
            ), moves AS (
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
                 WHERE m.state = 'posted' AND m.move_type IN ('out_invoice', 'out_refund')
                   AND m.commercial_partner_id IS NOT NULL %(restrict_move)s
                 GROUP BY m.commercial_partner_id, m.company_id
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
            since=today - timedelta(days=window),
            today=today,
            restrict_so=restrict_so,
            partners=partners,
            categ_facts=self._category_facts_query(restrict_so, partners),
            restrict_move=restrict_move,
            restrict_pay=restrict_pay,
        )

    @api.model
    def _category_facts_query(self, restrict_so, partners):
        """SELECT of the facts per (commercial partner, company, product category)."""
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
            partners,
            restrict_so,
        )

    @staticmethod
    def _score_sql(value, thresholds, count):
        """1 + the number of stored quantile thresholds strictly below value (1 when the
        value or the thresholds are unknown): a score that ties never split arbitrarily."""
        return SQL(" + ").join(
            [SQL("1")]
            + [
                SQL("COALESCE((%s > %s[%s])::int, 0)", value, thresholds, i)
                for i in range(1, count + 1)
            ]
        )

    def _refresh(self, partner_ids=None):
        """Recompute facts of the given commercial partners (None: everyone).

        Two statements: the facts go into a temporary table (a plain CREATE TABLE AS, which
        PostgreSQL may run in parallel), then one statement scores them, compares them with
        the stored rows in a hash join and writes only the new, changed and gone rows (all
        orders cancelled, partner merged away). A full refresh also recomputes each company's
        RFM quintile boundaries; an incremental one scores the touched customers against the
        stored ones. Returns (rows written, rows deleted)."""
        cr = self.env.cr
        self.env.flush_all()
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
        thresholds = SQL("th AS (SELECT * FROM pulse_rfm_threshold),")
        all_cols = (*FACT_COLUMNS, *RFM_COLUMNS)
        cols = SQL(", ").join(SQL.identifier(c) for c in all_cols)
        # Compare new facts with stored ones in one hash join: only new, changed and gone
        # rows are written (a per-row ON CONFLICT probe costs more than the whole join).
        cr.execute(
            SQL(
                """
                WITH %(thresholds)s
                scored AS (
                    SELECT x.*, %(segment)s AS rfm_segment
                      FROM (SELECT f.*,
                                   %(r)s AS r,
                                   CASE WHEN f.rfm_window_orders > 0 THEN %(f)s
                                        ELSE 1 END AS f,
                                   CASE WHEN f.rfm_window_amount > 0 THEN %(m)s
                                        ELSE 1 END AS m
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
                thresholds=thresholds,
                r=self._score_sql(SQL("f.last_order_date"), SQL("th.recency"), 4),
                f=self._score_sql(SQL("f.rfm_window_orders"), SQL("th.frequency"), 4),
                m=self._score_sql(SQL("f.rfm_window_amount"), SQL("th.monetary"), 4),
                segment=RFM_SEGMENT_SQL,
                cols=cols,
                fact_cols=SQL(", ").join(SQL.identifier(c) for c in FACT_COLUMNS),
                stored_cols=SQL(", ").join(SQL("s.%s", SQL.identifier(c)) for c in all_cols),
                new_cols=SQL(", ").join(
                    SQL("n.%s", SQL.identifier(c))
                    for c in (*FACT_COLUMNS, "r", "f", "m", "rfm_segment")
                ),
                excluded=SQL(", ").join(
                    SQL("%s = EXCLUDED.%s", SQL.identifier(c), SQL.identifier(c)) for c in all_cols
                ),
                from_changes=SQL(", ").join(
                    SQL("%s = c.%s", SQL.identifier(c), SQL.identifier(n))
                    for c, n in zip(
                        all_cols, (*FACT_COLUMNS, "r", "f", "m", "rfm_segment"), strict=True
                    )
                ),
                restrict_delete=restrict_delete,
            )
        )
        upserted, deleted = cr.fetchone()
        written = upserted + deleted
        if not full:
            # the affinity between categories is a population figure, recomputed by the
            # full refresh; the touched customers' recommendations follow their purchases
            written += self.env["pulse.category.affinity"]._recommend(partner_ids)
        # Fresh statistics for what reads the facts next (segment filters, partner search,
        # segments' key figures): planned from a stale, near-empty sample, "last order
        # before X" ran as a nested loop over a million customers (130 s instead of seconds).
        analyze_if_large(cr, self._table, written, full=full)
        self.invalidate_model()
        return upserted, deleted

    @api.model
    def _compute_previous_rfm(self, days=30):
        """Score every customer as they stood `days` ago (recency, orders and invoiced
        amount in the RFM window ending that day, quintile boundaries of that day) and
        store the segment they were in: the RFM migration matrix is then a pivot of the
        facts, available from the day of installation (no snapshot to wait a month for)."""
        cr = self.env.cr
        day = fields.Date.context_today(self) - timedelta(days=days)
        window = int_param(self.env, "customer_pulse.rfm_window_days", 365, minimum=1)
        cr.execute(
            SQL(
                """
                WITH orders AS (
                    SELECT COALESCE(p.commercial_partner_id, p.id) AS partner_id, so.company_id,
                           MAX(so.date_order)::date AS last_order_date,
                           COUNT(*) FILTER (WHERE so.date_order >= %(since)s) AS n
                      FROM sale_order so JOIN res_partner p ON p.id = so.partner_id
                     WHERE so.state = 'sale' AND so.date_order < %(until)s
                     GROUP BY 1, 2
                ), moves AS (
                    SELECT m.commercial_partner_id AS partner_id, m.company_id,
                           SUM(m.amount_untaxed_signed) FILTER (
                               WHERE m.invoice_date >= %(since)s) AS amount
                      FROM account_move m
                     WHERE m.state = 'posted' AND m.move_type IN ('out_invoice', 'out_refund')
                       AND m.invoice_date <= %(day)s AND m.commercial_partner_id IS NOT NULL
                     GROUP BY 1, 2
                ), f AS (
                    SELECT partner_id, company_id, o.last_order_date,
                           COALESCE(o.n, 0) AS rfm_window_orders,
                           COALESCE(mv.amount, 0) AS rfm_window_amount
                      FROM orders o FULL JOIN moves mv USING (partner_id, company_id)
                ), th AS (
                    SELECT company_id,
                           PERCENTILE_DISC(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (
                               ORDER BY last_order_date) AS recency,
                           PERCENTILE_DISC(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (
                               ORDER BY rfm_window_orders) FILTER (WHERE rfm_window_orders > 0)
                               AS frequency
                      FROM f GROUP BY company_id
                ), scored AS (
                    SELECT partner_id, company_id, %(segment)s AS segment
                      FROM (SELECT f.partner_id, f.company_id, %(r)s AS r,
                                   CASE WHEN f.rfm_window_orders > 0 THEN %(f)s
                                        ELSE 1 END AS f
                              FROM f JOIN th USING (company_id)) x
                )
                UPDATE pulse_partner_stats t SET rfm_segment_previous = sc.segment
                  FROM pulse_partner_stats s
                  LEFT JOIN scored sc
                    ON sc.partner_id = s.partner_id AND sc.company_id = s.company_id
                 WHERE t.id = s.id AND t.rfm_segment_previous IS DISTINCT FROM sc.segment
                """,
                since=day - timedelta(days=window),
                until=day + timedelta(days=1),
                day=day,
                r=self._score_sql(SQL("f.last_order_date"), SQL("th.recency"), 4),
                f=self._score_sql(SQL("f.rfm_window_orders"), SQL("th.frequency"), 4),
                segment=RFM_SEGMENT_SQL,
            )
        )
        return cr.rowcount

    def _compute_thresholds(self, source, company_ids=None):
        """Store each company's RFM quintile boundaries computed from `source` (a table of
        facts: the fresh facts of a full refresh, or the stored ones)."""
        where = SQL("WHERE company_id = ANY(%s)", company_ids) if company_ids else SQL("")
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO pulse_rfm_threshold (company_id, recency, frequency, monetary,
                                                 computed_at)
                SELECT company_id,
                       PERCENTILE_DISC(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (
                           ORDER BY last_order_date),
                       PERCENTILE_DISC(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (
                           ORDER BY rfm_window_orders) FILTER (WHERE rfm_window_orders > 0),
                       PERCENTILE_DISC(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (
                           ORDER BY rfm_window_amount) FILTER (WHERE rfm_window_amount > 0),
                       now() AT TIME ZONE 'UTC'
                  FROM %s %s
                 GROUP BY company_id
                ON CONFLICT (company_id) DO UPDATE
                   SET recency = EXCLUDED.recency, frequency = EXCLUDED.frequency,
                       monetary = EXCLUDED.monetary, computed_at = EXCLUDED.computed_at
                """,
                source,
                where,
            )
        )

    def _ensure_thresholds(self):
        """Companies without RFM boundaries yet (no full refresh so far) get them from the
        facts already stored, so that their first customers are scored at once."""
        self.env.cr.execute(
            "SELECT id FROM res_company"
            " WHERE id NOT IN (SELECT company_id FROM pulse_rfm_threshold)"
        )
        missing = [r[0] for r in self.env.cr.fetchall()]
        if missing:
            self._compute_thresholds(SQL("pulse_partner_stats"), missing)

    @api.model
    def _refresh_all(self, derived=True, profile=True):
        """Full refresh (nightly cron, manager button). derived: also recompute what is
        derived from all customers' facts (category affinity and recommendations, the RFM
        segment of 30 days ago); profile: and the purchase-derived profile attributes (the
        nightly cron leaves them to a cron of their own, in its own time budget)."""
        # one refresh at a time: two writing the same rows in different orders could deadlock
        self.env.cr.execute("SELECT pg_advisory_xact_lock(%s)", [REFRESH_LOCK])
        self.env.cr.execute("DELETE FROM pulse_stats_queue")
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
        affinity = self.env["pulse.category.affinity"]
        steps = [
            ("affinity", affinity._recompute),
            ("recommendations", affinity._recommend),
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
            self.env.cr, self._table, written["recommendations"] + written["previous_rfm"]
        )
        _logger.info("customer facts: derived figures refreshed in %s", timings)
        return timings

    @api.model
    def _cron_refresh_all(self):
        """Nightly: full refresh, committed, then the facts table vacuumed so that the
        segments' filters read its indexes without visiting the rows (index-only scans
        need the visibility map that only VACUUM sets; a full refresh rewrites many rows)."""
        # the figures derived from the facts and the profiles have crons of their own,
        # after this one: each call stays inside Odoo's cron time limit at 1M customers
        self._refresh_all(derived=False)
        # cron batching: VACUUM only sees committed row versions
        self.env.cr.commit()  # pylint: disable=invalid-commit
        self._vacuum_facts()

    @api.model
    def _cron_refresh_derived(self):
        """Nightly, after the full refresh: affinity, recommendations, RFM 30 days ago."""
        self._refresh_derived(profile=False)

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
    def _refresh_queue(self, limit=20000):
        """Incremental refresh of the queued partners (cron every few minutes). Queue rows
        are claimed with SKIP LOCKED, so a concurrent run or an invoice being posted never
        waits on this one; they are deleted in the transaction that refreshes them."""
        cr = self.env.cr
        self.env.flush_all()  # pending ORM writes fire the queue triggers
        cr.execute("SELECT pg_try_advisory_xact_lock(%s)", [REFRESH_LOCK])
        if not cr.fetchone()[0]:
            return 0  # a full refresh is running: the queue waits for the next run
        cr.execute(
            """
            DELETE FROM pulse_stats_queue q
             WHERE q.ctid IN (SELECT ctid FROM pulse_stats_queue
                               ORDER BY queued_at LIMIT %s FOR UPDATE SKIP LOCKED)
            RETURNING q.partner_id
            """,
            [limit],
        )
        partner_ids = {r[0] for r in cr.fetchall()}
        if not partner_ids:
            return 0
        # a contact queued for itself counts for its commercial partner
        cr.execute(
            "SELECT DISTINCT COALESCE(commercial_partner_id, id) FROM res_partner"
            " WHERE id = ANY(%s)",
            [list(partner_ids)],
        )
        partner_ids |= {r[0] for r in cr.fetchall()}
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
    def _cron_refresh_queue(self):
        done = self._refresh_queue()
        self.env.cr.execute("SELECT COUNT(*) FROM pulse_stats_queue")
        remaining = self.env.cr.fetchone()[0]
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)

    def action_refresh_all(self):
        self.env["pulse.partner.stats"].check_access("write")
        self.sudo()._refresh_all()  # sudo: the refresh writes every company's facts
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Customer facts refreshed"),
                "type": "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }
