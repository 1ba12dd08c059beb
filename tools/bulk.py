"""Bulk loads checked once: a table's foreign keys dropped while a large INSERT ... SELECT
fills it, and added back after it.

Postgres checks a foreign key with a trigger call per row written: on the stage history's
backfill (a million rows, eight keys) those calls cost twice the query itself. Added back,
each key is checked by one join over the table (Postgres' own advice for populating a
table). While the block runs it is the table's only writer (ACCESS EXCLUSIVE lock), and
adding a key back locks the table it references against writes while it checks (SHARE ROW
EXCLUSIVE): for installs and upgrades, not for the daily jobs.
"""

from contextlib import contextmanager

from odoo.tools import SQL


@contextmanager
def foreign_keys_checked_once(cr, table):
    """Drop the foreign keys of `table` for the block, add them back (same names and
    definitions, checked) after it. An error in the block aborts the transaction, which
    brings the keys back with everything else."""
    cr.execute(
        SQL(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
            table,
        )
    )
    keys = cr.fetchall()
    for name, _definition in keys:
        cr.execute(
            SQL("ALTER TABLE %s DROP CONSTRAINT %s", SQL.identifier(table), SQL.identifier(name))
        )
    yield
    for name, definition in keys:
        cr.execute(
            SQL(
                "ALTER TABLE %s ADD CONSTRAINT %s %s",
                SQL.identifier(table),
                SQL.identifier(name),
                SQL(definition.replace("%", "%%")),
            )
        )
