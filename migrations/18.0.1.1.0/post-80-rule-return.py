from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """The step each past enrolment's revenue goes to (pulse.enrolment converting_step_id),
    for every touched enrolment: the rules' engine keeps only the last 400 days up to date.
    The steps' cost per run is filled by Odoo from each step's action (a new stored field).
    Idempotent: the update writes only enrolments whose figures differ."""
    if not version:
        return
    cr.execute(
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_name = 'pulse_enrolment' AND column_name = 'converting_step_id'"
    )
    if not cr.fetchone():
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["pulse.enrolment"]._attribute()
