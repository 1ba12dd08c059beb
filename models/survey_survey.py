from odoo import api, fields, models


class SurveySurvey(models.Model):
    _inherit = "survey.survey"

    pulse_personal_data = fields.Boolean(
        "Collects personal data",
        help="Its answers are recorded on the profile of customers who consented to "
        "profiling only; customers who did not are not invited by rules.",
    )
    pulse_mapped_count = fields.Integer("Mapped questions", compute="_compute_pulse_mapped_count")
    pulse_question_ids = fields.Many2many(
        "survey.question",
        compute="_compute_pulse_mapped_count",
        string="Questions and the attributes they fill",
    )

    @api.depends("question_and_page_ids.pulse_attribute_id")
    def _compute_pulse_mapped_count(self):
        for survey in self:
            survey.pulse_question_ids = survey.question_ids
            survey.pulse_mapped_count = len(survey.question_ids.filtered("pulse_attribute_id"))

    def action_pulse_map(self):
        self.ensure_one()
        wizard = self.env["pulse.survey.mapping"].create({"survey_id": self.id})
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Map to customer attributes"),
            "res_model": "pulse.survey.mapping",
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
        }

    def action_pulse_unmatched(self):
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "customer_pulse.action_pulse_unmatched_answers"
        )
        action["domain"] = [
            ("survey_id", "in", self.ids),
            ("pulse_profile_state", "=", "unmatched"),
        ]
        return action
