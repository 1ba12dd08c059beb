import ipaddress
import socket
from datetime import timedelta
from urllib.parse import urlsplit

from odoo import api, fields, models
from odoo.exceptions import ValidationError

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
# non-public webhook hosts (private, loopback, link-local…) an administrator allows:
# host names, addresses or networks, comma-separated
WEBHOOK_ALLOWED_HOSTS = "customer_pulse.webhook_allowed_hosts"


class PulseRuleStep(models.Model):
    """One step of a rule: after a delay (from the previous step or from entering), if its
    condition still holds, do one action."""

    _name = "pulse.rule.step"
    _description = "Rule step"
    _order = "rule_id, sequence, id"

    rule_id = fields.Many2one("pulse.rule", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="rule_id.company_id", store=True)
    sequence = fields.Integer(default=10)
    name = fields.Char(required=True, string="Step")
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
    activity_summary = fields.Char("Summary")
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

    @api.depends("delay", "delay_unit", "parent_id", "action", "condition")
    def _compute_summary(self):
        labels = dict(self._fields["action"]._description_selection(self.env))
        for step in self:
            when = (
                self.env._("%(delay)s %(unit)s after", delay=step.delay, unit=step.delay_unit)
                if step.delay
                else self.env._("right after")
            )
            origin = step.parent_id.name if step.parent_id else self.env._("entering")
            condition = self.env._(", if still true") if step.condition else ""
            step.summary = f"{when} {origin}{condition}: {labels.get(step.action, '')}"

    def _compute_run_counts(self):
        counts = {
            (step, state): count
            for step, state, count in self.env["pulse.step.run"]._read_group(
                [("step_id", "in", self.ids)], ["step_id", "state"], ["__count"]
            )
        }
        for step in self:
            step.run_done_count = counts.get((step, "done"), 0)
            step.run_skipped_count = counts.get((step, "skipped"), 0)
            step.run_failed_count = counts.get((step, "failed"), 0)

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
        self.env.cr.execute("SELECT id FROM pulse_rule_step WHERE id = %s FOR UPDATE", [self.id])
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
                refusal = step._server_action_refusal(user)
                if refusal:
                    raise ValidationError(
                        self.env._("Step %(name)s: %(reason)s.", name=step.name, reason=refusal)
                    )

    def _configuration_errors(self):
        self.ensure_one()
        required = {
            "email": ("mail_template_id", self.env._("choose an email template")),
            "sms": ("sms_template_id", self.env._("choose an SMS template")),
            "activity": ("activity_type_id", self.env._("choose an activity type")),
            "note": ("note_body", self.env._("write the note")),
            "list_add": ("mailing_list_id", self.env._("choose a mailing list")),
            "list_remove": ("mailing_list_id", self.env._("choose a mailing list")),
            "tag_add": ("tag_ids", self.env._("choose tags")),
            "tag_remove": ("tag_ids", self.env._("choose tags")),
            "survey": ("survey_id", self.env._("choose a survey")),
            "webhook": ("webhook_url", self.env._("enter the URL")),
            "server_action": ("server_action_id", self.env._("choose a server action")),
        }
        errors = []
        fname, message = required[self.action]
        if not self[fname]:
            errors.append(message)
        if (
            self.action == "activity"
            and self.activity_assign == "user"
            and not (self.activity_user_id)
        ):
            errors.append(self.env._("choose the user"))
        if self.action == "webhook" and self.webhook_url:
            refusal = self._webhook_url_refusal(self.rule_id.test_mode)
            if refusal:
                errors.append(refusal)
        if self.action == "server_action" and self.server_action_id:
            refusal = self._server_action_refusal(self.rule_id.user_id)
            if refusal:
                errors.append(refusal)
        template = self.mail_template_id if self.action == "email" else False
        if template and template.model != "res.partner":
            errors.append(self.env._("the email template must be for contacts"))
        if self.delay < 0:
            errors.append(self.env._("the delay cannot be negative"))
        return errors

    def _delay(self):
        self.ensure_one()
        return timedelta(**{self.delay_unit: self.delay})

    def _server_action_refusal(self, user):
        """Why `user` may not run this step's server action (None: they may). The same
        checks as Odoo's own run(): the action's groups, or else write access to contacts."""
        self.ensure_one()
        if not user:
            return self.env._("the rule has no responsible to run the server action as")
        # sudo: server actions are readable by administrators only: read just what is checked
        action = self.server_action_id.sudo()
        if action.model_id.model != "res.partner":
            return self.env._(
                "the server action %(action)s is not an action on contacts", action=action.name
            )
        if action.groups_id:
            if not action.groups_id & user.groups_id:
                return self.env._(
                    "%(user)s may not run the server action %(action)s (allowed to: %(groups)s)",
                    user=user.name,
                    action=action.name,
                    groups=", ".join(action.groups_id.mapped("full_name")),
                )
        elif not self.env["res.partner"].with_user(user).has_access("write"):
            return self.env._(
                "%(user)s may not run the server action %(action)s (no right to edit contacts)",
                user=user.name,
                action=action.name,
            )
        return None

    def _webhook_url_refusal(self, test_mode):
        """Why this step's webhook URL may not be called, by its form (None: it may):
        https only, or http to this machine for a rule in test mode; no credentials in it.
        Where the host points is checked at each call (_webhook_address_refusal)."""
        self.ensure_one()
        parts = urlsplit((self.webhook_url or "").strip())
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            return self.env._("the URL must start with https://")
        if parts.username or parts.password:
            return self.env._("the URL cannot hold credentials: use the signing secret")
        if parts.scheme == "http" and not (test_mode and _is_loopback_name(host)):
            return self.env._(
                "the URL must start with https:// (http:// only to this machine, in test mode)"
            )
        return None

    def _webhook_address_refusal(self, test_mode):
        """Why the host of this step's webhook may not be called now, by where it points
        (None: it may): private, loopback, link-local and other non-public addresses are
        refused unless an administrator listed the host, the address or its network in the
        system parameter customer_pulse.webhook_allowed_hosts. Raises OSError when the
        host does not resolve (a transient failure)."""
        self.ensure_one()
        parts = urlsplit((self.webhook_url or "").strip())
        host = (parts.hostname or "").lower()
        # sudo: system parameters are for administrators: the allow-list is read, not shown
        allowed = self.env["ir.config_parameter"].sudo().get_param(WEBHOOK_ALLOWED_HOSTS) or ""
        allowed = {entry.strip().lower() for entry in allowed.split(",") if entry.strip()}
        networks = []
        for entry in allowed:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue  # a host name
        default_port = 443 if parts.scheme == "https" else 80
        infos = socket.getaddrinfo(host, parts.port or default_port, proto=socket.IPPROTO_TCP)
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%")[0])
            address = getattr(address, "ipv4_mapped", None) or address
            if parts.scheme == "http" and not (test_mode and address.is_loopback):
                return self.env._(
                    "%(host)s is not this machine: http:// only to this machine, in test mode",
                    host=host,
                )
            public = address.is_global and not address.is_multicast
            if public or host in allowed or any(address in net for net in networks):
                continue
            return self.env._(
                "%(host)s points to a private, loopback or link-local address (%(address)s): "
                "refused unless an administrator allows it (%(param)s)",
                host=host,
                address=str(address),
                param=WEBHOOK_ALLOWED_HOSTS,
            )
        return None


def _is_loopback_name(host):
    """True for a host that names this machine: localhost or a loopback address."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
