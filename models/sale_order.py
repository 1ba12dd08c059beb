from odoo import fields, models


class SaleOrder(models.Model):
    _inherit = "sale.order"

    # The customer's facts (current company), for the pulse strip on the order form.
    pulse_rfm_segment = fields.Selection(
        related="partner_id.pulse_rfm_segment", string="Customer RFM segment"
    )
    pulse_days_since_last_order = fields.Integer(
        related="partner_id.pulse_days_since_last_order", string="Days since customer's last order"
    )
    pulse_next_order_date = fields.Date(
        related="partner_id.pulse_next_order_date", string="Customer's expected next order"
    )
    pulse_currency_id = fields.Many2one(related="partner_id.pulse_currency_id")
    pulse_amount_overdue = fields.Monetary(
        related="partner_id.pulse_amount_overdue",
        string="Customer overdue",
        currency_field="pulse_currency_id",
        groups="account.group_account_invoice",
    )

    def action_confirm(self):
        result = super().action_confirm()
        # rules triggered by a confirmed order (or exiting on purchase) react now
        # sudo: rules are the marketers'; the salesperson's order only wakes the engine
        self.env["pulse.step.run"].sudo()._wake_up_for(("order_confirmed",), always_if_running=True)
        return result

    def _action_confirm(self):
        result = super()._action_confirm()
        # sudo: confirming an order hands it to finance; the salesperson who confirms cannot
        # create finance's items
        self.env["pulse.collection"].sudo()._ensure_for_orders(self)
        return result
