from datetime import timedelta

from odoo import fields, models
from odoo.exceptions import UserError

# days the salesperson is given to settle a dispute with no end date
DISPUTE_ACTIVITY_DAYS = 7


class AccountMove(models.Model):
    # the pulse strip on the customer invoice form
    _name = "account.move"
    _inherit = ["account.move", "pulse.strip.mixin"]
    # Follow-ups: a disputed invoice is out of the reminders, their totals and attachments
    pulse_disputed = fields.Boolean("Disputed", readonly=True, copy=False, tracking=True)
    pulse_dispute_reason = fields.Char("Dispute", readonly=True, copy=False, tracking=True)
    pulse_dispute_until = fields.Date(
        "Disputed until",
        readonly=True,
        copy=False,
        tracking=True,
        # the follow-up refresh of each queue batch looks for the lapsed disputes: read
        # through this index, not by scanning every invoice
        index="btree_not_null",
        help="The reminders take the invoice back the day after, if the dispute is not "
        "settled before.",
    )
    pulse_dispute_activity_id = fields.Many2one(
        "mail.activity", readonly=True, copy=False, ondelete="set null"
    )

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        if any(m.move_type == "out_invoice" for m in posted):
            # sudo: whoever posts an invoice may wake the engine; it only counts running rules
            self.env["pulse.rule.engine"].sudo()._wake_up_for(("invoice_posted",))
        return posted

    # ------------------------------------------------------------------ disputes
    def action_pulse_dispute(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Dispute invoices"),
            "res_model": "pulse.followup.dispute",
            "view_mode": "form",
            "target": "new",
            "context": {"default_invoice_ids": [fields.Command.set(self.ids)]},
        }

    def _pulse_dispute(self, reason, until=False):
        """Mark these open customer invoices disputed (tracked in their chatter), out of the
        follow-up, and give the salesperson an activity to settle it."""
        if not self.env.user.has_group("account.group_account_invoice"):
            raise UserError(self.env._("Only accountants mark invoices disputed."))
        today = fields.Date.context_today(self)
        if not (reason or "").strip():
            raise UserError(self.env._("Say what the customer disputes."))
        if until and fields.Date.to_date(until) < today:
            raise UserError(
                self.env._("The dispute cannot end in the past (%(date)s).", date=until)
            )
        wrong = self.filtered(
            lambda m: m.move_type != "out_invoice" or m.state != "posted" or not m.amount_residual
        )
        if wrong:
            raise UserError(
                self.env._(
                    "Only open posted customer invoices are disputed (not %(documents)s).",
                    documents=", ".join(wrong.mapped("display_name")),
                )
            )
        self.check_access("write")
        todo = self.env.ref("mail.mail_activity_data_todo")
        for move in self:
            # sudo: the dispute fields are set by this action only (read-only on the form)
            move.sudo().write(
                {
                    "pulse_disputed": True,
                    "pulse_dispute_reason": reason,
                    "pulse_dispute_until": until,
                }
            )
            seller = (
                move.invoice_user_id
                or move.partner_id.commercial_partner_id.user_id
                or self.env.user
            )
            if move.pulse_dispute_activity_id:
                continue
            # sudo: the activity is the salesperson's, scheduled by this action after the
            # accountant check above
            activity = move.sudo().activity_schedule(
                activity_type_id=todo.id,
                summary=self.env._("Settle the dispute: %(reason)s", reason=reason),
                note=self.env._(
                    "%(customer)s disputes %(invoice)s: %(reason)s. Reminders leave this "
                    "invoice out until it is settled (Undispute) or until %(until)s.",
                    customer=move.partner_id.commercial_partner_id.name,
                    invoice=move.name,
                    reason=reason,
                    until=until,
                )
                if until
                else self.env._(
                    "%(customer)s disputes %(invoice)s: %(reason)s. Reminders leave this "
                    "invoice out until it is settled (Undispute).",
                    customer=move.partner_id.commercial_partner_id.name,
                    invoice=move.name,
                    reason=reason,
                ),
                date_deadline=until or today + timedelta(days=DISPUTE_ACTIVITY_DAYS),
                user_id=seller.id,
            )
            # sudo: the link to the activity is set by the dispute actions only
            move.sudo().pulse_dispute_activity_id = activity
        self._pulse_refresh_followups()
        return True

    def action_pulse_undispute(self):
        """Take the invoices back into the follow-up (tracked); the salesperson's activity
        is marked done."""
        if not self.env.user.has_group("account.group_account_invoice"):
            raise UserError(self.env._("Only accountants settle disputes."))
        self.check_access("write")
        self.filtered("pulse_disputed")._pulse_undispute(self.env._("Dispute settled."))
        return True

    def _pulse_undispute(self, feedback, refresh=True):
        for move in self:
            activity = move.pulse_dispute_activity_id
            # sudo: the dispute fields are set by the dispute actions only
            move.sudo().write(
                {
                    "pulse_disputed": False,
                    "pulse_dispute_reason": False,
                    "pulse_dispute_until": False,
                    "pulse_dispute_activity_id": False,
                }
            )
            if activity.exists():
                # sudo: the salesperson's activity is closed with the dispute, whoever ends it
                activity.sudo().action_feedback(feedback=feedback)
        if refresh:
            self._pulse_refresh_followups()

    def _pulse_lapse_disputes(self, today, partner_ids=None):
        """Disputes whose end date has passed: the invoices come back into the follow-up."""
        domain = [("pulse_disputed", "=", True), ("pulse_dispute_until", "<", today)]
        if partner_ids is not None:
            domain.append(("commercial_partner_id", "in", list(partner_ids)))
        # sudo: the follow-up run ends lapsed disputes in every company
        lapsed = self.sudo().search(domain)
        for move in lapsed:
            move._pulse_undispute(
                self.env._(
                    "The dispute was not settled by %(date)s: the invoice is back in the"
                    " reminders.",
                    date=move.pulse_dispute_until,
                ),
                refresh=False,  # the caller is the refresh
            )

    def _pulse_refresh_followups(self):
        if self:
            # sudo: the follow-up rows are computed for everyone
            self.env["pulse.followup"].sudo()._refresh(self.commercial_partner_id.ids)
