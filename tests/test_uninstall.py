from freezegun import freeze_time

from odoo.addons.customer_pulse.hooks import uninstall_hook
from odoo.addons.customer_pulse.models.pulse_facts_engine import ERP_INDEXES
from odoo.addons.customer_pulse.models.pulse_stats_queue import (
    QUEUE_FUNCTIONS,
    QUEUE_TRIGGER,
    QUEUE_TRIGGERS,
)
from odoo.addons.customer_pulse.tools.schema import trigger_version
from odoo.tests import tagged

from .common import PulseFactsCase

TODAY = "2026-06-15"
# the models whose init() creates the facts' triggers and indexes
FACTS_MODELS = (
    "pulse.partner.stats",
    "pulse.stats.queue",
    "pulse.rfm.threshold",
    "pulse.facts.engine",
)
# the ERP's tables the addon puts triggers or indexes on
ERP_TABLES = ("sale_order", "sale_order_line", "account_move", "account_payment", "res_partner")


def pulse_leftovers(cr, own_tables):
    """What of Customer Pulse's is in the database besides the tables of its models
    (`own_tables`, which Odoo drops at uninstall with their indexes and sequences):
    triggers, trigger functions, tables, views, indexes and sequences named pulse_*."""
    found = []
    cr.execute(
        """
        SELECT t.tgname || ' on ' || t.tgrelid::regclass::text
          FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
         WHERE NOT t.tgisinternal AND (t.tgname LIKE %s OR p.proname LIKE %s)
        """,
        ["pulse%", "pulse%"],
    )
    found += ["trigger " + r[0] for r in cr.fetchall()]
    cr.execute(
        "SELECT proname FROM pg_proc WHERE proname LIKE %s"
        " AND pronamespace = current_schema()::regnamespace",
        ["pulse%"],
    )
    found += ["function " + r[0] for r in cr.fetchall()]
    # a relation belongs to the table it indexes or whose column owns it (a sequence)
    cr.execute(
        """
        SELECT c.relname, c.relkind, COALESCE(t.relname, c.relname)
          FROM pg_class c
          LEFT JOIN pg_index i ON i.indexrelid = c.oid
          LEFT JOIN pg_depend d ON c.relkind = 'S' AND d.objid = c.oid
               AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
               AND d.deptype IN ('a', 'i')
          LEFT JOIN pg_class t ON t.oid = COALESCE(i.indrelid, d.refobjid)
         WHERE c.relnamespace = current_schema()::regnamespace AND c.relname LIKE %s
        """,
        ["pulse%"],
    )
    found += [
        f"relation {name} ({kind})"
        for name, kind, table in cr.fetchall()
        if table not in own_tables
    ]
    cr.execute(
        "SELECT indexname || ' on ' || tablename FROM pg_indexes"
        " WHERE tablename = ANY(%s) AND indexname LIKE %s",
        [list(ERP_TABLES), "pulse%"],
    )
    found += ["index " + r[0] for r in cr.fetchall()]
    return sorted(set(found))


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestUninstall(PulseFactsCase):
    """Uninstalling leaves no trigger, function, table or index on the ERP's tables, and an
    update re-creates none that did not change. (scripts/test.sh also uninstalls the addon
    for real from the test database after the suite, and checks the same.)"""

    def own_tables(self):
        """The tables Odoo drops at uninstall: those of the models the addon defines (not
        the ones it extends), its many2many tables."""
        tables = {
            model._table
            for model in self.env.registry.values()
            if model._original_module == "customer_pulse" and not model._abstract
        }
        relations = self.env["ir.model.relation"].search([("module.name", "=", "customer_pulse")])
        return tables | set(relations.mapped("name"))

    def trigger_oids(self):
        self.env.cr.execute(
            "SELECT tgrelid::regclass::text, oid FROM pg_trigger WHERE tgname = %s",
            [QUEUE_TRIGGER],
        )
        return dict(self.env.cr.fetchall())

    def function_rows(self):
        # xmin: the transaction that last wrote the function (CREATE OR REPLACE keeps the oid)
        self.env.cr.execute(
            "SELECT proname, oid, xmin::text FROM pg_proc WHERE proname = ANY(%s)",
            [list(QUEUE_FUNCTIONS)],
        )
        return {r[0]: r[1:] for r in self.env.cr.fetchall()}

    def index_oids(self):
        self.env.cr.execute(
            "SELECT relname, oid FROM pg_class WHERE relname LIKE %s AND relkind = 'i'",
            ["pulse%"],
        )
        return dict(self.env.cr.fetchall())

    def test_uninstall_hook_leaves_the_erp_clean(self):
        """The hook (run in this transaction: DDL rolls back) drops the queue triggers,
        their functions and the source-table indexes (the queue and thresholds are tables of
        models, which Odoo drops); an order is then confirmed and its invoice posted as
        without the addon."""
        own = self.own_tables()
        self.assertIn("pulse_partner_stats", own)
        before = pulse_leftovers(self.env.cr, own)
        # the check sees what the addon installed
        for table in QUEUE_TRIGGERS:
            self.assertIn(f"trigger {QUEUE_TRIGGER} on {table}", before)
        for name in QUEUE_FUNCTIONS:
            self.assertIn(f"function {name}", before)
        self.assertLessEqual({"pulse_stats_queue", "pulse_rfm_threshold"}, own)
        for name in ERP_INDEXES:
            self.assertIn(f"relation {name} (i)", before)
        self.env["ir.config_parameter"].set_param("customer_pulse.sms_gateway_token", "secret")

        uninstall_hook(self.env)

        self.assertEqual(pulse_leftovers(self.env.cr, own), [])
        self.assertFalse(
            self.env["ir.config_parameter"].search([("key", "=like", "customer_pulse.%")]),
            "the addon's settings (the SMS gateway token among them) stay behind",
        )
        order = self.make_order(self.customer, TODAY)
        invoice = self.make_invoice(order, TODAY)
        self.pay(invoice, TODAY)
        self.customer.write({"parent_id": self.env["res.partner"].create({"name": "Co"}).id})
        self.env.flush_all()
        self.assertEqual(order.state, "sale")
        self.assertEqual(invoice.state, "posted")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))

    def test_update_keeps_unchanged_triggers(self):
        """An update runs init() again: triggers, functions and indexes that did not change
        are left alone (no DROP TRIGGER: no exclusive lock on account_move)."""
        triggers, functions, indexes = self.trigger_oids(), self.function_rows(), self.index_oids()
        self.assertEqual(set(triggers), set(QUEUE_TRIGGERS))
        self.assertEqual(set(functions), set(QUEUE_FUNCTIONS))
        for _run in range(2):
            for model in (*FACTS_MODELS, "pulse.segment.member"):
                self.env[model].init()
            self.assertEqual(self.trigger_oids(), triggers)
            self.assertEqual(self.function_rows(), functions)
            self.assertEqual(self.index_oids(), indexes)
        # ... and take no lock that blocks writes, on the ERP's tables or the addon's (the
        # queue is written by every invoice posted): an update holds its locks until it ends
        self.env.cr.execute(
            """
            SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
             WHERE l.pid = pg_backend_pid() AND c.relname = ANY(%s)
               AND l.mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock')
            """,
            [
                [
                    *ERP_TABLES,
                    "pulse_partner_stats",
                    "pulse_stats_queue",
                    "pulse_rfm_threshold",
                    "pulse_segment_member",
                ]
            ],
        )
        self.assertEqual(self.env.cr.fetchall(), [])

    def test_update_repairs_what_changed(self):
        """A trigger whose definition changed is re-created, a function whose body changed is
        replaced, a missing index is created; the queue fills again."""
        cr = self.env.cr
        triggers = self.trigger_oids()
        cr.execute(f"COMMENT ON TRIGGER {QUEUE_TRIGGER} ON account_move IS 'customer_pulse 0'")
        cr.execute(
            "CREATE OR REPLACE FUNCTION pulse_queue_sale_order() RETURNS trigger"
            " LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'"
        )
        cr.execute("DROP INDEX pulse_sale_order_line_order_idx")
        for model in FACTS_MODELS:
            self.env[model].init()
        after = self.trigger_oids()
        self.assertNotEqual(after["account_move"], triggers["account_move"])
        self.assertEqual(after["sale_order"], triggers["sale_order"])
        cr.execute(
            "SELECT obj_description(%s, 'pg_trigger'), prosrc FROM pg_proc"
            " WHERE proname = 'pulse_queue_sale_order'",
            [after["account_move"]],
        )
        self.assertEqual(
            cr.fetchone(),
            (
                trigger_version(QUEUE_TRIGGERS["account_move"]),
                QUEUE_FUNCTIONS["pulse_queue_sale_order"],
            ),
        )
        indexes = self.index_oids()
        self.assertIn("pulse_sale_order_line_order_idx", indexes)
        cr.execute("DELETE FROM pulse_stats_queue")
        self.make_order(self.customer, TODAY)
        self.env.flush_all()
        cr.execute("SELECT DISTINCT partner_id FROM pulse_stats_queue")
        self.assertEqual(cr.fetchall(), [(self.customer.id,)])
