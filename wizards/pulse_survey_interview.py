from odoo import fields, models
from odoo.exceptions import UserError

# The surveys staff may fill on a customer's behalf: those that fill profiles (the same scope
# as the record rule on survey answers for Customer Pulse users), never a certification or a
# survey restricted to named participants.
INTERVIEW_SURVEYS = [
    ("active", "=", True),
    ("certification", "=", False),
    ("survey_type", "in", ("assessment", "custom", "live_session", "survey")),
    ("question_and_page_ids", "any", [("pulse_attribute_id", "!=", False)]),
]


class PulseSurveyInterview(models.TransientModel):
    """Fill a survey on a customer's behalf (phone call, visit): the answers go to their
    profile under the interviewer's name and department."""

    _name = "pulse.survey.interview"
    _description = "Interview a customer with a survey"

    partner_id = fields.Many2one("res.partner", "Customer", required=True)
    survey_id = fields.Many2one("survey.survey", required=True, domain=INTERVIEW_SURVEYS)
    consent = fields.Boolean(
        "The customer consents to profiling",
        help="Ask before collecting personal data: recorded on the customer.",
    )

    def action_start(self):
        self.ensure_one()
        survey = self.survey_id.sudo()  # sudo: salespeople interview without editing surveys
        # the sudo above opens only profile surveys, for a customer the interviewer may see
        if not survey.filtered_domain(INTERVIEW_SURVEYS):
            raise UserError(
                self.env._(
                    "%(survey)s does not fill customer profiles: only surveys mapped to "
                    "profile attributes (not certifications) are used for interviews.",
                    survey=survey.title,
                )
            )
        self.partner_id.check_access("read")
        if not survey.question_ids:
            raise UserError(
                self.env._("The survey %(survey)s has no question.", survey=survey.title)
            )
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
