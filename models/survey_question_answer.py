from odoo import api, fields, models
from odoo.exceptions import ValidationError


class SurveyQuestionAnswer(models.Model):
    _inherit = "survey.question.answer"

    pulse_option_id = fields.Many2one(
        "pulse.attribute.option",
        "Attribute option",
        ondelete="set null",
        help="Choosing this answer records this option on the customer's profile.",
    )

    @api.constrains("pulse_option_id")
    def _check_pulse_option(self):
        for answer in self.filtered("pulse_option_id"):
            if answer.pulse_option_id.attribute_id != answer.question_id.pulse_attribute_id:
                raise ValidationError(
                    self.env._(
                        "The answer “%(answer)s” maps to an option of %(attribute)s, not of "
                        "the question's attribute.",
                        answer=answer.value,
                        attribute=answer.pulse_option_id.attribute_id.name,
                    )
                )
