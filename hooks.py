from odoo.tools import SQL, sql

from .models.pulse_category_total import DELETE_FUNCTION
from .models.pulse_facts_engine import ERP_INDEXES
from .models.pulse_quote_milestone import MILESTONE_FUNCTIONS
from .models.pulse_stats_queue import QUEUE_FUNCTIONS, QUEUE_TRIGGER, QUEUE_TRIGGERS
from .models.pulse_step_run_tally import TALLY_FUNCTIONS
from .report.pulse_quote_funnel import FUNNEL_INDEXES, FUNNEL_OLD_INDEXES
from .report.pulse_work_done import REPORT_INDEXES


def post_init_hook(env):
    """Compute the customer facts of the history already in the database, then the shipped
    segments' members."""
    env["pulse.facts.engine"]._refresh_all()
    env["pulse.segment"].search([])._refresh_safely()
    # the orders confirmed before the install that finance still has to collect
    env["pulse.collection"]._backfill()


def uninstall_hook(env):
    """Leave the ERP as it was: drop what Customer Pulse put in the database outside its
    models' tables (Odoo drops those, with their views and columns, right after this): the
    queue triggers on sales orders, invoices and partners, the quote milestones' on the
    chatter, and their functions, the indexes on the source tables, and its settings in the
    system parameters (the SMS gateway's token among them)."""
    cr = env.cr
    for table in QUEUE_TRIGGERS:
        if sql.table_exists(cr, table):
            cr.execute(
                SQL(
                    "DROP TRIGGER IF EXISTS %s ON %s",
                    SQL.identifier(QUEUE_TRIGGER),
                    SQL.identifier(table),
                )
            )
    # (CASCADE: with their triggers, the milestones' on the chatter's tables among them)
    for name in (*QUEUE_FUNCTIONS, DELETE_FUNCTION, *MILESTONE_FUNCTIONS, *TALLY_FUNCTIONS):
        cr.execute(SQL("DROP FUNCTION IF EXISTS %s() CASCADE", SQL.identifier(name)))
    for name in (*ERP_INDEXES, *REPORT_INDEXES, *FUNNEL_INDEXES, *FUNNEL_OLD_INDEXES):
        cr.execute(SQL("DROP INDEX IF EXISTS %s", SQL.identifier(name)))
    env["ir.config_parameter"].search([("key", "=like", "customer_pulse.%")]).unlink()
