from odoo import api, models

# the written fields that may change a lead's stage or its active flag (Odoo computes the
# stage from the team and type for a lead that has none)
STAGE_FIELDS = frozenset({"stage_id", "active", "team_id", "type"})


class CrmLead(models.Model):
    _inherit = "crm.lead"

    @api.model_create_multi
    def create(self, vals_list):
        leads = super().create(vals_list)
        self.env["pulse.lead.stage.change"]._record(
            [(lead.id, "created", None, lead.stage_id.id or None) for lead in leads]
        )
        return leads

    def write(self, vals):
        if not STAGE_FIELDS.intersection(vals):
            return super().write(vals)
        before = {lead.id: (lead.stage_id.id, lead.active) for lead in self}
        result = super().write(vals)
        self.env["pulse.lead.stage.change"]._record(self._pulse_stage_changes(before))
        return result

    def _pulse_stage_changes(self, before):
        """The changes of the leads since `before` ({lead id: (stage id, active)}), in the
        order the tracking reads them: a loss or restoration first (in the stage the lead
        had), then the move."""
        changes = []
        for lead in self:
            stage_id, active = before[lead.id]
            if lead.active != active:
                if active:
                    changes.append((lead.id, "lost", stage_id or None, None))
                else:
                    changes.append((lead.id, "restored", None, stage_id or None))
            if lead.stage_id.id != stage_id:
                changes.append((lead.id, "moved", stage_id or None, lead.stage_id.id or None))
        return changes
