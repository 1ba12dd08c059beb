from odoo import fields, models


class PulseFollowupCall(models.TransientModel):
    """Log a call with the customer from their follow-up: the open call activity of the
    accountant on the customer is marked done with the notes (or a call is recorded as
    done), so that calls count in the activities done per employee."""

    _name = "pulse.followup.call"
    _description = "Log a follow-up call"

    followup_id = fields.Many2one("pulse.followup", "Follow-up", required=True, ondelete="cascade")
    note = fields.Html("What was said", required=True)

    def action_log(self):
        self.ensure_one()
        followup = self.followup_id
        followup._check_accountant()
        partner = followup.partner_id
        call = self.env.ref("mail.mail_activity_data_call")
        Activity = self.env["mail.activity"]
        activity = Activity.search(
            [
                ("res_model", "=", "res.partner"),
                ("res_id", "=", partner.id),
                ("activity_type_id", "=", call.id),
                ("user_id", "=", self.env.uid),
            ],
            order="date_deadline, id",
            limit=1,
        )
        if not activity:
            activity = Activity.create(
                {
                    "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                    "res_id": partner.id,
                    "activity_type_id": call.id,
                    "summary": self.env._(
                        "%(company)s: payment follow-up", company=followup.company_id.name
                    ),
                    "user_id": self.env.uid,
                }
            )
        activity.action_feedback(feedback=self.note)
        # sudo: the last call date is the row's bookkeeping, not a field people edit
        followup.sudo().last_call_date = fields.Date.context_today(self)
        return {"type": "ir.actions.act_window_close"}
