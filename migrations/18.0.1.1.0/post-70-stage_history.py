from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """The stage history of the leads (from Odoo's tracking) and the pipeline snapshots of
    the past, as an install makes them (data/pulse_pipeline_data.xml runs on install only).
    Idempotent: leads that have a history are left alone, snapshot days are rewritten."""
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["pulse.pipeline.snapshot"]._install_history()
