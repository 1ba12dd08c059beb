from markupsafe import Markup

from odoo import api, models
from odoo.exceptions import UserError
from odoo.tools import email_normalize

# links a tracked email keeps as they are (as a mass mailing does)
UNTRACKED_LINKS = ["/unsubscribe_from_list", "/view", "/cards/"]


class PulseActionEmail(models.AbstractModel):
    """Send an email from the step's template, queued (never sent inside the run) and
    tracked under the step's mailing like a mass mailing (opens, clicks, bounces, replies).
    In test mode, to the rule's test address only."""

    _name = "pulse.action.email"
    _inherit = "pulse.action"
    _description = "Rule action: email"

    @api.model
    def _check(self, step):
        errors = []
        template = step.mail_template_id
        if not template:
            errors.append(self.env._("choose an email template"))
        elif template.model != "res.partner":
            errors.append(self.env._("the email template must be for contacts"))
        return errors

    @api.model
    def _act(self, run):
        template = run.step_id.mail_template_id
        values = None
        if run.test_mode:
            values = {"email_to": run.rule_id.test_email, "recipient_ids": [], "partner_ids": []}
        # sudo: the engine renders and queues the step's email for the company
        mail_id = template.sudo().send_mail(
            run.partner_id.id, force_send=False, raise_exception=True, email_values=values
        )
        mail = self.env["mail.mail"].sudo().browse(mail_id)
        if not run.test_mode:
            self._track({run: mail})
        return mail

    @api.model
    def _act_batch(self, runs):
        """One rendering of the template for all the customers (not in test mode)."""
        if any(runs.mapped("test_mode")):
            return None
        # sudo: the engine renders the step's template for the company, whoever runs
        # the cron
        template = runs[0].step_id.mail_template_id.sudo()
        mails = template.send_mail_batch(
            runs.partner_id.ids, force_send=False, raise_exception=True
        )
        by_partner = {mail.res_id: mail for mail in mails}
        if len(by_partner) != len(runs):
            raise UserError(self.env._("the batch did not make one email per customer"))
        produced = {run: by_partner[run.partner_id.id] for run in runs}
        self._track(produced)
        return produced

    @api.model
    def _track(self, produced):
        """Put these emails ({run: mail.mail} of one step) under their step's tracking
        mailing: a trace per email (opens, clicks, bounces, replies) and tracked links."""
        mailing = next(iter(produced)).step_id._tracking_mailing()
        vals = {"mass_mailing_id": mailing.id}
        # sudo: the engine's emails are filed under the step's tracking mailing
        mails = self.env["mail.mail"].sudo().concat(*produced.values())
        mails.write({"mailing_id": mailing.id})
        for mail in mails:
            if "href" in (mail.body_html or ""):  # tracked links, as a mass mailing has
                mail.body_html = mailing._shorten_links(
                    mail.body_html, vals, blacklist=UNTRACKED_LINKS
                )
        traces = [
            {
                "trace_type": "mail",
                "mail_mail_id": mail.id,
                "mass_mailing_id": mailing.id,
                "model": "res.partner",
                "res_id": run.partner_id.id,
                "email": email_normalize(run.partner_id.email or ""),
                "message_id": mail.message_id,
            }
            for run, mail in produced.items()
        ]
        # sudo: the traces are the engine's record of what it sent
        self.env["mailing.trace"].sudo().create(traces)

    @api.model
    def _preview(self, step, partner):
        template = step.mail_template_id
        if not (template and partner):
            return None
        subject = template._render_field("subject", partner.ids)[partner.id]
        body = template._render_field("body_html", partner.ids)[partner.id]
        return Markup("<p><b>%s</b></p><div class='border p-2'>%s</div>") % (
            subject,
            Markup(body),  # the template's own rendered HTML
        )
