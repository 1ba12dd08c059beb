import logging

from markupsafe import Markup

from odoo import Command, api, models
from odoo.tools import SQL, is_html_empty

from ..tools.mail_queue import insert_rows, queue_mails

_logger = logging.getLogger(__name__)

# links a tracked email keeps as they are (as a mass mailing does)
UNTRACKED_LINKS = ["/unsubscribe_from_list", "/view", "/cards/"]
# what a step's template renders for each email: the fields Odoo's send_mail renders, less
# the files (a template with files is sent by Odoo's send_mail_batch)
RENDERED = (
    "auto_delete",
    "body_html",
    "email_cc",
    "email_from",
    "email_to",
    "mail_server_id",
    "model",
    "partner_to",
    "reply_to",
    "res_id",
    "scheduled_date",
    "subject",
)


class PulseActionEmail(models.AbstractModel):
    """Send an email from the step's template, queued (never sent inside the run) and
    tracked under the step's mailing like a mass mailing (opens, clicks, bounces, replies).
    In test mode, to the rule's test address only.

    The emails of a batch are made together: the template rendered once for all the
    customers, the emails and their traces created in one go each. A customer whose email
    cannot be rendered fails alone."""

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
        mail = self._queue(run)[run]
        if isinstance(mail, Exception):
            raise mail
        return mail

    @api.model
    def _act_batch(self, runs):
        return self._queue(runs)

    # ---------------------------------------------------------------- queueing
    @api.model
    def _queue(self, runs):
        """Queue the emails of these runs (of one step, one customer each): {run: mail.mail,
        or the error that kept that customer's email from being made}."""
        step = runs[0].step_id
        # sudo: the engine renders and queues the step's emails for the company, whoever
        # runs the cron
        template = step.mail_template_id.sudo()
        tracked = runs.filtered(lambda r: not r.test_mode)
        mailing = self._mailing(step) if tracked else None
        if template.attachment_ids or template.report_template_ids:
            produced = self._queue_by_odoo(template, runs, mailing)
        else:
            produced = self._queue_rendered(template, runs, mailing)
        made = {r: m for r, m in produced.items() if not isinstance(m, Exception)}
        if mailing and made:
            self._track({r: m for r, m in made.items() if r in tracked}, mailing)
        return produced

    @api.model
    def _mailing(self, step):
        """The step's tracking mailing: read as it is once made (its row is locked only to
        make it, see pulse.rule.step _tracking_mailing, so that two workers' batches of
        one step do not wait for each other)."""
        step.invalidate_recordset(["mailing_id"])  # as committed: made, or deleted since
        return step.mailing_id or step._tracking_mailing()

    @api.model
    def _test_values(self, run):
        """In test mode, the email goes to the rule's test address only."""
        return {"email_to": run.rule_id.test_email, "recipient_ids": [], "partner_ids": []}

    @api.model
    def _queue_rendered(self, template, runs, mailing):
        """The template rendered once for all the customers (one by one only when that
        fails, to find who it fails for), the emails made together (tools/mail_queue.py)."""
        rendered = self._render(template, runs.partner_id.ids)
        produced, vals_list, made = {}, [], []
        for run in runs:
            values = rendered[run.partner_id.id]
            if isinstance(values, Exception):
                produced[run] = values
                continue
            vals_list.append(self._mail_values(run, values, mailing))
            made.append(run)
        mails = queue_mails(self.env, vals_list)
        produced.update(zip(made, mails, strict=True))
        return produced

    @api.model
    def _render(self, template, partner_ids):
        """{customer: the email's values as Odoo's send_mail renders them (the template's
        layout around the body), or the error rendering them raised}: for all the customers
        at once, or one by one when that fails, to find who it fails for (each in a
        savepoint: a failing render may have broken the transaction)."""
        try:
            with self.env.cr.savepoint():
                return self._render_together(template, partner_ids)
        except Exception as e:  # one bad customer: find which
            _logger.info(
                "pulse: rendering %s for %s customers failed: %s", template, len(partner_ids), e
            )
        rendered = {}
        for partner_id in partner_ids:
            try:
                with self.env.cr.savepoint():
                    rendered.update(self._render_together(template, [partner_id]))
            except Exception as e:
                rendered[partner_id] = e
        return rendered

    @api.model
    def _render_together(self, template, partner_ids):
        """One rendering of `template` for all these customers, then its layout around
        each body, in each customer's language (as mail.template.send_mail_batch does)."""
        rendered = template._generate_template(partner_ids, RENDERED)
        layout = template.email_layout_xmlid
        if not layout:
            return rendered
        env = template.env
        customers = env["res.partner"].browse(partner_ids)
        langs = template._render_lang(partner_ids) if template.lang else {}
        companies = customers._mail_get_companies(default=env.company)
        model = env["ir.model"]._get("res.partner")
        for customer in customers:
            values = rendered[customer.id]
            lang = langs.get(customer.id) or False
            Render = (
                env["mail.render.mixin"].with_context(lang=lang)
                if lang
                else env["mail.render.mixin"]
            )
            context = {
                "message": env["mail.message"]
                .sudo()
                .new({"body": values["body_html"], "record_name": customer.display_name}),
                "subtype": env["mail.message.subtype"].sudo(),
                "model_description": (
                    model.with_context(lang=lang) if lang else model
                ).display_name,
                "record_name": False,
                "subtitles": False,
                "company": companies.get(customer.id) or env.company,
                "email_add_signature": False,
                "signature": "",
                "website_url": "",
                "is_html_empty": is_html_empty,
            }
            body = Render._render_encapsulate(layout, values["body_html"], context, customer)
            values["body_html"] = body or values["body_html"]
        return rendered

    @api.model
    def _mail_values(self, run, values, mailing):
        """What mail.mail is created with for `run` from the template's rendered `values`
        (as Odoo's send_mail makes it), filed under the step's `mailing` with its links
        tracked, or to the test address in test mode."""
        vals = dict(values)
        recipients = vals.pop("partner_ids", [])
        if not vals.get("email_from"):
            vals.pop("email_from", None)
        vals.update(
            body=vals["body_html"],
            recipient_ids=[Command.link(pid) for pid in recipients],
            partner_ids=[Command.set(recipients)],
        )
        if run.test_mode:
            vals.update(self._test_values(run))
            return vals
        vals.update(
            mailing_id=mailing.id, body_html=self._tracked_links(vals["body_html"], mailing)
        )
        return vals

    @api.model
    def _tracked_links(self, body, mailing):
        """`body` with its links tracked under `mailing`, as a mass mailing has them."""
        if "href" not in (body or ""):
            return body
        return mailing._shorten_links(
            body, {"mass_mailing_id": mailing.id}, blacklist=UNTRACKED_LINKS
        )

    @api.model
    def _queue_by_odoo(self, template, runs, mailing):
        """A template with files: Odoo's send_mail_batch makes the emails (and their files
        per customer), by test mode; the tracked ones are then filed under the step's
        `mailing` with their links tracked."""
        produced = {}
        for test_mode in (False, True):
            group = runs.filtered(lambda r, t=test_mode: r.test_mode == t)
            if not group:
                continue
            mails = template.send_mail_batch(
                group.partner_id.ids,
                force_send=False,
                raise_exception=True,
                email_values=self._test_values(group[0]) if test_mode else None,
            )
            by_partner = {mail.res_id: mail for mail in mails}
            produced.update({run: by_partner[run.partner_id.id] for run in group})
            if not test_mode and mailing:
                for mail in mails.sudo():  # sudo: as the emails were made
                    mail.write(
                        {
                            "mailing_id": mailing.id,
                            "body_html": self._tracked_links(mail.body_html, mailing),
                        }
                    )
        return produced

    @api.model
    def _track(self, produced, mailing):
        """Put these emails ({run: mail.mail} of one step, filed under its tracking
        `mailing`) on record: a trace per email (opens, clicks, bounces, replies), all in
        one INSERT."""
        # sudo: the engine's own emails, just queued by it; only their Message-Ids are read
        mails = self.env["mail.mail"].sudo().concat(*produced.values())
        # their Message-Ids, read alone (not the whole emails with their bodies)
        mails.flush_recordset(["mail_message_id"])
        self.env["mail.message"].flush_model(["message_id"])
        message_ids = dict(
            self.env.execute_query(
                SQL(
                    """
                    SELECT mail.id, message.message_id
                      FROM mail_mail mail
                      JOIN mail_message message ON message.id = mail.mail_message_id
                     WHERE mail.id = ANY(%s)
                    """,
                    mails.ids,
                )
            )
        )
        traces = [
            {
                "trace_type": "mail",
                "mail_mail_id": mail.id,
                "mail_mail_id_int": mail.id,  # as mailing.trace.create sets it
                "mass_mailing_id": mailing.id,
                "campaign_id": mailing.campaign_id.id,
                "model": "res.partner",
                "res_id": run.partner_id.id,
                # the address the checks found valid (one address: as email_normalize
                # reads it, stored)
                "email": run.partner_id.email_normalized,
                "message_id": message_ids[mail.id],
            }
            for run, mail in produced.items()
        ]
        # sudo: the traces are the engine's record of what it sent
        insert_rows(self.env["mailing.trace"].sudo(), traces)

    @api.model
    def _preview(self, step, partner):
        template = step.mail_template_id
        if not (template and partner):
            return None
        # in the customer's language, as they receive it
        subject = template._render_field("subject", partner.ids, compute_lang=True)[partner.id]
        body = template._render_field("body_html", partner.ids, compute_lang=True)[partner.id]
        return Markup("<p><b>%s</b></p><div class='border p-2'>%s</div>") % (
            subject,
            Markup(body),  # the template's own rendered HTML
        )
