"""Customer facts: the crons of the facts run the refresh engine (pulse.facts.engine) now,
not pulse.partner.stats. Their records are not updated from the data file (noupdate), so
they are pointed at the engine here; the method names did not change."""

from odoo import SUPERUSER_ID, api

ENGINE_CRONS = (
    "customer_pulse.ir_cron_pulse_stats_queue",
    "customer_pulse.ir_cron_pulse_stats_full",
    "customer_pulse.ir_cron_pulse_stats_derived",
)


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    engine = env["ir.model"]._get("pulse.facts.engine")
    for xmlid in ENGINE_CRONS:
        cron = env.ref(xmlid, raise_if_not_found=False)
        if cron and cron.model_id != engine:
            cron.write({"model_id": engine.id})
