"""Fresh planner statistics for the tables a refresh has just written.

A refresh that writes many rows leaves the planner with the statistics of the table before
it (empty, after a first install) until autovacuum gets there, and a read in between can be
planned as a nested loop over every row: the first read of a segment's key figures after the
first refresh at 100k customers took 418 s, 125 ms once `pulse_segment_member` was analysed.
So the refresh analyses what it wrote, in its own transaction (ANALYZE counts the rows the
transaction wrote itself), when the write was large enough for autovacuum to analyse it too:
at least ANALYZE_MIN_ROWS rows and a tenth of the table. Small refreshes stay cheap.
"""

import logging

from psycopg2 import errors

from odoo.tools import SQL

_logger = logging.getLogger(__name__)

ANALYZE_MIN_ROWS = 1000
# Share of the table (its rows at the last ANALYZE) a write must reach (autovacuum's default
# autovacuum_analyze_scale_factor).
ANALYZE_MIN_SHARE = 0.1
# ANALYZE waits for another ANALYZE of the same table (a concurrent refresh, autovacuum) to
# end: after this long, it is left to the refresh holding the table, or to autovacuum.
ANALYZE_LOCK_TIMEOUT = "2s"


def analyze_if_large(cr, table, written, full=False):
    """ANALYZE `table` after a refresh wrote `written` rows of it (inserted, updated and
    deleted), when that is large: at least ANALYZE_MIN_ROWS rows and a tenth of the rows the
    table had at its last ANALYZE (any number when it never had one); `full`: the refresh
    rewrote the whole table, analysed whatever it wrote. Returns whether it analysed."""
    if not written:
        return False
    if not full:
        if written < ANALYZE_MIN_ROWS:
            return False
        cr.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cr.fetchone()
        known = row[0] if row else -1
        # reltuples is -1 before the first ANALYZE or VACUUM
        if known > 0 and written < ANALYZE_MIN_SHARE * known:
            return False
    cr.execute("SHOW lock_timeout")
    lock_timeout = cr.fetchone()[0]
    try:
        with cr.savepoint(flush=False):
            cr.execute("SELECT set_config('lock_timeout', %s, true)", [ANALYZE_LOCK_TIMEOUT])
            cr.execute(SQL("ANALYZE %s", SQL.identifier(table)))
    except errors.LockNotAvailable:
        _logger.info("%s not analysed: another transaction is analysing it", table)
        return False
    finally:
        cr.execute("SELECT set_config('lock_timeout', %s, true)", [lock_timeout])
    return True
