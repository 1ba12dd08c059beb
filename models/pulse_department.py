from odoo import fields, models


class PulseDepartment(models.Model):
    """A team that assesses customers (marketing, sales, after-sales, finance…): its members'
    assessments are kept apart from other departments', and the attributes private to it are
    visible to its members only."""

    _name = "pulse.department"
    _description = "Customer Pulse department"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    code = fields.Char(required=True, help="Technical name, used in imports and exports.")
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    color = fields.Integer()
    user_ids = fields.Many2many(
        "res.users",
        "pulse_department_res_users_rel",
        "department_id",
        "user_id",
        string="Members",
        domain=[("share", "=", False)],
    )

    _sql_constraints = [
        ("code_uniq", "UNIQUE (code)", "Another department already has this code."),
    ]
