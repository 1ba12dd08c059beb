from odoo import Command, api, models


class PulseActionTag(models.AbstractModel):
    """Add the step's tags to the customer (action 'tag_add') or remove them
    ('tag_remove')."""

    _name = "pulse.action.tag"
    _inherit = "pulse.action"
    _description = "Rule action: tags"

    @api.model
    def _check(self, step):
        if not step.tag_ids:
            return [self.env._("choose tags")]
        return []

    @api.model
    def _commands(self, step):
        command = Command.link if step.action == "tag_add" else Command.unlink
        return [command(tag.id) for tag in step.tag_ids]

    @api.model
    def _act(self, run):
        # sudo: the engine tags or untags the customer for the company
        run.partner_id.sudo().category_id = self._commands(run.step_id)

    @api.model
    def _act_batch(self, runs):
        """All the customers in one write."""
        # sudo: the engine tags or untags the customers for the company
        runs.partner_id.sudo().write({"category_id": self._commands(runs[0].step_id)})
        return {}
