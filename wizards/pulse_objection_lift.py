from odoo import fields, models


class PulseObjectionLift(models.TransientModel):
    """A manager lifts a customer's objection to profiling, with the reason (kept in the
    customer's chatter). Nothing else lifts it: neither a survey answer nor the form."""

    _name = "pulse.objection.lift"
    _description = "Lift an objection to profiling"

    partner_id = fields.Many2one("res.partner", "Customer", required=True, ondelete="cascade")
    reason = fields.Text(
        required=True, help="Why profiling may resume (e.g. the customer's written request)."
    )
    consent = fields.Boolean(
        "The customer consents to profiling", help="Recorded on the customer with today's date."
    )

    def action_lift(self):
        self.ensure_one()
        self.partner_id._pulse_lift_objection(self.reason, consent=self.consent)
        return {"type": "ir.actions.act_window_close"}
