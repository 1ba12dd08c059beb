from odoo import api, fields, models


class PulseAttributeOption(models.Model):
    """A possible value of a selection attribute. Archive an option that is no longer
    offered: the values recorded with it keep their text."""

    _name = "pulse.attribute.option"
    _description = "Customer attribute option"
    _order = "attribute_id, sequence, id"

    attribute_id = fields.Many2one("pulse.attribute", required=True, ondelete="cascade", index=True)
    name = fields.Char(required=True, translate=True)
    key = fields.Char(help="Stable technical value (imports, rule conditions).")
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    color = fields.Integer()

    _sql_constraints = [
        ("key_uniq", "UNIQUE (attribute_id, key)", "Two options of an attribute share a key."),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get("key") and vals.get("name"):
                vals["key"] = self.env["pulse.attribute"]._slug(vals["name"])
        return super().create(vals_list)
