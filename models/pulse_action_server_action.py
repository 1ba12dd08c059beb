from odoo import api, models
from odoo.exceptions import UserError


class PulseActionServerAction(models.AbstractModel):
    """Run the step's server action on the customer, with the rights of the rule's
    responsible (never as superuser). Only actions on contacts that the step's author and
    the responsible may run: a rule cannot lend anyone rights."""

    _name = "pulse.action.server_action"
    _inherit = "pulse.action"
    _description = "Rule action: server action"

    @api.model
    def _check(self, step):
        if not step.server_action_id:
            return [self.env._("choose a server action")]
        refusal = self._refusal(step, step.rule_id.user_id)
        return [refusal] if refusal else []

    @api.model
    def _refusal(self, step, user):
        """Why `user` may not run the server action of `step` (None: they may). The same
        checks as Odoo's own run(): the action's groups, or else write access to contacts."""
        step.ensure_one()
        if not user:
            return self.env._("the rule has no responsible to run the server action as")
        # sudo: server actions are readable by administrators only: read just what is checked
        action = step.server_action_id.sudo()
        if action.model_id.model != "res.partner":
            return self.env._(
                "the server action %(action)s is not an action on contacts", action=action.name
            )
        if action.groups_id:
            if not action.groups_id & user.groups_id:
                return self.env._(
                    "%(user)s may not run the server action %(action)s (allowed to: %(groups)s)",
                    user=user.name,
                    action=action.name,
                    groups=", ".join(action.groups_id.mapped("full_name")),
                )
        elif not self.env["res.partner"].with_user(user).has_access("write"):
            return self.env._(
                "%(user)s may not run the server action %(action)s (no right to edit contacts)",
                user=user.name,
                action=action.name,
            )
        return None

    @api.model
    def _act(self, run):
        """Checked again first: the action's groups may have changed since the step was
        saved."""
        rule, step = run.rule_id, run.step_id
        refusal = self._refusal(step, rule.user_id)
        if refusal:
            raise UserError(refusal)
        step.server_action_id.with_user(rule.user_id).with_company(rule.company_id).with_context(
            active_model="res.partner", active_id=run.partner_id.id, active_ids=run.partner_id.ids
        ).run()
