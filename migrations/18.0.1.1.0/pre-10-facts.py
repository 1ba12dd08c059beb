"""Customer facts: what earlier versions made by hand in init() becomes Odoo's.

- The change queue and the RFM boundaries were tables of their own; they are the tables of
  the models pulse.stats.queue and pulse.rfm.threshold now: each gets the id column Odoo
  expects (the boundaries keep one row per company by a unique constraint instead of their
  primary key), and the queue's partner index takes the name Odoo gives it.
- Indexes the refresh read through in earlier versions, replaced by covering ones.
"""

from odoo.tools import SQL, sql

OLD_ERP_INDEXES = (
    "pulse_sale_order_confirmed_idx",
    "pulse_account_payment_customer_idx",
    "pulse_account_move_customer_idx",
)
QUEUE = "pulse_stats_queue"
QUEUE_INDEX_RENAMES = {"pulse_stats_queue_partner_idx": "pulse_stats_queue__partner_id_index"}
THRESHOLDS = "pulse_rfm_threshold"


def add_id(cr, table):
    """Give `table` the serial primary key of Odoo's tables, when it has none yet."""
    if not sql.table_exists(cr, table) or sql.column_exists(cr, table, "id"):
        return
    cr.execute(
        SQL(
            "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s",
            SQL.identifier(table),
            SQL.identifier(f"{table}_pkey"),
        )
    )
    cr.execute(SQL("ALTER TABLE %s ADD COLUMN id serial PRIMARY KEY", SQL.identifier(table)))


def migrate(cr, version):
    if not version:
        return
    for name in OLD_ERP_INDEXES:
        cr.execute(SQL("DROP INDEX IF EXISTS %s", SQL.identifier(name)))
    add_id(cr, QUEUE)
    add_id(cr, THRESHOLDS)
    for old, new in QUEUE_INDEX_RENAMES.items():
        if sql.index_exists(cr, old) and not sql.index_exists(cr, new):
            cr.execute(SQL("ALTER INDEX %s RENAME TO %s", SQL.identifier(old), SQL.identifier(new)))
