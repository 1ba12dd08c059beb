import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..tools.params import setting

_logger = logging.getLogger(__name__)


class PulseFollowupPromise(models.Model):
    """A customer's promise to pay an amount by a date, recorded from their follow-up.
    Reminders wait until the date plus the grace days; then the promise is kept when the
    residual of the invoices open at the time of the promise dropped by the amount (paid or
    credited), broken otherwise (an activity for the accountant, and the next run moves on
    a level). Kept early as soon as the money is in."""

    _name = "pulse.followup.promise"
    _description = "Promise to pay"
    _order = "date desc, id desc"
    _rec_name = "date"
    _check_company_auto = True

    followup_id = fields.Many2one(
        "pulse.followup", "Follow-up", required=True, ondelete="cascade", index=True
    )
    partner_id = fields.Many2one(related="followup_id.partner_id", store=True, index=True)
    company_id = fields.Many2one(related="followup_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="company_id.currency_id")
    date = fields.Date("Pays by", required=True)
    amount = fields.Monetary(required=True, groups="account.group_account_invoice")
    note = fields.Text()
    state = fields.Selection(
        [
            ("open", "In force"),
            ("kept", "Kept"),
            ("broken", "Broken"),
            ("cancelled", "Cancelled"),
        ],
        required=True,
        default="open",
        readonly=True,
        index=True,
    )
    check_date = fields.Date(
        "Reminders wait until",
        readonly=True,
        help="The promised date plus the grace days: checked at the first run after it.",
    )
    residual_at_promise = fields.Monetary(
        "Open when promised", readonly=True, groups="account.group_account_invoice"
    )
    invoice_ids = fields.Many2many(
        "account.move", string="Invoices open when promised", readonly=True
    )
    paid_amount = fields.Monetary(
        "Paid since", compute="_compute_paid_amount", groups="account.group_account_invoice"
    )
    closed_date = fields.Date("Kept or broken on", readonly=True)
    user_id = fields.Many2one(
        "res.users", "Recorded by", readonly=True, default=lambda self: self.env.user
    )
    activity_id = fields.Many2one("mail.activity", readonly=True, ondelete="set null")

    # ------------------------------------------------------------------ computes
    @api.depends("invoice_ids.amount_residual_signed", "residual_at_promise")
    def _compute_paid_amount(self):
        for promise in self:
            # sudo: the residuals of the promised invoices, for a figure of the promise
            now = sum(promise.invoice_ids.sudo().mapped("amount_residual_signed"))
            promise.paid_amount = promise.residual_at_promise - now

    # ------------------------------------------------------------------ constraints
    @api.constrains("amount", "date")
    def _check_promise(self):
        today = fields.Date.context_today(self)
        for promise in self:
            if promise.amount <= 0:
                raise ValidationError(
                    self.env._(
                        "A promise to pay is for a positive amount, not %(amount)s.",
                        amount=promise.amount,
                    )
                )
            if promise.state == "open" and promise.date < today:
                raise ValidationError(
                    self.env._(
                        "The promised date %(date)s is in the past: a promise is for today "
                        "or later.",
                        date=promise.date,
                    )
                )
            if (
                promise.state == "open"
                and promise.currency_id.compare_amounts(promise.amount, promise.residual_at_promise)
                > 0
            ):
                raise ValidationError(
                    self.env._(
                        "%(customer)s owes %(owed)s in open invoices: a promise cannot be for "
                        "more (%(amount)s).",
                        customer=promise.partner_id.display_name,
                        owed=promise.residual_at_promise,
                        amount=promise.amount,
                    )
                )

    # ------------------------------------------------------------------ CRUD
    @api.model_create_multi
    def create(self, vals_list):
        Followup = self.env["pulse.followup"]
        grace = self._grace_days()
        for vals in vals_list:
            followup = Followup.browse(vals.get("followup_id"))
            date = fields.Date.to_date(vals.get("date"))
            if date:
                vals["check_date"] = date + timedelta(days=grace)
            # sudo: the invoices' residuals are read to measure the promise; the user's
            # rights on the promise are checked by create
            invoices = followup.sudo()._promise_invoices()
            vals["invoice_ids"] = [fields.Command.set(invoices.ids)]
            vals["residual_at_promise"] = sum(invoices.mapped("amount_residual_signed"))
        promises = super().create(vals_list)
        for promise in promises:
            older = promise.followup_id.promise_ids.filtered(
                lambda p, new=promise: p.state == "open" and p != new
            )
            # sudo: the earlier open promise of the same follow-up is replaced by this one
            older.sudo().write(
                {"state": "cancelled", "closed_date": fields.Date.context_today(self)}
            )
            promise._pause_reminders()
            promise._log(
                self.env._(
                    "Promise to pay by %(date)s recorded by %(user)s: reminders wait until "
                    "%(until)s.",
                    date=promise.date,
                    user=self.env.user.name,
                    until=promise.check_date,
                )
            )
        # sudo: the row's figures are computed for everyone
        Followup.sudo()._refresh(promises.partner_id.ids)
        return promises

    @api.ondelete(at_uninstall=False)
    def _unlink_except_history(self):
        if any(p.state in ("kept", "broken") for p in self):
            raise UserError(self.env._("A kept or broken promise is history: it is not deleted."))

    # ------------------------------------------------------------------ actions
    def action_cancel(self):
        self.filtered(lambda p: p.state == "open").write(
            {"state": "cancelled", "closed_date": fields.Date.context_today(self)}
        )
        # sudo: the follow-up rows are computed, never edited by users
        self.env["pulse.followup"].sudo()._refresh(self.partner_id.ids)
        return True

    # ------------------------------------------------------------------ business
    @api.model
    def _grace_days(self):
        return setting(self.env, "followup_grace_days")

    def _pause_reminders(self):
        """Reminders of the episode waiting to go out are skipped: the customer promised."""
        # sudo: reminders are the follow-up engine's records; recording the promise
        # skips the episode's waiting ones
        pending = (
            self.env["pulse.followup.event"]
            .sudo()
            .search(
                [
                    ("followup_id", "=", self.followup_id.id),
                    ("state", "in", ("scheduled", "waiting")),
                ]
            )
        )
        pending.write(
            {
                "state": "skipped",
                "reason": self.env._("promise until %(date)s", date=self.check_date),
                "executed_at": fields.Datetime.now(),
            }
        )

    @api.model
    def _evaluate(self, today, partner_ids=None):
        """Open promises of these customers (None: all): kept as soon as the money is in,
        broken once the grace days are over without it."""
        domain = [("state", "=", "open")]
        if partner_ids is not None:
            domain.append(("partner_id", "in", list(partner_ids)))
        # sudo: the run evaluates every company's promises
        promises = self.sudo().search(domain)
        if not promises:
            return
        kept = promises.filtered(
            lambda p: p.currency_id.compare_amounts(p.paid_amount, p.amount) >= 0
        )
        broken = (promises - kept).filtered(lambda p: p.check_date < today)
        kept.write({"state": "kept", "closed_date": today})
        for promise in kept:
            promise._log(
                self.env._(
                    "Promise to pay by %(date)s kept.",
                    date=promise.date,
                )
            )
        for promise in broken:
            promise._break(today)
        (kept | broken).followup_id._record_reliability()

    def _break(self, today):
        """Broken: an activity for the accountant, and the next run moves on a level."""
        self.ensure_one()
        followup = self.followup_id
        user = followup._accountant() or self.user_id
        activity = self.env["mail.activity"]
        if user:
            activity = activity.create(
                {
                    "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                    "res_id": self.partner_id.id,
                    "activity_type_id": self.env.ref("mail.mail_activity_data_todo").id,
                    "summary": self.env._(
                        "%(company)s: promise to pay by %(date)s broken",
                        company=self.company_id.name,
                        date=self.date,
                    ),
                    "date_deadline": today,
                    "user_id": user.id,
                }
            )
        self.write({"state": "broken", "closed_date": today, "activity_id": activity.id})
        followup.write({"escalate": True})
        self._log(
            self.env._(
                "Promise to pay by %(date)s broken: the next reminder goes out now.",
                date=self.date,
            )
        )

    def _log(self, body):
        # sudo: the note records the follow-up on the customer, whoever reads it
        self.partner_id.sudo().message_post(
            body=f"{self.company_id.name}: {body}", subtype_xmlid="mail.mt_note"
        )
