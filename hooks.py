def post_init_hook(env):
    """Compute the customer facts of the history already in the database."""
    env["pulse.partner.stats"]._refresh_all()
