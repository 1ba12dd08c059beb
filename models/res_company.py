from odoo import api, fields, models
from odoo.exceptions import ValidationError


class ResCompany(models.Model):
    _inherit = "res.company"

    # To collect (sales -> finance)
    pulse_collection_user_id = fields.Many2one(
        "res.users",
        string="Responsible accountant",
        help="Set as responsible on every new 'to collect' item of this company's confirmed "
        "orders.",
    )
    pulse_collection_activity = fields.Boolean(
        string="Activity per new item",
        help="Schedule a to-do for the responsible accountant on each new 'to collect' item.",
    )
    # Money in (finance -> sales)
    pulse_payment_notice_channel = fields.Selection(
        [
            ("inbox", "Inbox notification"),
            ("email", "Email"),
            ("activity", "Activity"),
            ("none", "Nobody (note on the order only)"),
        ],
        string="Tell the salesperson by",
        default="inbox",
        required=True,
        help="How the salesperson learns that a customer payment was matched with an invoice "
        "of theirs. A note is always written on the order; the customer is never told.",
    )
    # Payment follow-up: marketing hold
    pulse_hold_level_id = fields.Many2one(
        "pulse.followup.level",
        string="Hold marketing from level",
        domain="[('company_id', '=', id)]",
        ondelete="set null",
        help="Customers who reached this follow-up level (or a later one) get no marketing "
        "step of a rule and leave the segments' mailing lists until they pay.",
    )

    @api.constrains("pulse_collection_user_id")
    def _check_pulse_collection_user(self):
        for company in self:
            user = company.pulse_collection_user_id
            if not user:
                continue
            if company not in user.company_ids:
                raise ValidationError(
                    self.env._(
                        "%(user)s cannot be the responsible accountant of %(company)s: they "
                        "have no access to that company.",
                        user=user.name,
                        company=company.name,
                    )
                )
            if not user.has_group("customer_pulse.group_pulse_accountant"):
                raise ValidationError(
                    self.env._(
                        "%(user)s cannot be the responsible accountant of %(company)s: they "
                        "are not a Customer Pulse accountant.",
                        user=user.name,
                        company=company.name,
                    )
                )
