from odoo import SUPERUSER_ID, fields, models
from odoo.tools import SQL

from ..tools.schema import create_missing_indexes
from .pulse_quote_funnel import CUSTOMER_EMAIL_MODELS

# What a row counts, in the order of the parts of the query (a part's position is part of
# its rows' ids).
KINDS = [
    ("call", "Calls"),
    ("meeting", "Meetings"),
    ("activity", "Other activities"),
    ("event", "Meetings attended (calendar)"),
    ("email", "Emails to customers"),
    ("quote", "Quotations issued"),
    ("order", "Orders confirmed"),
    ("survey", "Interviews (surveys filled)"),
    ("followup", "Reminders sent by hand"),
    ("promise", "Promises to pay recorded"),
]
# Parts of the query; a row's id is (smallest source id) * PARTS + its part's position.
PARTS = (
    "activities",
    "events",
    "emails",
    "quotes",
    "orders",
    "untracked_orders",
    "surveys",
    "followups",
    "promises",
)
# Source-table indexes the reads of a period go through, by day: the messages of activities
# done, of emails and of sale orders (their confirmations), the quotations by issue and the
# orders by order date (without them, every read scans all the messages and orders;
# measured in bench/bench_work_done.py), and a salesperson's own quotations and orders of
# the period (their own work: without them, all their orders ever, or everyone's of the
# period, are read; bench/bench_screens.py). Dropped by the uninstall hook.
REPORT_INDEXES = {
    "pulse_work_done_user_issue_idx": """
        ON sale_order (user_id, (LEAST(create_date, date_order)::date))""",
    "pulse_work_done_user_confirm_idx": """
        ON sale_order (user_id, (date_order::date)) WHERE state = 'sale'""",
    "pulse_work_done_message_day_idx": """
        ON mail_message ((date::date))
        WHERE mail_activity_type_id IS NOT NULL
           OR message_type IN ('comment', 'email_outgoing')
           OR model = 'sale.order'""",
    "pulse_work_done_order_issue_idx": """
        ON sale_order ((LEAST(create_date, date_order)::date))""",
    "pulse_work_done_order_confirm_idx": """
        ON sale_order ((date_order::date)) WHERE state = 'sale'""",
}


class PulseWorkDone(models.Model):
    """Work done per employee: one row per user, day (UTC), kind of work and document type,
    with how many. Read live from where Odoo keeps the work (like sale.report): activities
    marked done on any document (the message Odoo posts then), calendar meetings attended,
    emails to customers, quotations issued and confirmed (the quote funnel's dates), surveys
    filled as interviewer (pulse.survey.work) and follow-up reminders and promises."""

    _name = "pulse.work.done"
    _inherit = "pulse.report.view"
    _description = "Work done per employee"
    _auto = False
    _order = "date desc, user_id, kind"
    _rec_name = "kind"
    _depends = {
        "mail.message": [
            "model",
            "date",
            "author_id",
            "message_type",
            "subtype_id",
            "mail_activity_type_id",
            "record_company_id",
            "is_internal",
        ],
        "mail.activity.type": ["category"],
        "mail.notification": ["mail_message_id", "res_partner_id", "notification_type"],
        "calendar.event": ["start", "stop", "active", "res_model"],
        "calendar.attendee": ["event_id", "partner_id", "state"],
        "res.users": ["partner_id", "share", "sale_team_id", "company_id", "pulse_department_ids"],
        "crm.team": ["user_id"],
        "pulse.department": ["sequence"],
        "pulse.followup.event": ["state", "user_id", "executed_at", "date", "company_id"],
        "pulse.followup.promise": ["user_id", "create_date", "company_id"],
        "pulse.quote.funnel": [],
        "pulse.survey.work": [],
    }

    user_id = fields.Many2one("res.users", "Employee", readonly=True)
    date = fields.Date(readonly=True, help="Day the work was done (UTC).")
    kind = fields.Selection(KINDS, "Work", readonly=True)
    res_model = fields.Char("Document model", readonly=True)
    model_id = fields.Many2one(
        "ir.model", "Document type", readonly=True, help="The kind of document worked on."
    )
    count = fields.Integer(readonly=True)
    team_id = fields.Many2one(
        "crm.team", "Sales Team", readonly=True, help="The employee's sales team."
    )
    team_leader_id = fields.Many2one(
        "res.users", "Team Leader", readonly=True, help="Leader of the employee's sales team."
    )
    department_id = fields.Many2one(
        "pulse.department",
        "Department",
        readonly=True,
        help="The employee's first Customer Pulse department.",
    )
    company_id = fields.Many2one("res.company", readonly=True)

    def init(self):
        # the source-table indexes the report reads a month through, created when missing
        create_missing_indexes(self.env.cr, REPORT_INDEXES)

    # ------------------------------------------------------------------------------------
    # Query: one part per source, each grouped by user, day, kind, model and company
    # ------------------------------------------------------------------------------------
    def _part(self, name, source_id, user, day, kind, model, company, from_where):
        """One part of the union, with the same column types in every part."""
        return SQL(
            """
            SELECT MIN(%(source_id)s)::bigint * %(parts)s + %(position)s AS id,
                   %(user)s::integer AS user_id, %(day)s::date AS date,
                   %(kind)s::varchar AS kind, %(model)s::varchar AS res_model,
                   %(company)s::integer AS company_id, COUNT(*)::integer AS count
              %(from_where)s
             GROUP BY 2, 3, 4, 5, 6
            """,
            source_id=source_id,
            parts=len(PARTS),
            position=PARTS.index(name),
            user=user,
            day=day,
            kind=kind,
            model=model,
            company=company,
            from_where=from_where,
        )

    def _staff_sql(self):
        """Condition on the res_users alias ``staff`` joined on a partner (messages and
        attendees are partners): an internal user, not the superuser, and the first of the
        users who share that partner (their work counts once)."""
        return SQL(
            """
            NOT staff.share AND staff.id <> %(superuser)s
            AND NOT EXISTS (SELECT 1 FROM res_users other
                             WHERE other.partner_id = staff.partner_id AND NOT other.share
                               AND other.id <> %(superuser)s AND other.id < staff.id)
            """,
            superuser=SUPERUSER_ID,
        )

    def _part_activities(self):
        # mail.activity._action_done posts a message of subtype Activities carrying the
        # activity's type, authored by the user who marked it done, on the document
        return self._part(
            "activities",
            SQL("m.id"),
            SQL("staff.id"),
            SQL("m.date"),
            SQL(
                "CASE activity_type.category WHEN 'phonecall' THEN 'call'"
                " WHEN 'meeting' THEN 'meeting' ELSE 'activity' END"
            ),
            SQL("m.model"),
            SQL("m.record_company_id"),
            SQL(
                """
                FROM mail_message m
                JOIN mail_activity_type activity_type ON activity_type.id = m.mail_activity_type_id
                JOIN res_users staff ON staff.partner_id = m.author_id AND %(staff)s
               WHERE m.mail_activity_type_id IS NOT NULL AND m.subtype_id = %(subtype)s
                """,
                staff=self._staff_sql(),
                subtype=self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_activities"),
            ),
        )

    def _part_events(self):
        # calendar meetings that are over, attended (accepted) by the user
        return self._part(
            "events",
            SQL("attendee.id"),
            SQL("staff.id"),
            SQL("event.start"),
            SQL("'event'"),
            SQL("COALESCE(event.res_model, 'calendar.event')"),
            SQL("staff.company_id"),
            SQL(
                """
                FROM calendar_event event
                JOIN calendar_attendee attendee ON attendee.event_id = event.id
                JOIN res_users staff ON staff.partner_id = attendee.partner_id AND %s
               WHERE event.active AND attendee.state = 'accepted'
                 AND event.stop <= (NOW() AT TIME ZONE 'UTC')
                """,
                self._staff_sql(),
            ),
        )

    def _part_emails(self):
        return self._part(
            "emails",
            SQL("m.id"),
            SQL("staff.id"),
            SQL("m.date"),
            SQL("'email'"),
            SQL("m.model"),
            SQL("m.record_company_id"),
            SQL(
                """
                FROM mail_message m
                JOIN res_users staff ON staff.partner_id = m.author_id AND %s
               WHERE m.model IN %s AND %s
                """,
                self._staff_sql(),
                CUSTOMER_EMAIL_MODELS,
                self.env["pulse.quote.funnel"]._customer_email_sql(SQL("m")),
            ),
        )

    def _part_quotes(self):
        # the salesperson of the quotation (user_id), not its creator: quotations made by an
        # assistant, imported or created by the website are the salesperson's work, as in
        # the quote funnel and Odoo's sales analysis
        funnel = self.env["pulse.quote.funnel"]
        return self._part(
            "quotes",
            SQL("so.id"),
            SQL("so.user_id"),
            funnel._issued_at(),
            SQL("'quote'"),
            SQL("'sale.order'"),
            SQL("so.company_id"),
            SQL("FROM sale_order so"),
        )

    def _part_orders(self):
        # the quote funnel's confirmation date, in two parts read by day: the first change
        # to Sales Order in the tracking, else (no tracking) the order date, which Odoo sets
        # on confirmation
        funnel = self.env["pulse.quote.funnel"]
        return self._part(
            "orders",
            SQL("so.id"),
            SQL("so.user_id"),
            SQL("m.date"),
            SQL("'order'"),
            SQL("'sale.order'"),
            SQL("so.company_id"),
            SQL(
                """
                FROM mail_tracking_value v
                JOIN mail_message m ON m.id = v.mail_message_id
                JOIN sale_order so ON so.id = m.res_id AND so.state = 'sale'
               WHERE %(confirmation)s
                 AND NOT EXISTS (
                     SELECT 1 FROM mail_message m2
                       JOIN mail_tracking_value v2 ON v2.mail_message_id = m2.id
                      WHERE m2.res_id = m.res_id AND (m2.date, m2.id) < (m.date, m.id)
                        AND %(earlier)s)
                """,
                confirmation=funnel._confirmation_tracking_sql(SQL("m"), SQL("v")),
                earlier=funnel._confirmation_tracking_sql(SQL("m2"), SQL("v2")),
            ),
        )

    def _part_untracked_orders(self):
        funnel = self.env["pulse.quote.funnel"]
        return self._part(
            "untracked_orders",
            SQL("so.id"),
            SQL("so.user_id"),
            SQL("so.date_order"),
            SQL("'order'"),
            SQL("'sale.order'"),
            SQL("so.company_id"),
            SQL(
                """
                FROM sale_order so
               WHERE so.state = 'sale'
                 AND NOT EXISTS (
                     SELECT 1 FROM mail_message m
                       JOIN mail_tracking_value v ON v.mail_message_id = m.id
                      WHERE m.res_id = so.id AND %s)
                """,
                funnel._confirmation_tracking_sql(SQL("m"), SQL("v")),
            ),
        )

    def _part_surveys(self):
        # the surveys filled report's own rows: interviews, by their interviewer
        return self._part(
            "surveys",
            SQL("survey_work.id"),
            SQL("survey_work.user_id"),
            SQL("survey_work.date"),
            SQL("'survey'"),
            SQL("'survey.user_input'"),
            SQL("survey_work.company_id"),
            SQL(
                "FROM %s survey_work WHERE survey_work.kind = 'interview'",
                self.env["pulse.survey.work"]._table_sql,
            ),
        )

    def _part_followups(self):
        # reminders a user sent (Send now); the daily run's have no user
        return self._part(
            "followups",
            SQL("event.id"),
            SQL("event.user_id"),
            SQL("COALESCE(event.executed_at::date, event.date)"),
            SQL("'followup'"),
            SQL("'res.partner'"),
            SQL("event.company_id"),
            SQL(
                "FROM pulse_followup_event event"
                " WHERE event.state = 'done' AND event.user_id IS NOT NULL"
            ),
        )

    def _part_promises(self):
        return self._part(
            "promises",
            SQL("promise.id"),
            SQL("promise.user_id"),
            SQL("promise.create_date"),
            SQL("'promise'"),
            SQL("'res.partner'"),
            SQL("promise.company_id"),
            SQL("FROM pulse_followup_promise promise WHERE promise.user_id IS NOT NULL"),
        )

    def _query(self):
        parts = [getattr(self, f"_part_{name}")() for name in PARTS]
        return SQL(
            """
            SELECT work.id, work.user_id, work.date, work.kind, work.res_model,
                   ir_model.id AS model_id, work.count, work.company_id,
                   u.sale_team_id AS team_id, team.user_id AS team_leader_id,
                   department.id AS department_id
              FROM (%(parts)s) work
              LEFT JOIN ir_model ON ir_model.model = work.res_model
              LEFT JOIN res_users u ON u.id = work.user_id
              LEFT JOIN crm_team team ON team.id = u.sale_team_id
              LEFT JOIN (
                  -- each user's first department (a hash join: one row per user)
                  SELECT DISTINCT ON (r.user_id) r.user_id, d.id
                    FROM pulse_department_res_users_rel r
                    JOIN pulse_department d ON d.id = r.department_id
                   ORDER BY r.user_id, d.sequence, d.id
              ) department ON department.user_id = work.user_id
            """,
            parts=SQL(" UNION ALL ").join(parts),
        )
