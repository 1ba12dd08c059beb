from odoo import api, fields, models
from odoo.addons.sale.models.sale_order import SALE_ORDER_STATE
from odoo.tools import SQL

from ..tools.schema import create_missing_indexes

# Per-row conversion is 100 for a confirmed quotation, 0 otherwise: its average over any
# group is the group's confirmed / issued, in percent.
PERCENT = 100.0
SECONDS_PER_DAY = 86400.0
# The documents an email to a customer is counted on (work done; the quotation's own
# emails for the funnel).
CUSTOMER_EMAIL_MODELS = ("res.partner", "sale.order", "account.move", "crm.lead")
# Source-table index the funnel reads a salesperson's quotations through: their issue dates
# in a range (without it, every quotation they ever issued is read, then filtered by date),
# with the columns the funnel's figures read, so that a month or a year of quotations is an
# index-only scan (a salesperson's year at a million customers, 200,000 quotations: 60 ms
# instead of 170 ms a query, and the pivot makes four). Dropped by the uninstall hook, with
# the index it replaces (FUNNEL_OLD_INDEXES, dropped by the 18.0.1.2.0 migration).
FUNNEL_INDEXES = {
    "pulse_quote_funnel_user_issue_cover_idx": """
        ON sale_order (user_id, LEAST(create_date, date_order))
        INCLUDE (id, company_id, team_id, state, validity_date, amount_untaxed, currency_rate,
                 create_date, date_order)""",
}
FUNNEL_OLD_INDEXES = ("pulse_quote_funnel_user_issue_idx",)


class PulseQuoteFunnel(models.Model):
    """One row per quotation: when it was issued, sent and confirmed, and how it ended.

    Odoo overwrites a quotation's order date when it is confirmed, so the dates come from
    the order's history: issued = its creation (or its order date if that is earlier:
    imported or back-dated quotations), sent = the first change of its status to *Quotation
    Sent* or the first email to the customer sent from it before its confirmation,
    confirmed = the first change of its status to *Sales Order* in the chatter's tracking
    (the order date of a confirmed order when its history has none). A quotation counts in
    the month it was issued, whenever it was confirmed."""

    _name = "pulse.quote.funnel"
    _inherit = "pulse.report.view"
    _description = "Quote funnel"
    _auto = False
    _order = "issue_date desc, id desc"
    _rec_name = "name"
    _depends = {
        "sale.order": [
            "name",
            "create_date",
            "date_order",
            "state",
            "validity_date",
            "partner_id",
            "user_id",
            "team_id",
            "company_id",
            "amount_untaxed",
            "currency_rate",
        ],
        "crm.team": ["user_id"],
        "res.company": ["currency_id"],
        "mail.message": [
            "model",
            "res_id",
            "date",
            "message_type",
            "subtype_id",
            "is_internal",
        ],
        "mail.tracking.value": ["field_id", "new_value_char", "mail_message_id"],
        "mail.notification": ["mail_message_id", "res_partner_id", "notification_type"],
        "pulse.quote.milestone": ["order_id", "sent_at", "confirmed_at", "emailed_at"],
    }

    order_id = fields.Many2one("sale.order", "Quotation", readonly=True)
    name = fields.Char("Reference", readonly=True)
    partner_id = fields.Many2one("res.partner", "Customer", readonly=True)
    user_id = fields.Many2one("res.users", "Salesperson", readonly=True)
    team_id = fields.Many2one("crm.team", "Sales Team", readonly=True)
    team_leader_id = fields.Many2one(
        "res.users", "Team Leader", readonly=True, help="Leader of the quotation's sales team."
    )
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", "Company currency", readonly=True)
    state = fields.Selection(SALE_ORDER_STATE, "Status now", readonly=True)
    issue_date = fields.Datetime(
        "Issued on",
        readonly=True,
        help="When the quotation was created; its order date if that is earlier (imported or "
        "back-dated quotations). The quotation counts in this month's cohort.",
    )
    sent_date = fields.Datetime(
        "First sent on",
        readonly=True,
        help="First change of the status to Quotation Sent, or first email sent from the "
        "quotation to the customer before its confirmation, whichever came first.",
    )
    confirmation_date = fields.Datetime(
        "Confirmed on",
        readonly=True,
        help="First change of the status to Sales Order in the quotation's history (the "
        "order date of a confirmed order whose history does not show it: Odoo sets the "
        "order date to the confirmation date).",
    )
    validity_date = fields.Date("Valid until", readonly=True)
    issued = fields.Integer("Quotations issued", readonly=True)
    sent = fields.Integer(
        readonly=True,
        help="Sent to the customer: a first sent date is known, or the status is Quotation "
        "Sent.",
    )
    confirmed = fields.Integer(readonly=True, help="The quotation is a sales order now.")
    cancelled = fields.Integer(readonly=True)
    expired = fields.Integer(
        readonly=True,
        help="Still a quotation (not confirmed, not cancelled) and its expiration date has "
        "passed.",
    )
    lost = fields.Integer(
        readonly=True,
        help="Cancelled, or expired: still a quotation whose expiration date is before "
        "today. A quotation without an expiration date is never lost by time: it stays open "
        "until it is confirmed or cancelled. A sales order cancelled after its confirmation "
        "is lost too (cancelled, no longer confirmed).",
    )
    pending = fields.Integer(
        "Open",
        readonly=True,
        help="Still a quotation, within its validity (or without an expiration date).",
    )
    conversion = fields.Float(
        "Conversion (%)",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="Confirmed / issued, in percent: 100 for a confirmed quotation, 0 otherwise, so "
        "its average over any group (salesperson, team, month of issue) is that group's "
        "conversion rate.",
    )
    days_to_confirm = fields.Float(
        "Days to confirm",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="Days from issue to confirmation, averaged over the confirmed quotations only.",
    )
    amount_untaxed = fields.Monetary(
        "Quoted (untaxed)", readonly=True, help="Untaxed amount, in the company's currency."
    )
    amount_confirmed = fields.Monetary(
        "Confirmed (untaxed)",
        readonly=True,
        help="Untaxed amount of the confirmed quotations, in the company's currency.",
    )
    amount_lost = fields.Monetary(
        "Lost (untaxed)",
        readonly=True,
        help="Untaxed amount of the lost quotations, in the company's currency.",
    )

    def init(self):
        create_missing_indexes(self.env.cr, FUNNEL_INDEXES)

    # ------------------------------------------------------------------------------------
    # Query
    # ------------------------------------------------------------------------------------
    @api.model
    def _state_labels(self, state):
        """Every label (all installed languages) of a sale order status: Odoo's tracking
        stores the label of a selection, in the language of the user who changed it."""
        field = self.env["ir.model.fields"]._get("sale.order", "state")
        rows = self.env.execute_query(
            SQL(
                "SELECT DISTINCT label.value FROM ir_model_fields_selection s,"
                " jsonb_each_text(s.name) label WHERE s.field_id = %s AND s.value = %s",
                field.id,
                state,
            )
        )
        labels = {label for (label,) in rows}
        labels.add(dict(SALE_ORDER_STATE)[state])
        return sorted(labels)

    @api.model
    def _customer_email_sql(self, message):
        """Condition on the mail.message alias ``message``: an email sent to a customer — a
        message posted on the document (not an internal note) that was emailed to at least
        one partner who is not an internal user."""
        internal = self.env["mail.message.subtype"].search([("internal", "=", True)])
        return SQL(
            """
            %(message)s.message_type IN ('comment', 'email_outgoing')
            AND NOT COALESCE(%(message)s.is_internal, FALSE)
            AND (%(message)s.subtype_id IS NULL OR %(message)s.subtype_id <> ALL(%(internal)s))
            AND EXISTS (
                SELECT 1 FROM mail_notification n
                 WHERE n.mail_message_id = %(message)s.id AND n.notification_type = 'email'
                   AND NOT EXISTS (SELECT 1 FROM res_users staff
                                    WHERE staff.partner_id = n.res_partner_id
                                      AND NOT staff.share))
            """,
            message=message,
            internal=internal.ids or [0],
        )

    def _issued_at(self):
        return SQL("LEAST(so.create_date, so.date_order)")

    def _confirmed_at(self):
        return SQL("COALESCE(so.confirmed_at, CASE WHEN so.state = 'sale' THEN so.date_order END)")

    def _select(self):
        company_amount = SQL(
            "so.amount_untaxed / CASE COALESCE(so.currency_rate, 0) WHEN 0 THEN 1.0"
            " ELSE so.currency_rate END"
        )
        confirmed = SQL("so.state = 'sale'")
        # today in the reader's time zone (and the clock of the tests)
        expired = SQL(
            "so.state IN ('draft', 'sent') AND COALESCE(so.validity_date < %s, FALSE)",
            fields.Date.context_today(self),
        )
        lost = SQL("(so.state = 'cancel' OR (%s))", expired)
        return SQL(
            """
            SELECT so.id AS id,
                   so.id AS order_id,
                   so.name AS name,
                   so.partner_id AS partner_id,
                   so.user_id AS user_id,
                   so.team_id AS team_id,
                   team.user_id AS team_leader_id,
                   so.company_id AS company_id,
                   company.currency_id AS currency_id,
                   so.state AS state,
                   %(issued_at)s AS issue_date,
                   LEAST(so.sent_at, %(emailed_at)s) AS sent_date,
                   %(confirmed_at)s AS confirmation_date,
                   so.validity_date AS validity_date,
                   1 AS issued,
                   CASE WHEN so.state = 'sent' OR so.sent_at IS NOT NULL
                             OR %(emailed_at)s IS NOT NULL THEN 1 ELSE 0 END AS sent,
                   CASE WHEN %(confirmed)s THEN 1 ELSE 0 END AS confirmed,
                   CASE WHEN so.state = 'cancel' THEN 1 ELSE 0 END AS cancelled,
                   CASE WHEN %(expired)s THEN 1 ELSE 0 END AS expired,
                   CASE WHEN %(lost)s THEN 1 ELSE 0 END AS lost,
                   CASE WHEN so.state IN ('draft', 'sent') AND NOT %(lost)s
                        THEN 1 ELSE 0 END AS pending,
                   CASE WHEN %(confirmed)s THEN %(percent)s ELSE 0.0 END AS conversion,
                   CASE WHEN %(confirmed)s
                        THEN GREATEST(0.0, EXTRACT(EPOCH FROM %(confirmed_at)s
                                                   - %(issued_at)s) / %(day)s)
                   END AS days_to_confirm,
                   %(amount)s AS amount_untaxed,
                   CASE WHEN %(confirmed)s THEN %(amount)s ELSE 0.0 END AS amount_confirmed,
                   CASE WHEN %(lost)s THEN %(amount)s ELSE 0.0 END AS amount_lost
            """,
            confirmed=confirmed,
            expired=expired,
            lost=lost,
            percent=PERCENT,
            day=SECONDS_PER_DAY,
            amount=company_amount,
            issued_at=self._issued_at(),
            confirmed_at=self._confirmed_at(),
            # emailed before its confirmation (its first email is, if any is)
            emailed_at=SQL(
                "CASE WHEN so.emailed_at <= COALESCE(%s, 'infinity'::timestamp)"
                " THEN so.emailed_at END",
                self._confirmed_at(),
            ),
        )

    def _confirmation_tracking_sql(self, message, value):
        """Condition on the mail.message alias ``message`` and its mail.tracking.value alias
        ``value``: a change of a sale order's status to Sales Order (a confirmation)."""
        return SQL(
            "%(value)s.field_id = %(field)s AND %(value)s.new_value_char = ANY(%(sale)s)"
            " AND %(message)s.model = 'sale.order'",
            message=message,
            value=value,
            field=self.env["ir.model.fields"]._get("sale.order", "state").id,
            sale=self._state_labels("sale"),
        )

    def _orders_sql(self):
        """Each sale order with the dates its history gives (pulse.quote.milestone): the
        first changes of its status to Quotation Sent (sent_at) and to Sales Order
        (confirmed_at) in the chatter's tracking, and its first email to the customer
        (emailed_at). A plain join: the reader's filters on the order (salesperson, company,
        issue date) select the orders through their indexes, then one row of milestones is
        looked up per order."""
        return SQL(
            """
            SELECT so.id, so.name, so.partner_id, so.user_id, so.team_id, so.company_id,
                   so.state, so.create_date, so.date_order, so.validity_date,
                   so.amount_untaxed, so.currency_rate,
                   q.sent_at, q.confirmed_at, q.emailed_at
              FROM sale_order so
              LEFT JOIN pulse_quote_milestone q ON q.order_id = so.id
            """
        )

    def _from(self):
        return SQL(
            """
            FROM (%(orders)s) so
            JOIN res_company company ON company.id = so.company_id
            LEFT JOIN crm_team team ON team.id = so.team_id
            """,
            orders=self._orders_sql(),
        )

    # ------------------------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------------------------
    def action_open_order(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "sale.order",
            "res_id": self.order_id.id,
            "views": [[False, "form"]],
        }
