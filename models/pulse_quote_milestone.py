from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.schema import (
    create_trigger_functions,
    create_triggers,
    empty_beside,
    planned_at_each_call,
)

# The dates of a quotation's history the quote funnel reads, kept as the history is written:
# database triggers on the chatter's tracking values and notifications, so that every way a
# status change or an email reaches the chatter (the web client, imports, other modules'
# code) is caught in the transaction that writes it. One statement per INSERT, over the rows
# it inserted. LEAST ignores NULL: the first date stays.
# Each upsert reads the inserted rows as `added`.
TRACKING_UPSERT = """
    INSERT INTO pulse_quote_milestone AS q (order_id, sent_at, confirmed_at)
    SELECT m.res_id, MIN(m.date) FILTER (WHERE s.value = 'sent'),
           MIN(m.date) FILTER (WHERE s.value = 'sale')
      FROM added v
      JOIN ir_model_fields f
        ON f.id = v.field_id AND f.model = 'sale.order' AND f.name = 'state'
      JOIN ir_model_fields_selection s
        ON s.field_id = f.id AND s.value IN ('sent', 'sale')
       -- Odoo tracks a status by its label, in the language of the user who changed it
       AND EXISTS (SELECT 1 FROM jsonb_each_text(s.name) label
                    WHERE label.value = v.new_value_char)
      JOIN mail_message m ON m.id = v.mail_message_id AND m.model = 'sale.order'
     WHERE EXISTS (SELECT 1 FROM sale_order so WHERE so.id = m.res_id)
     GROUP BY m.res_id
    ON CONFLICT (order_id) DO UPDATE
       SET sent_at = LEAST(q.sent_at, EXCLUDED.sent_at),
           confirmed_at = LEAST(q.confirmed_at, EXCLUDED.confirmed_at)
"""
NOTIFICATION_UPSERT = """
    INSERT INTO pulse_quote_milestone AS q (order_id, emailed_at)
    SELECT m.res_id, MIN(m.date)
      FROM added n
      JOIN mail_message m ON m.id = n.mail_message_id AND m.model = 'sale.order'
     WHERE n.notification_type = 'email'
       AND m.message_type IN ('comment', 'email_outgoing')
       AND NOT COALESCE(m.is_internal, FALSE)
       AND NOT EXISTS (SELECT 1 FROM mail_message_subtype st
                        WHERE st.id = m.subtype_id AND st.internal)
       -- to the customer: not to a colleague
       AND NOT EXISTS (SELECT 1 FROM res_users staff
                        WHERE staff.partner_id = n.res_partner_id AND NOT staff.share)
       AND EXISTS (SELECT 1 FROM sale_order so WHERE so.id = m.res_id)
     GROUP BY m.res_id
    ON CONFLICT (order_id) DO UPDATE SET emailed_at = LEAST(q.emailed_at, EXCLUDED.emailed_at)
"""
# source table: (trigger function, upsert)
MILESTONE_SOURCES = {
    "mail_tracking_value": ("pulse_quote_milestone_tracked", TRACKING_UPSERT),
    "mail_notification": ("pulse_quote_milestone_emailed", NOTIFICATION_UPSERT),
}
MILESTONE_TRIGGER = "pulse_quote_milestone"
MILESTONE_TRIGGERS = {
    table: f"""
        AFTER INSERT ON {table} REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION {function}()"""
    for table, (function, _upsert) in MILESTONE_SOURCES.items()
}
MILESTONE_FUNCTIONS = {
    function: planned_at_each_call(upsert) for function, upsert in MILESTONE_SOURCES.values()
}


class PulseQuoteMilestone(models.Model):
    """When a quotation was first sent (its status changed to Quotation Sent), first
    confirmed (its status changed to Sales Order) and first emailed to its customer, as the
    chatter recorded it: what the quote funnel reads instead of looking up every quotation's
    messages and tracking values (at a million customers that look-up was 10 s a screen).
    Filled from the existing history when the addon is installed, then by database triggers
    on the tracking values and notifications as they are written (MILESTONE_TRIGGERS). Only
    quotations with such a history have a row. Internal: no screen shows it directly."""

    _name = "pulse.quote.milestone"
    _description = "First sent, confirmed and emailed dates of a quotation"
    _rec_name = "order_id"
    _log_access = False

    order_id = fields.Many2one(
        "sale.order", "Quotation", required=True, readonly=True, ondelete="cascade"
    )
    sent_at = fields.Datetime("First sent", readonly=True)
    confirmed_at = fields.Datetime("First confirmed", readonly=True)
    emailed_at = fields.Datetime("First emailed to the customer", readonly=True)

    _sql_constraints = [
        ("order_uniq", "UNIQUE (order_id)", "A quotation has one row of milestones."),
    ]

    def init(self):
        cr = self.env.cr
        create_trigger_functions(cr, MILESTONE_FUNCTIONS)
        create_triggers(cr, MILESTONE_TRIGGER, MILESTONE_TRIGGERS)
        # quotations with a history before the addon (its install, or an update from a
        # version without the milestones)
        if empty_beside(cr, self._table, "mail_message WHERE model = 'sale.order'"):
            self._rebuild()

    @api.model
    def _rebuild(self):
        """The milestones of every quotation from its chatter history (at install, and when
        asked): the same dates the triggers keep, read in one pass."""
        self.env["mail.message"].flush_model()
        self.env["mail.tracking.value"].flush_model()
        self.env["mail.notification"].flush_model()
        self.env.cr.execute(SQL("TRUNCATE %s", SQL.identifier(self._table)))
        for table, (_function, upsert) in MILESTONE_SOURCES.items():
            # the triggers' statement over every row of their table
            self.env.cr.execute(
                SQL("WITH added AS (SELECT * FROM %s) %s", SQL.identifier(table), SQL(upsert))
            )
