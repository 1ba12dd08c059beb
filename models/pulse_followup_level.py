from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

# A level's delay in days from the due date: a year before at the earliest, ten years after
# at the latest.
DELAY_MIN, DELAY_MAX = -365, 3650

# who gets a level's call activity
ACTIVITY_ASSIGN = [
    ("salesperson", "Salesperson"),
    ("accountant", "Accountant"),
    ("user", "Chosen user"),
]


class PulseFollowupLevel(models.Model):
    """A step of the payment follow-up of one company: reached so many days after the due
    date of the customer's oldest open invoice (before it, for a courtesy reminder), with
    the channels it uses. The follow-up run sends each level once per customer, company and
    overdue episode (see pulse.followup.event)."""

    _name = "pulse.followup.level"
    _description = "Follow-up level"
    _order = "company_id, delay, id"
    _check_company_auto = True

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(
        "Level", compute="_compute_sequence", help="Position among the company's levels."
    )
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    delay = fields.Integer(
        "Days after due date",
        required=True,
        help="Reached this many days after the due date of the customer's oldest open "
        "invoice; negative: a courtesy reminder before the due date.",
    )
    auto = fields.Boolean(
        "Send automatically",
        default=True,
        help="Sent by the daily run. Otherwise the run prepares it and waits for an "
        "accountant to press Send now.",
    )
    send_email = fields.Boolean("Email")
    mail_template_id = fields.Many2one(
        "mail.template",
        "Email template",
        domain=[("model", "=", "res.partner")],
        ondelete="restrict",
    )
    attach_invoices = fields.Boolean(
        "Attach the invoices",
        default=True,
        help="The PDFs of the open invoices the email lists (generated when missing).",
    )
    send_sms = fields.Boolean("Text message")
    sms_template_id = fields.Many2one(
        "sms.template",
        "Text template",
        domain=[("model", "=", "res.partner")],
        ondelete="restrict",
    )
    send_letter = fields.Boolean(
        "Printed letter",
        help="A PDF letter is prepared with the reminder, to print and post (Print letter).",
    )
    create_activity = fields.Boolean("Call activity")
    activity_type_id = fields.Many2one(
        "mail.activity.type",
        "Activity type",
        default=lambda self: self.env.ref("mail.mail_activity_data_call", raise_if_not_found=False),
    )
    activity_assign = fields.Selection(
        ACTIVITY_ASSIGN, "Assigned to", default="salesperson", required=True
    )
    activity_user_id = fields.Many2one(
        "res.users",
        "User",
        help="Who gets the activity when 'Chosen user' is selected; also the fallback when "
        "the customer has no salesperson or the follow-up no accountant.",
    )
    activity_summary = fields.Char(translate=True)
    activity_note = fields.Html(translate=True)
    activity_deadline_days = fields.Integer("Activity due in (days)", default=0)
    description = fields.Text(translate=True)

    # ------------------------------------------------------------------ computes
    @api.depends("delay", "company_id")
    def _compute_sequence(self):
        levels = self.search([("company_id", "in", self.company_id.ids)])
        rank = {}
        for company_levels in levels.grouped("company_id").values():
            for index, level in enumerate(company_levels.sorted(lambda lv: (lv.delay, lv.id))):
                rank[level.id] = index + 1
        for level in self:
            level.sequence = rank.get(level.id, 0)

    # ------------------------------------------------------------------ constraints
    @api.constrains("delay", "company_id", "active")
    def _check_delay_unique(self):
        for level in self.filtered("active"):
            twin = self.search(
                [
                    ("company_id", "=", level.company_id.id),
                    ("delay", "=", level.delay),
                    ("id", "!=", level.id),
                ],
                limit=1,
            )
            if twin:
                raise ValidationError(
                    self.env._(
                        "%(level)s and %(other)s of %(company)s are both reached %(days)s days "
                        "after the due date: each level of a company needs its own delay.",
                        level=level.name,
                        other=twin.name,
                        company=level.company_id.name,
                        days=level.delay,
                    )
                )
            if not DELAY_MIN <= level.delay <= DELAY_MAX:
                raise ValidationError(
                    self.env._(
                        "%(level)s: the delay must be between %(min)s and %(max)s days, not "
                        "%(days)s.",
                        level=level.name,
                        min=DELAY_MIN,
                        max=DELAY_MAX,
                        days=level.delay,
                    )
                )

    @api.constrains(
        "send_email",
        "mail_template_id",
        "send_sms",
        "sms_template_id",
        "create_activity",
        "activity_type_id",
        "activity_assign",
        "activity_user_id",
    )
    def _check_channels(self):
        for level in self:
            if level.send_email and not level.mail_template_id:
                raise ValidationError(
                    self.env._("%(level)s sends an email: choose its template.", level=level.name)
                )
            if level.send_sms and not level.sms_template_id:
                raise ValidationError(
                    self.env._(
                        "%(level)s sends a text message: choose its template.", level=level.name
                    )
                )
            if level.create_activity and not level.activity_type_id:
                raise ValidationError(
                    self.env._(
                        "%(level)s schedules an activity: choose its type.", level=level.name
                    )
                )
            if (
                level.create_activity
                and level.activity_assign == "user"
                and not level.activity_user_id
            ):
                raise ValidationError(
                    self.env._(
                        "%(level)s assigns its activity to a chosen user: choose them.",
                        level=level.name,
                    )
                )

    @api.ondelete(at_uninstall=False)
    def _unlink_except_used(self):
        # sudo: reminders of every company and customer count (only whether one exists)
        used = (
            self.env["pulse.followup.event"]
            .sudo()
            .search_count([("level_id", "in", self.ids)], limit=1)
        )
        if used:
            raise UserError(
                self.env._(
                    "A level that has reminders in the history is archived, not deleted: "
                    "the history keeps what was sent."
                )
            )

    # ------------------------------------------------------------------ defaults
    @api.model
    def _default_levels_vals(self, company):
        """The shipped levels, for a company that has none (see data/pulse_followup_data.xml
        for the first company's)."""

        def template(xmlid):
            return self.env.ref(xmlid, raise_if_not_found=False)

        courtesy = template("customer_pulse.mail_template_followup_courtesy")
        reminder = template("customer_pulse.mail_template_followup_reminder")
        final = template("customer_pulse.mail_template_followup_final")
        sms = template("customer_pulse.sms_template_followup")
        vals = [
            {
                "name": self.env._("Courtesy reminder"),
                "delay": -3,
                "send_email": bool(courtesy),
                "mail_template_id": courtesy.id if courtesy else False,
                "attach_invoices": True,
            },
            {
                "name": self.env._("First reminder"),
                "delay": 7,
                "send_email": bool(reminder),
                "mail_template_id": reminder.id if reminder else False,
            },
            {
                "name": self.env._("Second reminder"),
                "delay": 21,
                "send_email": bool(reminder),
                "mail_template_id": reminder.id if reminder else False,
                "send_sms": bool(sms),
                "sms_template_id": sms.id if sms else False,
                "create_activity": True,
                "activity_assign": "salesperson",
                "activity_summary": self.env._("Call the customer about their overdue invoices"),
            },
            {
                "name": self.env._("Final notice"),
                "delay": 45,
                "send_email": bool(final),
                "mail_template_id": final.id if final else False,
                "send_letter": True,
                "create_activity": True,
                "activity_assign": "accountant",
                "activity_type_id": self.env.ref("mail.mail_activity_data_todo").id,
                "activity_summary": self.env._("Final notice sent: decide on the next step"),
            },
        ]
        return [{**v, "company_id": company.id} for v in vals]

    @api.model
    def _ensure_company_levels(self):
        """Give the shipped levels to each company that has customer invoices and never had
        a level (archived ones count: archiving every level turns follow-ups off)."""
        self.env.cr.execute(
            """
            SELECT c.id FROM res_company c
             WHERE NOT EXISTS (SELECT 1 FROM pulse_followup_level l WHERE l.company_id = c.id)
               AND EXISTS (SELECT 1 FROM account_move m
                            WHERE m.company_id = c.id AND m.move_type = 'out_invoice'
                              AND m.state = 'posted')
            """
        )
        companies = self.env["res.company"].browse([r[0] for r in self.env.cr.fetchall()])
        vals = []
        for company in companies:
            vals += self._default_levels_vals(company)
        # sudo: the shipped levels are created for a company at its first run, by the cron
        # or by an accountant's Run now; configuring them stays a manager's
        return self.sudo().create(vals) if vals else self.browse()
