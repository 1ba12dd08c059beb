from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

DUE_IN_DAYS = 3  # the activities' due date, by default


class PulseSegmentActivity(models.TransientModel):
    """Schedule one activity per member of a segment, assigned to the member's salesperson
    (or to a chosen user for members without one)."""

    _name = "pulse.segment.activity"
    _description = "Activity for a segment's members"

    segment_id = fields.Many2one("pulse.segment", required=True, ondelete="cascade")
    member_count = fields.Integer(related="segment_id.member_count")
    activity_type_id = fields.Many2one(
        "mail.activity.type",
        string="Activity",
        required=True,
        domain="[('res_model', 'in', (False, 'res.partner'))]",
        default=lambda self: self.env.ref("mail.mail_activity_data_call", raise_if_not_found=False),
    )
    summary = fields.Char()
    note = fields.Html()
    date_deadline = fields.Date(
        "Due date",
        required=True,
        default=lambda self: fields.Date.today() + relativedelta(days=DUE_IN_DAYS),
    )
    fallback_user_id = fields.Many2one(
        "res.users",
        string="Members without a salesperson",
        default=lambda self: self.env.user,
        domain="[('share', '=', False)]",
        help="Who gets the activity of a member who has no salesperson.",
    )
    skip_existing = fields.Boolean(
        "Skip members with this activity open",
        default=True,
        help="Do not add a second activity of this type to a customer who already has one.",
    )

    @api.onchange("activity_type_id")
    def _onchange_activity_type_id(self):
        if self.activity_type_id and not self.summary:
            self.summary = self.activity_type_id.summary or self.activity_type_id.name

    def action_apply(self):
        self.ensure_one()
        partners = self.env["res.partner"].search(self.segment_id._members_domain())
        if not partners:
            raise UserError(
                self.env._("%(name)s has no members.", name=self.segment_id.display_name)
            )
        if self.skip_existing:
            busy = set(
                self.env["mail.activity"]
                .search(
                    [
                        ("res_model", "=", "res.partner"),
                        ("res_id", "in", partners.ids),
                        ("activity_type_id", "=", self.activity_type_id.id),
                    ]
                )
                .mapped("res_id")
            )
            partners = partners.filtered(lambda p: p.id not in busy)
        model_id = self.env["ir.model"]._get_id("res.partner")
        assignee = {
            partner: self.env["pulse.action.activity"]._assignee(
                partner, "salesperson", (self.fallback_user_id,)
            )
            for partner in partners
        }
        missing = [partner for partner, user in assignee.items() if not user]
        if missing:
            raise UserError(
                self.env._(
                    "%(count)s members have no salesperson: choose who gets their activity.",
                    count=len(missing),
                )
            )
        activities = self.env["mail.activity"].create(
            [
                {
                    "res_model_id": model_id,
                    "res_id": partner.id,
                    "activity_type_id": self.activity_type_id.id,
                    "summary": self.summary,
                    "note": self.note,
                    "date_deadline": self.date_deadline,
                    "user_id": assignee[partner].id,
                }
                for partner in partners
            ]
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Activities scheduled"),
                "message": self.env._(
                    "%(count)s activities scheduled for %(users)s people.",
                    count=len(activities),
                    users=len(activities.user_id),
                ),
                "type": "success",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
