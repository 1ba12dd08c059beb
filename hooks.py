def post_init_hook(env):
    """Compute the customer facts of the history already in the database, then the shipped
    segments' members."""
    env["pulse.partner.stats"]._refresh_all()
    env["pulse.segment"].search([])._refresh_safely()
