from odoo import fields, models
from odoo.tools import SQL


class PulseAttributeConflict(models.Model):
    """A customer whose departments currently disagree on an attribute, and no manager has
    decided since the latest assessment (SQL view over the current values)."""

    _name = "pulse.attribute.conflict"
    _inherit = "pulse.report.view"
    _description = "Conflicting customer assessments"
    _auto = False
    _order = "last_date desc, id"
    _rec_name = "partner_id"

    partner_id = fields.Many2one("res.partner", "Customer", readonly=True)
    attribute_id = fields.Many2one("pulse.attribute", readonly=True)
    dimension_id = fields.Many2one("pulse.attribute.dimension", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    private_department_id = fields.Many2one("pulse.department", "Private to", readonly=True)
    department_count = fields.Integer("Departments", readonly=True)
    value_count = fields.Integer("Different values", readonly=True)
    last_date = fields.Datetime("Latest assessment", readonly=True)
    effective_display = fields.Char("Effective value", readonly=True)
    summary = fields.Char("Assessments", readonly=True)
    current_value_ids = fields.Many2many(
        "pulse.attribute.value",
        compute="_compute_current_value_ids",
        string="Current assessments",
    )

    def _select(self):
        return SQL(
            """
            SELECT MIN(v.id) AS id, v.partner_id, v.attribute_id, v.company_id,
                   MIN(v.dimension_id) AS dimension_id,
                   MIN(v.private_department_id) AS private_department_id,
                   COUNT(DISTINCT v.department_id) AS department_count,
                   COUNT(DISTINCT v.value_key) AS value_count,
                   MAX(v.date) AS last_date,
                   (SELECT e.value_display FROM pulse_attribute_value e
                     WHERE e.partner_id = v.partner_id
                       AND e.attribute_id = v.attribute_id
                       AND e.company_id = v.company_id AND e.is_effective
                     LIMIT 1) AS effective_display,
                   STRING_AGG(COALESCE(d.name->>'en_US', '') || ': '
                              || COALESCE(v.value_display, '') || ' ('
                              || COALESCE(up.name || ', ', '')
                              || TO_CHAR(v.date, 'YYYY-MM-DD') || ')', ' · '
                              ORDER BY d.sequence, d.id) AS summary
            """
        )

    def _from(self):
        return SQL(
            """
              FROM pulse_attribute_value v
              JOIN pulse_department d ON d.id = v.department_id
              LEFT JOIN res_users u ON u.id = v.user_id
              LEFT JOIN res_partner up ON up.id = u.partner_id
            """
        )

    def _where(self):
        return SQL("WHERE v.is_current")

    def _group_by(self):
        return SQL("GROUP BY v.partner_id, v.attribute_id, v.company_id")

    def _having(self):
        # departments disagree, and no manager's decision is in effect
        return SQL(
            """
            HAVING COUNT(DISTINCT v.value_key) > 1
               AND NOT EXISTS (
                   SELECT 1 FROM pulse_attribute_value r
                    WHERE r.partner_id = v.partner_id
                      AND r.attribute_id = v.attribute_id
                      AND r.company_id = v.company_id
                      AND r.is_resolution AND r.is_effective)
            """
        )

    def _compute_current_value_ids(self):
        Value = self.env["pulse.attribute.value"]
        for conflict in self:
            conflict.current_value_ids = Value.search(
                [
                    ("partner_id", "=", conflict.partner_id.id),
                    ("attribute_id", "=", conflict.attribute_id.id),
                    ("company_id", "=", conflict.company_id.id),
                    ("is_current", "=", True),
                    ("department_id", "!=", False),
                ],
                order="date desc",
            )

    def action_resolve(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Resolve the conflict"),
            "res_model": "pulse.conflict.resolve",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_partner_id": self.partner_id.id,
                "default_attribute_id": self.attribute_id.id,
                "default_company_id": self.company_id.id,
            },
        }
