from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools.misc import formatLang

from .common import PulseFactsCase

TODAY = "2026-03-16"


def text(html):
    return str(html).replace("\xa0", " ").replace("&nbsp;", " ")


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestPaymentNotice(PulseFactsCase):
    """Money in: a customer payment matched with an invoice tells the salesperson, once per
    (payment, invoice), with the amount; unmatching or cancelling it corrects that; the
    customer is never told."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Notice = cls.env["pulse.payment.notice"]
        cls.salesperson = cls.make_user(
            "notice_sales",
            "user",
            name="Sam Seller",
            email="sam@seller.example",
            notification_type="inbox",
        )
        cls.buyer = cls.make_customer("Davis-Lozano", email="ap@davis-lozano.example")

    def setUp(self):
        super().setUp()
        self.order = self.make_order(
            self.buyer, TODAY, qty=12, price=100.0, user_id=self.salesperson.id
        )
        # the customer follows the order, as after a quotation sent by email
        self.order.message_subscribe(partner_ids=self.buyer.ids)
        self.invoice = self.make_invoice(self.order, TODAY)

    def money(self, amount):
        return text(formatLang(self.env, amount, currency_obj=self.invoice.currency_id))

    def order_notes(self, record=None):
        record = record or self.order
        return self.env["mail.message"].search(
            [
                ("model", "=", record._name),
                ("res_id", "=", record.id),
                ("body", "ilike", "Davis-Lozano"),
            ],
            order="id",
        )

    def inbox(self, partner):
        return self.env["mail.notification"].search(
            [("res_partner_id", "=", partner.id), ("notification_type", "=", "inbox")]
        )

    def assertCustomerNotTold(self):
        messages = self.order_notes() | self.order_notes(self.invoice)
        self.assertNotIn(self.buyer, messages.partner_ids)
        self.assertNotIn(self.buyer, messages.notification_ids.res_partner_id)
        self.assertTrue(all(m.is_internal for m in messages), "internal notes only")
        self.assertEqual(set(messages.subtype_id.mapped("internal")), {True})
        self.assertFalse(
            self.env["mail.mail"].search(
                [
                    "|",
                    ("recipient_ids", "in", self.buyer.ids),
                    ("email_to", "ilike", "davis-lozano.example"),
                ]
            ),
            "no email to the customer",
        )

    def test_partial_then_full_payment_told_once_each(self):
        payment = self.pay(self.invoice, TODAY, amount=300.0)
        notice = self.Notice.search([("invoice_id", "=", self.invoice.id)])
        self.assertEqual(len(notice), 1)
        self.assertEqual(notice.payment_move_id, payment.move_id)
        self.assertEqual(
            (notice.amount, notice.user_id, notice.state), (300.0, self.salesperson, "told")
        )
        notes = self.order_notes()
        self.assertEqual(len(notes), 1)
        body = text(notes.body)
        self.assertIn(f"Davis-Lozano paid {self.money(300)} of {self.invoice.name}", body)
        self.assertIn(f"{self.money(900)} left", body)
        self.assertEqual(notes.partner_ids, self.salesperson.partner_id)
        self.assertEqual(self.inbox(self.salesperson.partner_id).mail_message_id, notes)

        # the same matching seen again (a recompute, a second hook call) tells nobody again
        partials = self.invoice.line_ids.matched_credit_ids
        self.assertFalse(self.Notice._notice_reconciled(partials))
        self.assertEqual(len(self.order_notes()), 1)

        self.pay(self.invoice, TODAY)
        notes = self.order_notes()
        self.assertEqual(len(notes), 2, "a second payment is a second notice")
        self.assertIn("fully paid", notes[-1].body)
        self.assertIn(self.money(900), text(notes[-1].body), "paid now")
        self.assertEqual(len(self.inbox(self.salesperson.partner_id)), 2)
        self.assertEqual(self.Notice.search_count([("invoice_id", "=", self.invoice.id)]), 2)
        self.assertCustomerNotTold()

    def test_instalments_one_notice(self):
        """Payment terms in two instalments: one payment matches two lines of the invoice,
        the salesperson hears once, of the whole amount."""
        order = self.make_order(
            self.buyer,
            TODAY,
            qty=10,
            user_id=self.salesperson.id,
            payment_term_id=self.env.ref("account.account_payment_term_advance_60days").id,
        )
        invoice = self.make_invoice(order, TODAY)
        self.assertEqual(
            len(invoice.line_ids.filtered(lambda line: line.account_type == "asset_receivable")), 2
        )
        self.pay(invoice, TODAY, amount=1000.0)
        self.assertEqual(len(invoice.line_ids.matched_credit_ids), 2)
        notice = self.Notice.search([("invoice_id", "=", invoice.id)])
        self.assertEqual(len(notice), 1)
        self.assertEqual(notice.amount, 1000.0)
        notes = self.order_notes(order)
        self.assertEqual(len(notes), 1)
        self.assertIn("fully paid", notes.body)

    def test_unreconcile_corrects_and_rematch_tells_again(self):
        payment = self.pay(self.invoice, TODAY, amount=500.0)
        notice = self.Notice.search([("invoice_id", "=", self.invoice.id)])
        self.invoice.line_ids.remove_move_reconcile()
        self.assertEqual(notice.state, "corrected")
        notes = self.order_notes()
        self.assertEqual(len(notes), 2)
        self.assertIn("Correction", notes[-1].body)
        self.assertIn("was unmatched", notes[-1].body)
        self.assertIn(f"{self.money(1200)} left", text(notes[-1].body), "all due again")
        self.assertEqual(len(self.inbox(self.salesperson.partner_id)), 2)
        # undoing again (nothing left to undo) says nothing more
        self.invoice.line_ids.remove_move_reconcile()
        self.assertEqual(len(self.order_notes()), 2)
        # matched again: told again, on the same notice
        (payment.move_id.line_ids | self.invoice.line_ids).filtered(
            lambda line: line.account_type == "asset_receivable" and not line.reconciled
        ).reconcile()
        self.assertEqual((notice.state, notice.times_told), ("told", 2))
        self.assertEqual(len(self.order_notes()), 3)
        self.assertCustomerNotTold()

    def test_cancelled_payment_corrects(self):
        payment = self.pay(self.invoice, TODAY)
        self.assertIn("fully paid", self.order_notes().body)
        payment.action_cancel()
        notes = self.order_notes()
        self.assertEqual(len(notes), 2)
        self.assertIn("was cancelled", notes[-1].body)
        self.assertIn(f"{self.money(1200)} left", text(notes[-1].body))
        self.assertEqual(
            self.Notice.search([("invoice_id", "=", self.invoice.id)]).state, "corrected"
        )

    def test_credit_note_is_not_a_payment(self):
        self.refund(self.invoice, TODAY, cancel=True)
        self.assertEqual(self.invoice.payment_state, "reversed")
        self.assertFalse(self.Notice.search([("invoice_id", "=", self.invoice.id)]))
        self.assertFalse(self.order_notes())

    def test_who_is_told(self):
        """The order's salesperson, else the invoice's, else the customer's; the note goes
        on the invoice when there is no order."""
        invoice_user = self.make_user("notice_invoice_user", notification_type="inbox")
        account_manager = self.make_user("notice_account_manager", notification_type="inbox")
        self.buyer.user_id = account_manager

        def manual_invoice(user):
            return self.make_move(self.buyer, TODAY, 250.0, invoice_user_id=user.id)

        invoice = manual_invoice(invoice_user)
        self.pay(invoice, TODAY)
        notes = self.order_notes(invoice)
        self.assertEqual(notes.partner_ids, invoice_user.partner_id)
        self.assertEqual(len(self.inbox(invoice_user.partner_id)), 1)

        invoice = manual_invoice(self.env["res.users"])
        self.pay(invoice, TODAY)
        self.assertEqual(self.order_notes(invoice).partner_ids, account_manager.partner_id)

    def test_channels(self):
        """Email: a queued email to the salesperson only. Activity: a to-do on the order.
        None: the note alone, nobody notified."""
        self.company.pulse_payment_notice_channel = "email"
        self.pay(self.invoice, TODAY, amount=100.0)
        mail = self.env["mail.mail"].search(
            [("recipient_ids", "in", self.salesperson.partner_id.ids)]
        )
        self.assertEqual(len(mail), 1)
        self.assertIn("paid", mail.subject)
        self.assertEqual(mail.state, "outgoing", "sent by the mail cron after the commit")
        self.assertFalse(self.order_notes().partner_ids, "the note notifies nobody")
        self.assertFalse(self.inbox(self.salesperson.partner_id))

        self.company.pulse_payment_notice_channel = "activity"
        self.pay(self.invoice, TODAY, amount=100.0)
        activity = self.order.activity_ids
        self.assertEqual(activity.user_id, self.salesperson)
        self.assertIn(f"paid {self.money(100)}", text(activity.note))

        self.company.pulse_payment_notice_channel = "none"
        self.pay(self.invoice, TODAY, amount=100.0)
        self.assertEqual(len(self.order_notes()), 3)
        self.assertFalse(self.inbox(self.salesperson.partner_id))
        self.assertEqual(len(self.order.activity_ids), 1)
        self.assertCustomerNotTold()

    def test_accountant_reconciles_salesperson_told(self):
        """The accountant who matches the payment need not have rights on the order or the
        notices; the notices are theirs to read, not the salesperson's."""
        accountant = self.make_user("notice_accountant", "account.group_account_invoice")
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.buyer.id,
                "amount": 1200.0,
                "journal_id": self.bank_journal.id,
            }
        )
        payment.action_post()
        lines = (payment.move_id.line_ids | self.invoice.line_ids).filtered(
            lambda line: line.account_type == "asset_receivable"
        )
        lines.with_user(accountant).reconcile()
        self.assertEqual(len(self.order_notes()), 1)
        self.assertEqual(self.order_notes().author_id, accountant.partner_id)
        self.assertTrue(self.Notice.with_user(self.pulse_accountant).search([]))
        with self.assertRaises(AccessError):
            self.Notice.with_user(self.salesperson).search([])
        with self.assertRaises(AccessError):
            self.Notice.with_user(self.portal_user).search([])
