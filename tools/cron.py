"""The one place Customer Pulse commits: between the batches of its crons."""

import threading


def batch_committer(env):
    """A function that ends the current batch's transaction: flush, then commit, so that
    what the batch did (and the claims it made) is kept if the worker dies later, and what
    it queued (emails, texts) may leave. Under the test runner it only flushes: a test's
    transaction is rolled back at its end."""
    auto_commit = not getattr(threading.current_thread(), "testing", False)

    def commit():
        env.flush_all()
        if auto_commit:
            env.cr.commit()  # pylint: disable=invalid-commit

    def restart():
        """Drop the current batch's transaction, to start it again on a fresh snapshot (a
        claim that met rows another worker committed since the snapshot was taken, as
        Odoo's scheduler does when it acquires a job): only between batches, where the
        transaction holds nothing but the failed claim."""
        env.cr.rollback()

    if auto_commit:
        commit.restart = restart
    return commit
