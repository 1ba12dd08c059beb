import json

from markupsafe import Markup

from odoo import api, models
from odoo.exceptions import UserError

from ..tools.params import setting
from .pulse_step_run import RunSkipped


class PulseActionSms(models.AbstractModel):
    """Send a text from the step's template: through Odoo's SMS service (sms.sms, sent by
    its queue), or through the HTTP gateway of the settings, an external call made exactly
    once. No text leaves in test mode."""

    _name = "pulse.action.sms"
    _inherit = "pulse.action"
    _description = "Rule action: text message"

    @api.model
    def _check(self, step):
        if not step.sms_template_id:
            return [self.env._("choose an SMS template")]
        return []

    @api.model
    def _is_external(self, run):
        return not run.test_mode and setting(self.env, "sms_gateway") == "http"

    @api.model
    def _act(self, run):
        if run.test_mode:
            raise RunSkipped(self.env._("test mode: no text sent"))
        partner = run.partner_id
        messages = partner._message_sms_with_template(
            template=run.step_id.sms_template_id, partner_ids=partner.ids
        )
        return messages[:1] if messages else None

    @api.model
    def _request(self, run):
        """A text through the HTTP gateway: one JSON POST with a bearer token, its reference
        the run's Idempotency-Key (the same on every attempt)."""
        template = run.step_id.sms_template_id
        partner = run.partner_id
        number = partner._phone_format(number=partner.mobile or partner.phone or "")
        if not number:
            raise RunSkipped(self.env._("invalid phone number"))
        body = template._render_field("body", partner.ids)[partner.id]
        url = setting(self.env, "sms_gateway_url")
        if not url:
            raise UserError(self.env._("the SMS gateway URL is not set (Settings)"))
        headers = {"Content-Type": "application/json"}
        token = setting(self.env, "sms_gateway_token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = {"to": number, "body": body, "reference": run._idempotency_key()}

        def done(outcome):
            # sudo: the note on the customer records what the rule sent, whoever reads it
            return partner.sudo().message_post(
                body=self.env._(
                    "Text sent to %(number)s through the SMS gateway (%(code)s): %(body)s",
                    number=number,
                    code=outcome["response_code"],
                    body=body,
                ),
                subtype_xmlid="mail.mt_note",
            )

        return {
            "url": url,
            "body": json.dumps(payload).encode(),
            "headers": headers,
            "what": self.env._("SMS gateway"),
            "secrets": [token],
            "done": done,
        }

    @api.model
    def _preview(self, step, partner):
        if not (step.sms_template_id and partner):
            return None
        body = step.sms_template_id._render_field("body", partner.ids)[partner.id]
        return Markup("<pre>%s</pre>") % body
