import base64

from odoo import api, fields, models


class PulseProfileExport(models.TransientModel):
    """Right of access: the JSON file of everything Customer Pulse holds about a customer,
    for the manager who asked only (a record rule keeps it to its creator; it goes with the
    transient records, and with the profile when the customer asks for erasure)."""

    _name = "pulse.profile.export"
    _description = "Customer profile export"

    partner_id = fields.Many2one("res.partner", "Customer", required=True, ondelete="cascade")
    file_name = fields.Char(required=True)
    data = fields.Binary("File", attachment=True, readonly=True)

    @api.model
    def _create_for(self, partner, text):
        return self.create(
            {
                "partner_id": partner.id,
                "file_name": f"profile-{partner.id}.json",
                "data": base64.b64encode(text.encode()),
            }
        )

    def _download_action(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{self._name}/{self.id}/data/{self.file_name}?download=true",
            "target": "self",
        }
