from odoo import api, fields, models

# survey question type -> type of the attribute the wizard creates for it
NEW_ATTRIBUTE_TYPE = {
    "simple_choice": "selection",
    "multiple_choice": "multi",
    "char_box": "text",
    "text_box": "text",
    "numerical_box": "number",
    "scale": "number",
    "date": "date",
    "datetime": "date",
}


class PulseSurveyMapping(models.TransientModel):
    """Map a survey's questions to customer attributes in one screen: pick an attribute or
    let the wizard create one from the question (with its answers as options); answers are
    matched to options by their text, missing options are created."""

    _name = "pulse.survey.mapping"
    _description = "Map a survey to customer attributes"

    survey_id = fields.Many2one("survey.survey", required=True, ondelete="cascade")
    line_ids = fields.One2many("pulse.survey.mapping.line", "wizard_id", string="Questions")
    personal_data = fields.Boolean(
        "The survey collects personal data", help="Recorded for consenting customers only."
    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if "line_ids" not in vals and vals.get("survey_id"):
                survey = self.env["survey.survey"].browse(vals["survey_id"])
                vals["personal_data"] = survey.pulse_personal_data
                vals["line_ids"] = [
                    fields.Command.create(
                        {
                            "question_id": question.id,
                            "attribute_id": question.pulse_attribute_id.id,
                        }
                    )
                    for question in survey.question_ids
                    if question.question_type in NEW_ATTRIBUTE_TYPE
                ]
        return super().create(vals_list)

    def action_apply(self):
        self.ensure_one()
        self.survey_id.pulse_personal_data = self.personal_data
        for line in self.line_ids:
            line._apply()
        return {"type": "ir.actions.act_window_close"}


class PulseSurveyMappingLine(models.TransientModel):
    _name = "pulse.survey.mapping.line"
    _description = "Question to attribute"

    wizard_id = fields.Many2one("pulse.survey.mapping", required=True, ondelete="cascade")
    question_id = fields.Many2one("survey.question", required=True, ondelete="cascade")
    question_type = fields.Selection(related="question_id.question_type")
    answers = fields.Char(compute="_compute_answers", string="Answers offered")
    attribute_id = fields.Many2one("pulse.attribute", domain=[("derived", "=", False)])
    create_attribute = fields.Boolean(
        "Create one", help="Create an attribute from the question (answers become options)."
    )
    dimension_id = fields.Many2one(
        "pulse.attribute.dimension",
        default=lambda self: self.env.ref(
            "customer_pulse.dimension_business", raise_if_not_found=False
        ),
    )

    @api.depends("question_id")
    def _compute_answers(self):
        for line in self:
            line.answers = ", ".join(line.question_id.suggested_answer_ids.mapped("value"))

    @api.onchange("create_attribute")
    def _onchange_create_attribute(self):
        if self.create_attribute:
            self.attribute_id = False

    def _apply(self):
        question = self.question_id
        attribute = self.attribute_id
        if self.create_attribute and not attribute:
            attribute = self.env["pulse.attribute"].create(
                {
                    "name": question.title,
                    "key": self._unique_key(question.title),
                    "dimension_id": self.dimension_id.id
                    or self.env.ref("customer_pulse.dimension_business").id,
                    "value_type": NEW_ATTRIBUTE_TYPE[question.question_type],
                }
            )
        question.pulse_attribute_id = attribute
        if attribute and attribute.value_type in ("selection", "multi"):
            Option = self.env["pulse.attribute.option"]
            for answer in question.suggested_answer_ids:
                if answer.pulse_option_id.attribute_id == attribute:
                    continue
                try:
                    option = attribute._find_option(answer.value)
                except ValueError:
                    option = Option.create(
                        {
                            "attribute_id": attribute.id,
                            "name": answer.value,
                            "sequence": answer.sequence,
                        }
                    )
                    attribute.invalidate_recordset(["option_ids"])
                answer.pulse_option_id = option
        elif not attribute:
            question.suggested_answer_ids.pulse_option_id = False

    def _unique_key(self, title):
        Attribute = self.env["pulse.attribute"].with_context(active_test=False)
        base = key = Attribute._slug(title)
        n = 1
        while Attribute.search_count([("key", "=", key)], limit=1):
            n += 1
            key = f"{base}_{n}"
        return key
