from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.params import SETTINGS, param_key, setting, setting_default

# The whole-number settings of the screen: field → setting (tools/params.py, which holds
# their defaults and smallest meaningful values).
INT_FIELDS = {
    "pulse_rfm_window_days": "rfm_window_days",
    "pulse_lapsed_days": "lapsed_days",
    "pulse_cap_touches": "cap_touches",
    "pulse_cap_days": "cap_days",
    "pulse_external_max_attempts": "external_max_attempts",
    "pulse_followup_grace_days": "followup_grace_days",
}


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    pulse_rfm_window_days = fields.Integer(
        string="RFM window (days)",
        config_parameter=param_key("rfm_window_days"),
        default=setting_default("rfm_window_days"),
        help="Orders and invoices of this many past days count toward the frequency and "
        "monetary scores of the RFM segmentation.",
    )
    pulse_lapsed_days = fields.Integer(
        string="Lapsed after (days)",
        config_parameter=param_key("lapsed_days"),
        default=setting_default("lapsed_days"),
        help="A customer whose last confirmed order is older than this is considered lapsed "
        "(search filter 'No purchase for over a year', win-back rules).",
    )
    pulse_cap_touches = fields.Integer(
        string="Touches at most",
        config_parameter=param_key("cap_touches"),
        default=setting_default("cap_touches"),
        help="Frequency cap across all rules: a customer gets at most this many emails, "
        "texts and survey invitations per period (0: no cap).",
    )
    pulse_cap_days = fields.Integer(
        string="Per (days)",
        config_parameter=param_key("cap_days"),
        default=setting_default("cap_days"),
    )
    pulse_sms_gateway = fields.Selection(
        [("odoo", "Odoo SMS (IAP)"), ("http", "My HTTP gateway")],
        string="Texts sent through",
        config_parameter=param_key("sms_gateway"),
        default=setting_default("sms_gateway"),
    )
    pulse_sms_gateway_url = fields.Char(
        string="Gateway URL", config_parameter=param_key("sms_gateway_url")
    )
    pulse_sms_gateway_token = fields.Char(
        string="Gateway token",
        config_parameter=param_key("sms_gateway_token"),
        help="Sent as 'Authorization: Bearer <token>'. Stored in a system parameter: only "
        "administrators read it.",
    )
    pulse_external_max_attempts = fields.Integer(
        string="External calls at most",
        config_parameter=param_key("external_max_attempts"),
        default=setting_default("external_max_attempts"),
        help="A webhook or SMS gateway call that fails for a passing reason (unreachable, "
        "timeout, 429, 5xx) is made again later, with the same Idempotency-Key, at most this "
        "many times in all; then the step fails.",
    )
    # To collect and payment notices: per company
    pulse_collection_user_id = fields.Many2one(
        related="company_id.pulse_collection_user_id", readonly=False
    )
    pulse_collection_activity = fields.Boolean(
        related="company_id.pulse_collection_activity", readonly=False
    )
    pulse_payment_notice_channel = fields.Selection(
        related="company_id.pulse_payment_notice_channel", readonly=False
    )

    # Payment follow-up
    pulse_hold_level_id = fields.Many2one(related="company_id.pulse_hold_level_id", readonly=False)
    pulse_followup_grace_days = fields.Integer(
        string="Grace after a promise (days)",
        config_parameter=param_key("followup_grace_days"),
        default=setting_default("followup_grace_days"),
        help="Reminders wait this many days after the date a customer promised to pay; the "
        "promise is then found kept or broken.",
    )

    @api.constrains(*INT_FIELDS)
    def _check_pulse_numbers(self):
        for settings in self:
            for name, setting_name in INT_FIELDS.items():
                minimum = SETTINGS[setting_name].minimum
                value = settings[name]
                if value >= minimum:
                    continue
                label = self._fields[name]._description_string(self.env)
                if minimum == 0:
                    raise ValidationError(
                        self.env._(
                            "%(setting)s cannot be negative (%(value)s): enter 0 for no cap.",
                            setting=label,
                            value=value,
                        )
                    )
                raise ValidationError(
                    self.env._(
                        "%(setting)s must be at least %(minimum)s, not %(value)s.",
                        setting=label,
                        minimum=minimum,
                        value=value,
                    )
                )

    def get_values(self):
        res = super().get_values()
        # a bad value typed in the system parameters shows as the default (a warning is
        # logged), instead of 0, which could not be saved
        for name, setting_name in INT_FIELDS.items():
            res[name] = setting(self.env, setting_name)
        return res

    def set_values(self):
        super().set_values()
        # Odoo stores nothing for a number left at 0, which then reads as the default: a
        # frequency cap of 0 (no cap) is stored as such
        if self.pulse_cap_touches == 0:
            # sudo: system parameters are administrators' records; this is the settings screen
            self.env["ir.config_parameter"].sudo().set_param(param_key("cap_touches"), "0")
