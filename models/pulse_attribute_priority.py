from odoo import api, fields, models


class PulseAttributePriority(models.Model):
    """One department in an attribute's priority order (policy "department priority"):
    the first department of the order that has assessed the customer decides."""

    _name = "pulse.attribute.priority"
    _description = "Department priority of an attribute"
    _order = "attribute_id, sequence, id"

    attribute_id = fields.Many2one("pulse.attribute", required=True, ondelete="cascade", index=True)
    department_id = fields.Many2one("pulse.department", required=True, ondelete="cascade")
    sequence = fields.Integer(default=10)

    _sql_constraints = [
        (
            "department_uniq",
            "UNIQUE (attribute_id, department_id)",
            "A department appears once in an attribute's priority order.",
        ),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        self.env["pulse.attribute.value"]._recompute_effective(records.attribute_id)
        return records

    def write(self, vals):
        result = super().write(vals)
        self.env["pulse.attribute.value"]._recompute_effective(self.attribute_id)
        return result

    def unlink(self):
        attributes = self.attribute_id
        result = super().unlink()
        self.env["pulse.attribute.value"]._recompute_effective(attributes)
        return result
