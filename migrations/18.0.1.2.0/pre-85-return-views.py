"""Return on rules, segment revenue and revenue after actions: their models' init() created
database views; they are queries the ORM reads now (`_table_query`, report/pulse_report_view.py),
so the views go."""

from odoo.tools import SQL, sql

RETURN_VIEWS = (
    "pulse_rule_return",
    "pulse_segment_revenue",
    "pulse_segment_action_return",
)


def migrate(cr, version):
    if not version:
        return
    for name in RETURN_VIEWS:
        if sql.table_kind(cr, name) == sql.TableKind.View:
            cr.execute(SQL("DROP VIEW %s CASCADE", SQL.identifier(name)))
