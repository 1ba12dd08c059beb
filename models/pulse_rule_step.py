from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

ACTIONS = [
    ("email", "Send an email"),
    ("sms", "Send a text message"),
    ("activity", "Schedule an activity"),
    ("note", "Log a note on the customer"),
    ("list_add", "Add to a mailing list"),
    ("list_remove", "Remove from a mailing list"),
    ("tag_add", "Add tags"),
    ("tag_remove", "Remove tags"),
    ("survey", "Send a survey invitation"),
    ("webhook", "Call a webhook"),
    ("server_action", "Run a server action"),
]
# actions that reach the customer: they count toward the frequency cap and the
# marketing hold, and are not sent in test mode (emails go to the test address)
TOUCHES = ("email", "sms", "survey")
# actions that use or pass on the customer's data toward them or a third party: a customer
# who objects to profiling is left out of them
CUSTOMER_FACING = ("email", "sms", "survey", "webhook", "list_add")
# the action family (pulse_action.py) that does each action
ACTION_MODELS = {
    "email": "pulse.action.email",
    "sms": "pulse.action.sms",
    "activity": "pulse.action.activity",
    "note": "pulse.action.activity",
    "list_add": "pulse.action.list",
    "list_remove": "pulse.action.list",
    "tag_add": "pulse.action.tag",
    "tag_remove": "pulse.action.tag",
    "survey": "pulse.action.survey",
    "webhook": "pulse.action.webhook",
    "server_action": "pulse.action.server_action",
}
# what one run of an action usually costs, in the company's currency: an email or a survey
# invitation (sending), a text message (the gateway), an activity (the time of whoever does
# it); a step starts from its action's figure, which its author changes to their own
DEFAULT_COST_PER_RUN = {"email": 0.02, "survey": 0.02, "sms": 0.08, "activity": 2.0}


class PulseRuleStep(models.Model):
    """One step of a rule: after a delay (from the previous step or from entering), if its
    condition still holds, do one action."""

    _name = "pulse.rule.step"
    _description = "Rule step"
    _order = "rule_id, sequence, id"

    rule_id = fields.Many2one("pulse.rule", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="rule_id.company_id", store=True)
    sequence = fields.Integer(default=10)
    name = fields.Char(required=True, string="Step", translate=True)
    parent_id = fields.Many2one(
        "pulse.rule.step",
        string="After step",
        ondelete="cascade",
        domain="[('rule_id', '=', rule_id), ('id', '!=', id)]",
        help="Empty: the step starts when the customer enters the rule.",
    )
    child_ids = fields.One2many("pulse.rule.step", "parent_id", string="Next steps")
    delay = fields.Integer(default=0, help="How long after the previous step (or entering).")
    delay_unit = fields.Selection(
        [("hours", "Hours"), ("days", "Days")], default="days", required=True
    )
    condition = fields.Char(
        "Only if",
        help="A filter the customer must still match when the step is due (e.g. no order "
        "since entering); otherwise the step and the ones after it are skipped.",
    )
    action = fields.Selection(ACTIONS, required=True, default="email")
    mail_template_id = fields.Many2one(
        "mail.template",
        string="Email template",
        domain="[('model', '=', 'res.partner')]",
        ondelete="restrict",
    )
    sms_template_id = fields.Many2one(
        "sms.template",
        string="SMS template",
        domain="[('model', '=', 'res.partner')]",
        ondelete="restrict",
    )
    activity_type_id = fields.Many2one("mail.activity.type", ondelete="restrict")
    activity_summary = fields.Char("Summary", translate=True)
    activity_note = fields.Html("Activity note")
    activity_deadline_days = fields.Integer("Due in (days)", default=3)
    activity_assign = fields.Selection(
        [
            ("salesperson", "The customer's salesperson"),
            ("team_leader", "The leader of the salesperson's sales team"),
            ("user", "A chosen user"),
        ],
        string="Assign to",
        default="salesperson",
    )
    activity_user_id = fields.Many2one(
        "res.users", string="User", help="The chosen user, or who gets it when there is none."
    )
    note_body = fields.Html("Note")
    mailing_list_id = fields.Many2one("mailing.list", ondelete="restrict")
    tag_ids = fields.Many2many("res.partner.category", string="Tags")
    survey_id = fields.Many2one("survey.survey", ondelete="restrict")
    webhook_url = fields.Char(
        "URL",
        help="https:// only (http:// only to this machine, for a rule in test mode). "
        "Private, loopback and link-local addresses are refused unless an administrator "
        "lists the host in the system parameter customer_pulse.webhook_allowed_hosts; "
        "redirects are not followed.",
    )
    webhook_secret = fields.Char(
        "Signing secret",
        groups="customer_pulse.group_pulse_manager",
        help="The body is signed with HMAC-SHA256 and this secret (X-Pulse-Signature).",
    )
    server_action_id = fields.Many2one(
        "ir.actions.server",
        domain="[('model_id.model', '=', 'res.partner')]",
        ondelete="restrict",
        help="An action on contacts that you and the rule's responsible may run; it runs "
        "with the responsible's access rights.",
    )
    notify_user_ids = fields.Many2many(
        "res.users", string="Notify", help="These users are told each time the step runs."
    )
    mailing_id = fields.Many2one(
        "mailing.mailing",
        string="Tracking mailing",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="The Email Marketing mailing this step's emails are tracked under (opens, "
        "clicks, bounces, replies, unsubscribe links).",
    )
    mail_sent_count = fields.Integer("Sent", compute="_compute_mail_counts")
    mail_opened_count = fields.Integer("Opened", compute="_compute_mail_counts")
    mail_clicked_count = fields.Integer("Clicked", compute="_compute_mail_counts")
    mail_replied_count = fields.Integer("Replied", compute="_compute_mail_counts")
    mail_bounced_count = fields.Integer("Bounced", compute="_compute_mail_counts")
    summary = fields.Char(compute="_compute_summary", string="What happens")
    run_ids = fields.One2many("pulse.step.run", "step_id")
    run_done_count = fields.Integer("Done", compute="_compute_run_counts")
    run_skipped_count = fields.Integer("Skipped", compute="_compute_run_counts")
    run_failed_count = fields.Integer("Failed", compute="_compute_run_counts")
    # return (report/pulse_rule_return.py reads the same figures for every rule and month)
    currency_id = fields.Many2one(related="rule_id.currency_id")
    cost_per_run = fields.Monetary(
        compute="_compute_cost_per_run",
        store=True,
        readonly=False,
        precompute=True,
        help="What one run of this step costs, in the company's currency: per email or "
        "survey invitation sent, per text message, per activity (the time of whoever does "
        "it), per call… Counted for each run done, not in test mode. Set to the action's "
        "usual cost when the action changes (0.02 per email or survey invitation, 0.08 per "
        "text, 2.00 per activity, nothing otherwise): change it to your own.",
    )
    run_cost = fields.Monetary(
        "Cost",
        compute="_compute_return",
        help="Runs done (not in test mode) × cost per run.",
    )
    converted_count = fields.Integer(
        "Converted",
        compute="_compute_return",
        help="Enrolments whose first invoice within the attribution window came after a touch "
        "of this step (the last touch before it): their revenue is this step's.",
    )
    revenue = fields.Monetary(
        "Attributed revenue",
        compute="_compute_return",
        groups="account.group_account_invoice",
        help="Revenue of the enrolments this step converted (its touch came last before the "
        "customer's first invoice within the rule's attribution window).",
    )

    @api.depends("delay", "delay_unit", "parent_id", "action", "condition")
    def _compute_summary(self):
        labels = dict(self._fields["action"]._description_selection(self.env))
        for step in self:
            action = labels.get(step.action, "")
            when = step._summary_when()
            step.summary = (
                self.env._("%(when)s, if still true: %(action)s", when=when, action=action)
                if step.condition
                else self.env._("%(when)s: %(action)s", when=when, action=action)
            )

    def _summary_when(self):
        """When this step runs, as a whole phrase (each a sentence of its own to translate)."""
        _ = self.env._
        after, count = self.parent_id.name, self.delay
        if not count:
            return _("Right after %(step)s", step=after) if after else _("Right after entering")
        if self.delay_unit == "hours":
            if after:
                return _("%(count)s hours after %(step)s", count=count, step=after)
            return _("%(count)s hours after entering", count=count)
        if after:
            return _("%(count)s days after %(step)s", count=count, step=after)
        return _("%(count)s days after entering", count=count)

    def _compute_run_counts(self):
        counts = self.env["pulse.step.run.tally"]._counts(
            [("step_id", "in", self.ids)], ["step_id", "state"]
        )
        for step in self:
            step.run_done_count = counts.get((step, "done"), 0)
            step.run_skipped_count = counts.get((step, "skipped"), 0)
            step.run_failed_count = counts.get((step, "failed"), 0)

    @api.depends("action")
    def _compute_cost_per_run(self):
        for step in self:
            step.cost_per_run = DEFAULT_COST_PER_RUN.get(step.action, 0.0)

    def _compute_return(self):
        runs = {
            step: count
            for (step,), count in self.env["pulse.step.run.tally"]
            ._counts(
                [("step_id", "in", self.ids), ("state", "=", "done"), ("test_mode", "=", False)],
                ["step_id"],
            )
            .items()
        }
        Enrolment = self.env["pulse.enrolment"]
        aggregates = ["__count"]
        with_revenue = Enrolment._fields["attributed_revenue"].is_accessible(self.env)
        if with_revenue:
            aggregates.append("attributed_revenue:sum")
        converted = {
            step: values
            for step, *values in Enrolment._read_group(
                [("converting_step_id", "in", self.ids)], ["converting_step_id"], aggregates
            )
        }
        for step in self:
            step.run_cost = runs.get(step, 0) * step.cost_per_run
            values = converted.get(step, (0, 0))
            step.converted_count = values[0]
            step.revenue = values[1] if with_revenue else 0

    def _compute_mail_counts(self):
        # sudo: counts only, of the step's own tracking mailing, for whoever may read the step
        Trace = self.env["mailing.trace"].sudo()
        mailings = self.mailing_id
        statuses = {
            (mailing, status): count
            for mailing, status, count in Trace._read_group(
                [("mass_mailing_id", "in", mailings.ids)],
                ["mass_mailing_id", "trace_status"],
                ["__count"],
            )
        }
        clicks = dict(
            Trace._read_group(
                [("mass_mailing_id", "in", mailings.ids), ("links_click_datetime", "!=", False)],
                ["mass_mailing_id"],
                ["__count"],
            )
        )
        for step in self:
            mine = {s: c for (m, s), c in statuses.items() if m == step.mailing_id}
            step.mail_sent_count = sum(
                c for s, c in mine.items() if s in ("pending", "sent", "open", "reply")
            )
            step.mail_opened_count = mine.get("open", 0) + mine.get("reply", 0)
            step.mail_replied_count = mine.get("reply", 0)
            step.mail_bounced_count = mine.get("bounce", 0)
            step.mail_clicked_count = clicks.get(step.mailing_id, 0)

    def _tracking_mailing(self):
        """The mailing this email step's emails are tracked under, created once (the step
        row is locked, so two workers do not create two)."""
        self.ensure_one()
        self.env.cr.execute(SQL("SELECT id FROM pulse_rule_step WHERE id = %s FOR UPDATE", self.id))
        self.invalidate_recordset(["mailing_id"])
        if not self.mailing_id:
            template = self.mail_template_id
            # sudo: the tracking mailing is the engine's record, made at the step's first
            # email whoever runs it
            self.sudo().mailing_id = (
                self.env["mailing.mailing"]
                .sudo()
                .create(
                    {
                        "subject": f"{self.rule_id.name} — {self.name}",
                        "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
                        "mailing_domain": "[('id', '=', 0)]",
                        "body_html": template.body_html,
                        "body_arch": template.body_html,
                        "state": "done",
                        "sent_date": fields.Datetime.now(),
                        "user_id": self.rule_id.user_id.id or self.env.uid,
                    }
                )
            )
        return self.mailing_id

    @api.constrains("parent_id")
    def _check_parent(self):
        if self._has_cycle():
            raise ValidationError(self.env._("A step cannot come after itself."))
        for step in self:
            if step.parent_id and step.parent_id.rule_id != step.rule_id:
                raise ValidationError(self.env._("A step follows a step of the same rule."))

    @api.constrains("cost_per_run")
    def _check_cost_per_run(self):
        for step in self:
            if step.cost_per_run < 0:
                raise ValidationError(
                    self.env._(
                        "Step %(name)s: the cost per run cannot be negative (%(cost)s).",
                        name=step.name,
                        cost=step.cost_per_run,
                    )
                )

    @api.constrains("condition")
    def _check_condition(self):
        for step in self.filtered("condition"):
            # evaluated as its author and as the rule's responsible, who it runs as
            self.env["pulse.segment"]._check_filter(
                step.condition,
                step.rule_id.company_id,
                step.rule_id.user_id,
                self.env._("The condition of step %(name)s", name=step.name),
            )

    @api.constrains("action", "server_action_id")
    def _check_server_action(self):
        """A server action step is only for actions on contacts that its author (and the
        rule's responsible, who it runs as) may run: a rule cannot lend anyone rights."""
        for step in self.filtered(lambda s: s.action == "server_action" and s.server_action_id):
            # the superuser (install, data files) binds no rights
            users = (self.env.user | step.rule_id.user_id).filtered(lambda u: not u._is_superuser())
            for user in users:
                refusal = self.env["pulse.action.server_action"]._refusal(step, user)
                if refusal:
                    raise ValidationError(
                        self.env._("Step %(name)s: %(reason)s.", name=step.name, reason=refusal)
                    )

    def _configuration_errors(self):
        """What prevents this step from running, in words (empty: it can run)."""
        self.ensure_one()
        errors = self._action_model()._check(self)
        if self.delay < 0:
            errors.append(self.env._("the delay cannot be negative"))
        return errors

    def _action_model(self):
        """The action family that does this step's action (pulse.action.*)."""
        self.ensure_one()
        return self.env[ACTION_MODELS[self.action]]

    def _delay(self):
        self.ensure_one()
        return timedelta(**{self.delay_unit: self.delay})
