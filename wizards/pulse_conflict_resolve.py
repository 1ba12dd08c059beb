from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.pulse_attribute_value import TYPED_FIELDS


class PulseConflictResolve(models.TransientModel):
    """A manager settles what departments disagree on: the chosen assessment becomes the
    effective value, with the reason, recorded as a decision in the history."""

    _name = "pulse.conflict.resolve"
    _description = "Resolve conflicting assessments"

    partner_id = fields.Many2one("res.partner", "Customer", required=True)
    attribute_id = fields.Many2one("pulse.attribute", required=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    value_id = fields.Many2one(
        "pulse.attribute.value",
        "Keep this assessment",
        required=True,
        domain="[('partner_id', '=', partner_id), ('attribute_id', '=', attribute_id),"
        " ('company_id', '=', company_id), ('is_current', '=', True)]",
    )
    reason = fields.Text(required=True)
    summary = fields.Char(compute="_compute_summary", string="Assessments")

    @api.depends("partner_id", "attribute_id", "company_id")
    def _compute_summary(self):
        for wizard in self:
            conflict = self.env["pulse.attribute.conflict"].search(
                [
                    ("partner_id", "=", wizard.partner_id.id),
                    ("attribute_id", "=", wizard.attribute_id.id),
                    ("company_id", "=", wizard.company_id.id),
                ],
                limit=1,
            )
            wizard.summary = conflict.summary

    def action_resolve(self):
        self.ensure_one()
        if not self.env.user.has_group("customer_pulse.group_pulse_manager"):
            raise UserError(self.env._("Only a Customer Pulse manager resolves conflicts."))
        chosen = self.value_id
        if chosen.partner_id != self.partner_id.commercial_partner_id or (
            chosen.attribute_id != self.attribute_id
        ):
            raise UserError(self.env._("Choose one of this customer's assessments."))
        vals = {
            "partner_id": chosen.partner_id.id,
            "company_id": chosen.company_id.id,
            "attribute_id": chosen.attribute_id.id,
            "source": "manual",
            "department_id": False,
            "user_id": self.env.uid,
            "is_resolution": True,
            "note": self.reason,
            # a value recorded while private stays private, in the decision that copies it
            "private_department_id": chosen.private_department_id.id,
        }
        for name in TYPED_FIELDS:
            if name == "option_ids":
                vals[name] = [fields.Command.set(chosen.option_ids.ids)]
            elif name == "option_id":
                vals[name] = chosen.option_id.id
            else:
                vals[name] = chosen[name]
        # sudo: a decision is a manager's value (checked above), which write() and create()
        # refuse from everyone else
        decision = self.env["pulse.attribute.value"].sudo().create(vals)
        if decision.private_department_id or chosen.private_department_id:
            # the chatter is read by everyone who sees the customer: a private value and
            # the reason given for it stay out of it
            body = self.env._(
                "%(attribute)s (private to %(department)s) decided by %(user)s.",
                attribute=chosen.attribute_id.name,
                department=(decision.private_department_id or chosen.private_department_id).name,
                user=self.env.user.name,
            )
        else:
            body = self.env._(
                "%(attribute)s set to %(value)s by %(user)s: %(reason)s",
                attribute=chosen.attribute_id.name,
                value=decision.value_display,
                user=self.env.user.name,
                reason=self.reason,
            )
        message = self.partner_id.message_post(body=body)
        # the note is emptied with the profile when the customer asks for erasure
        decision.resolution_message_id = message
        return {"type": "ir.actions.act_window_close"}
