from odoo import api, fields, models
from odoo.exceptions import UserError


class PulseFollowupDispute(models.TransientModel):
    """Mark invoices disputed, with what the customer disputes and until when: they leave
    the reminders, their totals and attachments, and the salesperson gets an activity to
    settle it."""

    _name = "pulse.followup.dispute"
    _description = "Dispute invoices"

    followup_id = fields.Many2one("pulse.followup", "Follow-up", ondelete="cascade")
    partner_id = fields.Many2one("res.partner", compute="_compute_partner_id")
    invoice_ids = fields.Many2many(
        "account.move",
        string="Invoices",
        required=True,
        domain="[('commercial_partner_id', '=', partner_id), ('move_type', '=', 'out_invoice'),"
        " ('state', '=', 'posted'), ('amount_residual', '>', 0), ('pulse_disputed', '=', False)]",
    )
    reason = fields.Char("What is disputed", required=True)
    until = fields.Date(
        "Disputed until",
        help="The invoices come back into the reminders the day after, unless the dispute is "
        "settled before (Undispute).",
    )

    @api.depends("followup_id", "invoice_ids")
    def _compute_partner_id(self):
        for wizard in self:
            wizard.partner_id = (
                wizard.followup_id.partner_id or wizard.invoice_ids.commercial_partner_id[:1]
            )

    def action_dispute(self):
        self.ensure_one()
        if not self.invoice_ids:
            raise UserError(self.env._("Choose the disputed invoices."))
        if self.followup_id and (
            self.invoice_ids.commercial_partner_id != self.followup_id.partner_id
            or self.invoice_ids.company_id != self.followup_id.company_id
        ):
            raise UserError(
                self.env._("Only invoices of this customer and company are disputed here.")
            )
        self.invoice_ids._pulse_dispute(self.reason, self.until)
        return {"type": "ir.actions.act_window_close"}
