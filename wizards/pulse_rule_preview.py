from markupsafe import Markup, escape

from odoo import api, fields, models
from odoo.tools import SQL

SAMPLE = 50


class PulseRulePreview(models.TransientModel):
    """Who would enter a rule now, and what the first of them would receive."""

    _name = "pulse.rule.preview"
    _description = "Rule preview"

    rule_id = fields.Many2one("pulse.rule", required=True, ondelete="cascade")
    candidate_count = fields.Integer("Would enter now", compute="_compute_preview")
    partner_ids = fields.Many2many(
        "res.partner", string="First customers", compute="_compute_preview"
    )
    sample_partner_id = fields.Many2one(
        "res.partner", string="Sample customer", compute="_compute_preview"
    )
    sample_html = fields.Html("What they receive", compute="_compute_preview", sanitize=False)
    errors = fields.Text("Configuration", compute="_compute_preview")

    @api.depends("rule_id")
    def _compute_preview(self):
        for preview in self:
            rule = preview.rule_id
            cr = self.env.cr
            self.env.flush_all()
            cr.execute(SQL("SELECT COUNT(*) FROM (%s) x", rule._eligible_sql()))
            preview.candidate_count = cr.fetchone()[0]
            cr.execute(
                SQL(
                    "SELECT partner_id FROM (%s) x ORDER BY partner_id LIMIT %s",
                    rule._eligible_sql(),
                    SAMPLE,
                )
            )
            partners = self.env["res.partner"].browse([r[0] for r in cr.fetchall()])
            preview.partner_ids = partners
            preview.sample_partner_id = partners[:1]
            preview.sample_html = preview._render_sample(partners[:1])
            preview.errors = "\n".join(rule._configuration_errors()) or False

    def _render_sample(self, partner):
        parts = []
        for step in self.rule_id.step_ids:
            parts.append(
                Markup("<h5>%s <small class='text-muted'>— %s</small></h5>")
                % (step.name, step.summary)
            )
            sample = step._action_model()._preview(step, partner)
            if sample:
                parts.append(sample)
        return Markup("").join(escape(p) for p in parts)
