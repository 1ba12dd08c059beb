"""The quote funnel reads a salesperson's quotations from pulse_quote_funnel_user_issue_cover_idx
(created by the report's init), which carries the columns the funnel's figures read: the index
on the same keys without them that it replaces is dropped."""


def migrate(cr, version):
    if not version:
        return
    cr.execute("DROP INDEX IF EXISTS pulse_quote_funnel_user_issue_idx")
