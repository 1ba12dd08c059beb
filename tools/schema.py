"""What the addon adds to the database beyond its fields, created only when missing.

A module update runs in one transaction: ALTER TABLE, and CREATE INDEX even with IF NOT
EXISTS, would lock the table (the facts, account_move...) until the update ends. So each
`init()` asks the catalogue first and creates what is missing only; conversions of earlier
versions live in migrations/, not here.
"""

import hashlib

from odoo.tools import SQL


def add_missing_columns(cr, table, columns):
    """Add the columns of `columns` ({name: SQL type}) that `table` lacks, in one ALTER."""
    cr.execute(
        SQL(
            "SELECT attname FROM pg_attribute"
            " WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            table,
        )
    )
    existing = {row[0] for row in cr.fetchall()}
    missing = [name for name in columns if name not in existing]
    if missing:
        cr.execute(
            SQL(
                "ALTER TABLE %s %s",
                SQL.identifier(table),
                SQL(", ").join(
                    SQL("ADD COLUMN %s %s", SQL.identifier(name), SQL(columns[name]))
                    for name in missing
                ),
            )
        )
    return missing


def create_missing_indexes(cr, indexes, unique=False):
    """Create the indexes of `indexes` ({name: what follows CREATE INDEX <name>}) that do not
    exist yet."""
    cr.execute(
        SQL(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relkind = 'i'"
            " AND relnamespace = current_schema()::regnamespace",
            list(indexes),
        )
    )
    existing = {row[0] for row in cr.fetchall()}
    kind = SQL("UNIQUE INDEX") if unique else SQL("INDEX")
    missing = [name for name in indexes if name not in existing]
    for name in missing:
        cr.execute(SQL("CREATE %s %s %s", kind, SQL.identifier(name), SQL(indexes[name])))
    return missing


def create_trigger_functions(cr, functions):
    """Create or replace the trigger functions `functions` ({name: PL/pgSQL body}) whose body
    is missing or differs from the one in the database."""
    for name, body in functions.items():
        cr.execute(SQL("SELECT prosrc FROM pg_proc WHERE oid = to_regproc(%s)", name))
        row = cr.fetchone()
        if not row or row[0] != body:
            cr.execute(
                SQL(
                    "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS %s",
                    SQL.identifier(name),
                    body,
                )
            )


def planned_at_each_call(*statements):
    """The PL/pgSQL body of a statement-level trigger function running `statements`, each
    planned when it runs (EXECUTE). PL/pgSQL keeps the plan of a statement made at its
    first run in the session, with that run's transition table size: a first statement
    of no row planned a nested loop of a transition table over the other, which took a
    later statement of 19,000 runs 35 s instead of 1 s (bench/bench_rules.py's upkeep)."""
    executed = "".join(
        f"\n    EXECUTE $statement${statement}\n    $statement$;" for statement in statements
    )
    return f"BEGIN{executed}\n    RETURN NULL;\nEND"


def trigger_version(definition):
    """The comment stored on a trigger: a digest of its definition (whitespace aside), so
    that an update re-creates a trigger only when its definition changed."""
    digest = hashlib.sha256(" ".join(definition.split()).encode()).hexdigest()[:16]
    return f"customer_pulse {digest}"


def create_triggers(cr, name, triggers):
    """Create the triggers `name` on each table of `triggers` ({table: what follows CREATE
    TRIGGER <name>}) that is missing or whose definition changed: dropping and re-creating a
    trigger locks its table exclusively (account_move among them), so an unchanged one is
    left alone."""
    for table, definition in triggers.items():
        version = trigger_version(definition)
        cr.execute(
            SQL(
                "SELECT obj_description(oid, 'pg_trigger') FROM pg_trigger"
                " WHERE tgrelid = to_regclass(%s) AND tgname = %s",
                table,
                name,
            )
        )
        row = cr.fetchone()
        if row and row[0] == version:
            continue
        trigger, on = SQL.identifier(name), SQL.identifier(table)
        cr.execute(SQL("DROP TRIGGER IF EXISTS %s ON %s", trigger, on))
        cr.execute(SQL("CREATE TRIGGER %s %s", trigger, SQL(definition)))
        cr.execute(SQL("COMMENT ON TRIGGER %s ON %s IS %s", trigger, on, version))


def empty_beside(cr, table, source):
    """True when `table` (kept from `source` by triggers) is empty while `source` (a table,
    with a WHERE clause if need be) has rows: an update from a version without it, which
    fills it from what is already there."""
    cr.execute(
        SQL(
            "SELECT NOT EXISTS (SELECT 1 FROM %s) AND EXISTS (SELECT 1 FROM %s)",
            SQL.identifier(table),
            SQL(source),
        )
    )
    return cr.fetchone()[0]
