from collections import defaultdict

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.tools import SQL
from odoo.tools.misc import formatLang


class PulsePaymentNotice(models.Model):
    """The salesperson told that a customer payment was matched with an invoice: one row per
    (payment, invoice), the proof that they are told once. Unmatching the payment (or
    cancelling it) writes a correction; matching it again tells again."""

    _name = "pulse.payment.notice"
    _description = "Payment notice"
    _order = "write_date desc, id desc"
    _rec_name = "invoice_id"

    payment_move_id = fields.Many2one(
        "account.move",
        string="Payment entry",
        required=True,
        readonly=True,
        ondelete="cascade",
        index=True,
    )
    payment_id = fields.Many2one(
        related="payment_move_id.origin_payment_id", string="Payment", store=True
    )
    invoice_id = fields.Many2one(
        "account.move",
        string="Invoice",
        required=True,
        readonly=True,
        ondelete="cascade",
        index=True,
    )
    order_id = fields.Many2one("sale.order", string="Order", readonly=True, ondelete="set null")
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    user_id = fields.Many2one("res.users", string="Salesperson told", readonly=True, index=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    amount = fields.Monetary(
        readonly=True,
        groups="account.group_account_invoice",
        help="Of the invoice paid by this payment, in the invoice's currency.",
    )
    channel = fields.Selection(
        [
            ("inbox", "Inbox notification"),
            ("email", "Email"),
            ("activity", "Activity"),
            ("none", "Note only"),
        ],
        readonly=True,
    )
    state = fields.Selection(
        [("told", "Told"), ("corrected", "Corrected")],
        required=True,
        default="told",
        readonly=True,
        help="Corrected: the payment was unmatched from the invoice or cancelled after the "
        "salesperson was told; they were told that too.",
    )
    times_told = fields.Integer(default=1, readonly=True)
    message_id = fields.Many2one(
        "mail.message", string="Last note", readonly=True, ondelete="set null"
    )

    _sql_constraints = [
        (
            "payment_invoice_uniq",
            "unique(payment_move_id, invoice_id)",
            "A salesperson is told of a payment on an invoice once.",
        ),
    ]

    # --------------------------------------------------------------- business
    @api.model
    def _customer_payment_pairs(self, partials):
        """{(payment entry, invoice): amount of the invoice paid, in its currency} of the
        partial reconciliations that match a customer payment (a payment's entry or a bank
        statement line) with a customer invoice. Credit notes, exchange differences and
        write-offs are not payments."""
        pairs = defaultdict(float)
        for partial in partials:
            invoice_line, other_line = partial.debit_move_id, partial.credit_move_id
            invoice, other = invoice_line.move_id, other_line.move_id
            if invoice.move_type != "out_invoice":
                continue
            if not (other.origin_payment_id or other.statement_line_id):
                continue
            pairs[other, invoice] += partial.debit_amount_currency
        return pairs

    @api.model
    def _notice_reconciled(self, partials):
        """Tell the salespeople of the customer payments just matched with their invoices,
        once per (payment, invoice). The notice rows are claimed with one INSERT ... ON
        CONFLICT, so that a (payment, invoice) already told — by this transaction or a
        concurrent one — is never told twice; a corrected one is told again."""
        pairs = self._customer_payment_pairs(partials)
        if not pairs:
            return self.browse()
        # only our own table: the reconciliation around this call is not finished
        self.flush_model()
        rows = []
        for (payment_move, invoice), amount in pairs.items():
            order = invoice.invoice_line_ids.sale_line_ids.order_id[:1]
            user = self._salesperson(order, invoice)
            rows.append(
                SQL(
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s,"
                    " now() at time zone 'UTC', %s, now() at time zone 'UTC')",
                    payment_move.id,
                    payment_move.origin_payment_id.id or None,
                    invoice.id,
                    order.id or None,
                    invoice.company_id.id,
                    invoice.commercial_partner_id.id,
                    user.id or None,
                    invoice.currency_id.id,
                    amount,
                    invoice.company_id.pulse_payment_notice_channel or "inbox",
                    "told",
                    self.env.uid,
                    self.env.uid,
                )
            )
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO pulse_payment_notice
                       (payment_move_id, payment_id, invoice_id, order_id, company_id,
                        partner_id, user_id, currency_id, amount, channel, state, times_told,
                        create_uid,
                        create_date, write_uid, write_date)
                VALUES %s
                ON CONFLICT (payment_move_id, invoice_id) DO UPDATE
                   SET state = 'told', amount = EXCLUDED.amount, user_id = EXCLUDED.user_id,
                       channel = EXCLUDED.channel,
                       times_told = pulse_payment_notice.times_told + 1,
                       write_uid = EXCLUDED.write_uid, write_date = EXCLUDED.write_date
                 WHERE pulse_payment_notice.state = 'corrected'
                RETURNING id
                """,
                SQL(", ").join(rows),
            )
        )
        notices = self.browse(sorted(row[0] for row in self.env.cr.fetchall()))
        self.invalidate_model()
        notices._tell()
        return notices

    @api.model
    def _backfill(self, since):
        """Tell of the customer payments matched since this date that nobody was told of
        (matched before the addon was installed): once-only like any notice. Returns the
        notices made."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT apr.id FROM account_partial_reconcile apr
                  JOIN account_move_line inv ON inv.id = apr.debit_move_id
                  JOIN account_move im ON im.id = inv.move_id
                  JOIN account_move_line pay ON pay.id = apr.credit_move_id
                  JOIN account_move pm ON pm.id = pay.move_id
                 WHERE apr.max_date >= %s
                   AND im.move_type = 'out_invoice'
                   AND (pm.origin_payment_id IS NOT NULL OR pm.statement_line_id IS NOT NULL)
                   AND NOT EXISTS (SELECT 1 FROM pulse_payment_notice n
                                    WHERE n.payment_move_id = pm.id AND n.invoice_id = im.id)
                 ORDER BY apr.max_date, apr.id
                """,
                since,
            )
        )
        partials = self.env["account.partial.reconcile"].browse(
            [row[0] for row in self.env.cr.fetchall()]
        )
        return self._notice_reconciled(partials)

    @api.model
    def _notice_unreconciled(self, undone):
        """Correct what the salespeople were told, for the (payment, invoice) pairs whose
        matching was just undone ({(payment entry, invoice): amount undone}): a payment
        cancelled or reset to draft, or unmatched from the invoice."""
        if not undone:
            return self.browse()
        notices = self.search(
            [
                ("state", "=", "told"),
                ("payment_move_id", "in", [move.id for move, _invoice in undone]),
                ("invoice_id", "in", [invoice.id for _move, invoice in undone]),
            ]
        )
        notices = notices.filtered(lambda n: (n.payment_move_id, n.invoice_id) in undone)
        if not notices:
            return notices
        # what is still matched between each pair (a payment matched in instalments)
        self.env["account.partial.reconcile"].flush_model(["debit_move_id", "credit_move_id"])
        self.env["account.move.line"].flush_model(["move_id"])
        self.env.cr.execute(
            SQL(
                """
                SELECT pay.move_id, inv.move_id
                  FROM account_partial_reconcile apr
                  JOIN account_move_line inv ON inv.id = apr.debit_move_id
                  JOIN account_move_line pay ON pay.id = apr.credit_move_id
                 WHERE inv.move_id = ANY(%s) AND pay.move_id = ANY(%s)
                """,
                notices.invoice_id.ids,
                notices.payment_move_id.ids,
            )
        )
        still_matched = set(self.env.cr.fetchall())
        gone = notices.filtered(
            lambda n: (n.payment_move_id.id, n.invoice_id.id) not in still_matched
        )
        gone.write({"state": "corrected"})
        for notice in notices:
            notice._tell(undone=undone[notice.payment_move_id, notice.invoice_id])
        return notices

    @api.model
    def _salesperson(self, order, invoice):
        """Who is told: the order's salesperson, else the invoice's, else the customer's."""
        for user in (
            order.user_id,
            invoice.invoice_user_id,
            invoice.commercial_partner_id.user_id,
        ):
            if user and user.active and not user.share:
                return user
        return self.env["res.users"]

    def _message(self, undone=None):
        """The note's text, in the salesperson's language."""
        self.ensure_one()
        env = self.with_context(lang=self.user_id.lang or self.env.lang).env
        invoice = self.invoice_id
        currency = invoice.currency_id

        def money(amount):
            return formatLang(env, amount, currency_obj=currency)

        residual = invoice.amount_residual
        left = (
            env._("fully paid")
            if currency.is_zero(residual)
            else env._("%(amount)s left", amount=money(residual))
        )
        if undone is None:
            return env._(
                "%(customer)s paid %(amount)s of %(invoice)s — %(left)s",
                customer=self.partner_id.name,
                amount=money(self.amount),
                invoice=invoice.name,
                left=left,
            )
        payment = self.payment_move_id
        # the payment's state is written before its entry is unmatched
        if payment.origin_payment_id.state == "canceled":
            what = env._("was cancelled")
        elif payment.origin_payment_id.state == "draft":
            what = env._("was reset to draft")
        else:
            what = env._("was unmatched from it")
        return env._(
            "Correction: the payment %(payment)s of %(amount)s by %(customer)s on %(invoice)s "
            "%(what)s — %(left)s",
            payment=payment.name,
            amount=money(undone),
            customer=self.partner_id.name,
            invoice=invoice.name,
            what=what,
            left=left,
        )

    def _tell(self, undone=None):
        """Write the note on the order (on the invoice when it comes from no order) and tell
        the salesperson through the company's channel. Notes are internal: only the
        salesperson is a recipient, never the customer."""
        for notice in self:
            body = notice._message(undone=undone)
            record = notice.order_id or notice.invoice_id
            user = notice.user_id
            channel = notice.channel if user else "none"
            partner_ids = [user.partner_id.id] if channel == "inbox" else []
            message = record._message_log(
                body=body, partner_ids=partner_ids, message_type="notification"
            )
            notice.message_id = message
            if channel == "inbox":
                record._notify_thread_by_inbox(
                    message, [{"id": user.partner_id.id, "uid": user.id, "notif": "inbox"}]
                )
            elif channel == "email":
                # queued: Odoo's mail cron sends it after this transaction commits
                self.env["mail.mail"].create(
                    {
                        "subject": body,
                        "body_html": Markup("<p>%s</p><p>%s</p>") % (body, record.display_name),
                        "recipient_ids": [Command.link(user.partner_id.id)],
                        "email_from": notice.company_id.email_formatted
                        or self.env.user.email_formatted,
                        "author_id": self.env.user.partner_id.id,
                        "auto_delete": True,
                    }
                )
            elif channel == "activity":
                # quick update: the activity is the notice, no "assigned to you" on top
                record.with_context(mail_activity_quick_update=True).activity_schedule(
                    "mail.mail_activity_data_todo",
                    user_id=user.id,
                    summary=body[:200],
                    note=body,
                    date_deadline=fields.Date.today(),
                )
