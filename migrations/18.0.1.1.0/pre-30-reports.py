"""Reports (report/): until 18.0.1.1.0 each report was a database view, created by its
model's init(); they are now queries the ORM reads (`_table_query`), so the views go, with
what earlier versions left: the per-category facts' table, the memberships' old columns.
"""

from odoo.tools import SQL, sql

# The customer facts per product category were a table before they became a view over the
# facts' per-category arrays.
CATEGORY_STATS = "pulse_partner_category_stats"
# Memberships kept their company and Odoo's create/write columns (Odoo never drops the
# latter), which the views reading memberships may depend on.
MEMBER_TABLE = "pulse_segment_member"
MEMBER_OLD_COLUMNS = ("company_id", "create_uid", "write_uid", "create_date", "write_date")
REPORT_VIEWS = (
    "pulse_segment_kpi",
    "pulse_segment_size",
    "pulse_attribute_conflict",
    "pulse_survey_work",
    CATEGORY_STATS,
)


def migrate(cr, version):
    if not version:
        return
    for name in REPORT_VIEWS:
        kind = sql.table_kind(cr, name)
        if kind == sql.TableKind.View:
            cr.execute(SQL("DROP VIEW %s CASCADE", SQL.identifier(name)))
        elif kind == sql.TableKind.Regular:
            cr.execute(SQL("DROP TABLE %s CASCADE", SQL.identifier(name)))

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
    cr.execute(
        SQL(
            "ALTER TABLE %s %s",
            SQL.identifier(MEMBER_TABLE),
            SQL(", ").join(SQL("DROP COLUMN IF EXISTS %s", SQL.identifier(c)) for c in old),
        )
    )
