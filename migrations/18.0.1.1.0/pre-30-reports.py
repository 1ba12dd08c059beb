"""Reports (report/): what earlier versions left in the way of their views.

Each report's init() drops its view and creates it again after this; only tables and
columns of earlier versions are converted here.
"""

from odoo.tools import SQL, sql

# The customer facts per product category were a table before they became a view over the
# facts' per-category arrays.
CATEGORY_STATS = "pulse_partner_category_stats"
# Memberships kept their company and Odoo's create/write columns (Odoo never drops the
# latter), which the views reading memberships may depend on.
MEMBER_TABLE = "pulse_segment_member"
MEMBER_OLD_COLUMNS = ("company_id", "create_uid", "write_uid", "create_date", "write_date")
MEMBER_VIEWS = ("pulse_segment_kpi", "pulse_segment_size")


def migrate(cr, version):
    if not version:
        return
    if sql.table_kind(cr, CATEGORY_STATS) == sql.TableKind.Regular:
        cr.execute(SQL("DROP TABLE %s CASCADE", SQL.identifier(CATEGORY_STATS)))

    cr.execute(
        SQL(
            "SELECT attname FROM pg_attribute"
            " WHERE attrelid = to_regclass(%s) AND attname = ANY(%s) AND NOT attisdropped",
            MEMBER_TABLE,
            list(MEMBER_OLD_COLUMNS),
        )
    )
    old = [column for (column,) in cr.fetchall()]
    if not old:
        return
    # the views first: a column a view reads cannot be dropped
    cr.execute(SQL("DROP VIEW IF EXISTS %s", SQL(", ").join(map(SQL.identifier, MEMBER_VIEWS))))
    cr.execute(
        SQL(
            "ALTER TABLE %s %s",
            SQL.identifier(MEMBER_TABLE),
            SQL(", ").join(SQL("DROP COLUMN IF EXISTS %s", SQL.identifier(c)) for c in old),
        )
    )
