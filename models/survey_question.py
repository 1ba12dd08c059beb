from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .pulse_attribute import QUESTION_TYPES


class SurveyQuestion(models.Model):
    _inherit = "survey.question"

    pulse_attribute_id = fields.Many2one(
        "pulse.attribute",
        "Customer attribute",
        ondelete="set null",
        help="The answers to this question become this attribute's value on the customer's "
        "profile.",
    )
    pulse_value_type = fields.Selection(related="pulse_attribute_id.value_type")

    @api.constrains("pulse_attribute_id", "question_type")
    def _check_pulse_attribute(self):
        for question in self.filtered("pulse_attribute_id"):
            attribute = question.pulse_attribute_id
            if attribute.value_type not in QUESTION_TYPES.get(question.question_type, set()):
                types = dict(attribute._fields["value_type"]._description_selection(self.env))
                qtypes = dict(question._fields["question_type"]._description_selection(self.env))
                raise ValidationError(
                    self.env._(
                        "“%(question)s” (%(qtype)s) cannot fill %(attribute)s, a %(type)s "
                        "attribute.",
                        question=question.title,
                        qtype=qtypes.get(question.question_type, question.question_type),
                        attribute=attribute.name,
                        type=types.get(attribute.value_type, attribute.value_type),
                    )
                )
            if attribute.derived:
                raise ValidationError(
                    self.env._(
                        "%(attribute)s is maintained from purchases: no survey fills it.",
                        attribute=attribute.name,
                    )
                )
        self.suggested_answer_ids._check_pulse_option()
