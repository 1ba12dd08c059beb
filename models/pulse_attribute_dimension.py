from odoo import fields, models


class PulseAttributeDimension(models.Model):
    """A layer of customer information (basic, business, strength, news, social, grade, or
    one of the user's own); the profile groups attributes by it."""

    _name = "pulse.attribute.dimension"
    _description = "Customer attribute dimension"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    description = fields.Char(translate=True)
    attribute_ids = fields.One2many("pulse.attribute", "dimension_id", string="Attributes")
