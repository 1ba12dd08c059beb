from odoo import fields, models


class AccountMove(models.Model):
    _inherit = "account.move"

    # The customer's facts (current company), for the pulse strip on the invoice form.
    pulse_rfm_segment = fields.Selection(
        related="partner_id.pulse_rfm_segment", string="Customer RFM segment"
    )
    pulse_days_since_last_order = fields.Integer(
        related="partner_id.pulse_days_since_last_order", string="Days since customer's last order"
    )
    pulse_currency_id = fields.Many2one(related="partner_id.pulse_currency_id")
    pulse_amount_overdue = fields.Monetary(
        related="partner_id.pulse_amount_overdue",
        string="Customer overdue",
        currency_field="pulse_currency_id",
        groups="account.group_account_invoice",
    )
    pulse_oldest_overdue_date = fields.Date(
        related="partner_id.pulse_oldest_overdue_date",
        string="Customer's oldest overdue due date",
        groups="account.group_account_invoice",
    )

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        if any(m.move_type == "out_invoice" for m in posted):
            self.env["pulse.step.run"].sudo()._wake_up_for(("invoice_posted",))
        return posted
