"""Profiles: indexes of earlier versions on the assessments, which cost every write and
served no search (until 18.0.1.1.0 the model's init() dropped them at every update)."""

from odoo.tools import SQL

OLD_INDEXES = (
    "pulse_attribute_value__is_effective_index",
    "pulse_attribute_value__partner_id_index",
    "pulse_attribute_value__company_id_index",
)


def migrate(cr, version):
    if not version:
        return
    for name in OLD_INDEXES:
        cr.execute(SQL("DROP INDEX IF EXISTS %s", SQL.identifier(name)))
