from odoo import fields, models


class PulseStripMixin(models.AbstractModel):
    """The customer's facts (current company) shown in the pulse strip of a document: the
    sales order and the customer invoice forms."""

    _name = "pulse.strip.mixin"
    _description = "Customer pulse strip"

    # the document's customer (declared by the documents themselves)
    partner_id = fields.Many2one("res.partner")
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
    pulse_oldest_overdue_date = fields.Date(
        related="partner_id.pulse_oldest_overdue_date",
        string="Customer's oldest overdue due date",
        groups="account.group_account_invoice",
    )
