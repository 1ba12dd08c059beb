from odoo import fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    pulse_department_ids = fields.Many2many(
        "pulse.department",
        "pulse_department_res_users_rel",
        "user_id",
        "department_id",
        string="Customer Pulse departments",
        help="The user's assessments are recorded for their first department; attributes "
        "private to a department are visible to its members only.",
    )
