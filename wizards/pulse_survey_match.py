from odoo import fields, models


class PulseSurveyMatch(models.TransientModel):
    """A person confirms which customer answered a survey that waits for one (a customer
    found by a typed email is only a suggestion): the answers are then recorded on that
    customer's profile."""

    _name = "pulse.survey.match"
    _description = "Confirm the customer of a survey answer"

    user_input_id = fields.Many2one(
        "survey.user_input", "Survey answer", required=True, ondelete="cascade"
    )
    email = fields.Char(related="user_input_id.email", string="Email typed")
    note = fields.Char(related="user_input_id.pulse_profile_note", string="Why it waits")
    partner_id = fields.Many2one("res.partner", "Customer", required=True)

    def action_confirm(self):
        self.ensure_one()
        self.user_input_id._pulse_confirm_match(self.partner_id)
        return {"type": "ir.actions.act_window_close"}
