"""Finance hand-over in the demo: items to collect and payment notices.

Not addon data: the demo script calls :func:`generate_collections` after
:func:`odoo.addons.customer_pulse.tools.demo_history.generate`. Safe to call again: the
items are unique per order and the notices per (payment, invoice).

With the addon installed, the history's own confirmations and payments already made most
items and notices through the ordinary hooks; this fills what they could not (orders
confirmed before the install, payments matched before it) and makes the inboxes look
lived-in: the salespeople have read the notices of payments older than ``unread_days``.
"""

from datetime import timedelta

from odoo import fields
from odoo.tools import SQL


def generate_collections(env, notice_days=30, unread_days=14, accountant=None):
    """Items to collect for the open confirmed orders, payment notices for the payments of
    the last ``notice_days`` days; returns the counts."""
    env = env(context=dict(env.context, tracking_disable=True, mail_notrack=True))
    company = env.company
    if not company.pulse_collection_user_id:
        accountant = accountant or env.ref("base.user_admin")
        company.pulse_collection_user_id = accountant
    Collection = env["pulse.collection"]
    made = Collection._backfill()
    # the items made before a responsible accountant was set get the company's one
    Collection.search(
        [("accountant_id", "=", False), ("company_id", "=", company.id)]
    ).accountant_id = company.pulse_collection_user_id

    today = fields.Date.context_today(Collection)
    Notice = env["pulse.payment.notice"]
    told = Notice._backfill(today - timedelta(days=notice_days))
    env.flush_all()
    env.cr.execute(
        SQL(
            """
            UPDATE mail_notification mn SET is_read = TRUE, read_date = now()
              FROM pulse_payment_notice n
              JOIN account_move pm ON pm.id = n.payment_move_id
             WHERE mn.mail_message_id = n.message_id
               AND mn.notification_type = 'inbox' AND mn.is_read IS NOT TRUE
               AND pm.date < %s
            """,
            today - timedelta(days=unread_days),
        )
    )
    env.invalidate_all()
    items = Collection.search([])
    counts = {
        "collection_items": len(items),
        "collection_items_backfilled": made,
        "collection_items_open": len(
            items.filtered(lambda i: i.state not in ("paid", "cancelled"))
        ),
        "payment_notices": Notice.search_count([]),
        "payment_notices_backfilled": len(told),
        "payment_notices_unread": env["mail.notification"].search_count(
            [
                ("mail_message_id", "in", Notice.search([]).message_id.ids),
                ("notification_type", "=", "inbox"),
                ("is_read", "=", False),
            ]
        ),
    }
    return counts
