from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    pulse_rfm_window_days = fields.Integer(
        string="RFM window (days)",
        config_parameter="customer_pulse.rfm_window_days",
        default=365,
        help="Orders and invoices of this many past days count toward the frequency and "
        "monetary scores of the RFM segmentation.",
    )
    pulse_lapsed_days = fields.Integer(
        string="Lapsed after (days)",
        config_parameter="customer_pulse.lapsed_days",
        default=365,
        help="A customer whose last confirmed order is older than this is considered lapsed "
        "(search filter 'No purchase for over a year', win-back rules).",
    )
    pulse_cap_touches = fields.Integer(
        string="Touches at most",
        config_parameter="customer_pulse.cap_touches",
        default=3,
        help="Frequency cap across all rules: a customer gets at most this many emails, "
        "texts and survey invitations per period (0: no cap).",
    )
    pulse_cap_days = fields.Integer(
        string="Per (days)",
        config_parameter="customer_pulse.cap_days",
        default=7,
    )
    pulse_sms_gateway = fields.Selection(
        [("odoo", "Odoo SMS (IAP)"), ("http", "My HTTP gateway")],
        string="Texts sent through",
        config_parameter="customer_pulse.sms_gateway",
        default="odoo",
    )
    pulse_sms_gateway_url = fields.Char(
        string="Gateway URL", config_parameter="customer_pulse.sms_gateway_url"
    )
    pulse_sms_gateway_token = fields.Char(
        string="Gateway token",
        config_parameter="customer_pulse.sms_gateway_token",
        help="Sent as 'Authorization: Bearer <token>'. Stored in a system parameter: only "
        "administrators read it.",
    )
