from odoo import fields, models
from odoo.exceptions import UserError


class PulseSurveyInterview(models.TransientModel):
    """Fill a survey on a customer's behalf (phone call, visit): the answers go to their
    profile under the interviewer's name and department."""

    _name = "pulse.survey.interview"
    _description = "Interview a customer with a survey"

    partner_id = fields.Many2one("res.partner", "Customer", required=True)
    survey_id = fields.Many2one("survey.survey", required=True, domain=[("active", "=", True)])
    consent = fields.Boolean(
        "The customer consents to profiling",
        help="Ask before collecting personal data: recorded on the customer.",
    )

    def action_start(self):
        self.ensure_one()
        survey = self.survey_id.sudo()  # sudo: salespeople interview without editing surveys
        if not survey.question_ids:
            raise UserError(self.env._("The survey %s has no question.", survey.title))
        if self.consent:
            self.partner_id._pulse_set_consent(True)
        # the participation belongs to the interviewer (the survey pages check it), the
        # profile to the customer
        answer = survey._create_answer(
            user=self.env.user,
            check_attempts=False,
            pulse_partner_id=self.partner_id.commercial_partner_id.id,
            pulse_interviewer_id=self.env.uid,
        )
        return {
            "type": "ir.actions.act_url",
            "url": f"/survey/start/{survey.access_token}?answer_token={answer.access_token}",
            "target": "self",
        }
