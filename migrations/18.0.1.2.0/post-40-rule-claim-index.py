"""The engine's claim reads the due runs in its own order (scheduled_at, id) from
pulse_step_run_claim_idx (created by the model's init): the index on scheduled_at alone
that it replaces made every claim sort all the scheduled runs. It is dropped."""


def migrate(cr, version):
    if not version:
        return
    cr.execute("DROP INDEX IF EXISTS pulse_step_run_due_idx")
