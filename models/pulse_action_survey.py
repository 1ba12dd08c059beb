from odoo import api, models
from odoo.exceptions import UserError

from .pulse_step_run import RunSkipped


class PulseActionSurvey(models.AbstractModel):
    """Invite the customer to the step's survey (public surveys only); a survey that
    collects personal data only to customers who consent to profiling. In test mode, the
    invitation goes to the rule's test address."""

    _name = "pulse.action.survey"
    _inherit = "pulse.action"
    _description = "Rule action: survey invitation"

    @api.model
    def _check(self, step):
        if not step.survey_id:
            return [self.env._("choose a survey")]
        return []

    @api.model
    def _act(self, run):
        survey = run.step_id.survey_id
        partner = run.partner_id
        if survey.access_mode != "public" and survey.users_login_required:
            raise UserError(self.env._("the survey requires a login: make it public"))
        if survey.pulse_personal_data and not partner.commercial_partner_id.pulse_profiling_consent:
            raise RunSkipped(
                self.env._("no consent to profiling (the survey collects personal data)")
            )
        # sudo: the engine invites for the company; invitations need survey rights. In the
        # customer's language: the wizard renders its template in its own
        invite = (
            self.env["survey.invite"]
            .sudo()
            .with_context(default_survey_id=survey.id, lang=partner.lang or self.env.lang)
            .create({"partner_ids": [(4, partner.id)], "send_email": True})
        )
        if run.test_mode:
            invite.partner_ids = [(5,)]
            invite.emails = run.rule_id.test_email
        invite.action_invite()
        # sudo: the participation the invitation just made, to record it on the run
        return (
            self.env["survey.user_input"]
            .sudo()
            .search([("survey_id", "=", survey.id)], order="id desc", limit=1)
        )
