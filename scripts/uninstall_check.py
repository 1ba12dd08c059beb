"""A real uninstall of Customer Pulse, then a check that it left the ERP clean: no trigger,
function, table, view, index, sequence or column of its own anywhere, no settings, and an
order confirmed and invoiced as usual. Read by `odoo-bin shell` from its standard input
(scripts/test.sh runs it on the test database after the suite), twice:
PULSE_UNINSTALL_PHASE=uninstall, then PULSE_UNINSTALL_PHASE=check in a new process (the
registry without the addon). Problems are logged as `ERROR ... FAIL: ...` lines, which
scripts/parse_test_log.py counts as failures."""

import logging
import os
import traceback

_logger = logging.getLogger("odoo.addons.customer_pulse.uninstall_check")


def uninstall(env):
    module = env["ir.module.module"].search([("name", "=", "customer_pulse")])
    if module.state != "installed":
        _logger.warning("uninstall check: customer_pulse is %s, nothing to uninstall", module.state)
        return []
    module.button_immediate_uninstall()
    return []


def leftovers(cr):
    """Every trace of the addon in the database's catalog."""
    found = []
    cr.execute(
        """
        SELECT t.tgname || ' on ' || t.tgrelid::regclass::text
          FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
         WHERE NOT t.tgisinternal AND (t.tgname LIKE 'pulse%' OR p.proname LIKE 'pulse%')
        """
    )
    found += ["trigger " + r[0] for r in cr.fetchall()]
    cr.execute(
        "SELECT proname FROM pg_proc"
        " WHERE proname LIKE 'pulse%' AND pronamespace = current_schema()::regnamespace"
    )
    found += ["function " + r[0] for r in cr.fetchall()]
    cr.execute(
        "SELECT relname, relkind FROM pg_class"
        " WHERE relname LIKE 'pulse%' AND relnamespace = current_schema()::regnamespace"
    )
    found += [f"relation {name} ({kind})" for name, kind in cr.fetchall()]
    cr.execute(
        "SELECT indexname || ' on ' || tablename FROM pg_indexes WHERE indexname LIKE 'pulse%'"
    )
    found += ["index " + r[0] for r in cr.fetchall()]
    cr.execute(
        "SELECT table_name || '.' || column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND column_name LIKE 'pulse%'"
    )
    found += ["column " + r[0] for r in cr.fetchall()]
    cr.execute("SELECT key FROM ir_config_parameter WHERE key LIKE 'customer_pulse.%'")
    found += ["system parameter " + r[0] for r in cr.fetchall()]
    cr.execute("SELECT model FROM ir_model WHERE model LIKE 'pulse.%'")
    found += ["model " + r[0] for r in cr.fetchall()]
    cr.execute(
        "SELECT model || ' ' || name FROM ir_model_data WHERE module = 'customer_pulse' LIMIT 20"
    )
    found += ["record " + r[0] for r in cr.fetchall()]
    return sorted(set(found))


def check(env):
    problems = []
    module = env["ir.module.module"].search([("name", "=", "customer_pulse")])
    if module.state != "uninstalled":
        problems.append(f"customer_pulse is {module.state}, not uninstalled")
    problems += [f"left behind: {item}" for item in leftovers(env.cr)]
    # the ERP works without the addon: an order confirmed, its invoice posted
    partner = env["res.partner"].create({"name": "After uninstall", "email": "after@example.com"})
    product = env["product.product"].create(
        {"name": "After uninstall", "list_price": 50.0, "type": "consu", "invoice_policy": "order"}
    )
    order = env["sale.order"].create(
        {
            "partner_id": partner.id,
            "order_line": [(0, 0, {"product_id": product.id, "product_uom_qty": 2})],
        }
    )
    order.action_confirm()
    invoice = order._create_invoices()
    invoice.action_post()
    env.flush_all()
    if order.state != "sale" or invoice.state != "posted":
        problems.append(f"order {order.state}, invoice {invoice.state}")
    return problems


def main(env):
    phase = os.environ.get("PULSE_UNINSTALL_PHASE", "check")
    try:
        problems = {"uninstall": uninstall, "check": check}[phase](env)
    except Exception:
        problems = [f"{phase} raised:\n{traceback.format_exc()}"]
    for problem in problems:
        _logger.error("FAIL: uninstall check: %s", problem)
    if not problems:
        _logger.info("uninstall check: %s passed", phase)
    # nothing of the check is kept (the shell rolls back too)
    env.cr.rollback()


if __name__ == "__main__":
    main(globals()["env"])
