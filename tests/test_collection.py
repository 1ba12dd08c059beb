from datetime import date, timedelta

from freezegun import freeze_time

from odoo import Command, fields
from odoo.addons.customer_pulse.tools import demo_finance, demo_history
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from .common import PulseFactsCase

TODAY = "2026-03-16"  # a Monday
DAY = TODAY  # invoices of the day, due on receipt: not overdue


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestCollection(PulseFactsCase):
    """To collect: a confirmed order becomes one item for finance, which follows the order,
    its invoices (down payments included), credit notes and payments."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Collection = cls.env["pulse.collection"]
        cls.salesperson = cls.make_user("collect_sales", "user")
        cls.buyer = cls.make_customer("Davis-Lozano")
        cls.buyer_contact = cls.env["res.partner"].create(
            {"name": "Eva Lozano", "parent_id": cls.buyer.id}
        )
        cls.term_30 = cls.env.ref("account.account_payment_term_30days")

    def order(self, qty=10, price=100.0, **vals):
        vals.setdefault("user_id", self.salesperson.id)
        return self.make_order(self.buyer_contact, "2026-03-02", qty=qty, price=price, **vals)

    def item(self, order):
        return self.Collection.search([("order_id", "=", order.id)])

    def test_confirm_makes_one_item(self):
        """Confirming an order makes exactly one item: the commercial partner, the company,
        the salesperson, the amounts, the expected date from the payment terms, the
        company's responsible accountant."""
        self.company.pulse_collection_user_id = self.pulse_accountant
        draft = self.order(confirm=False, payment_term_id=self.term_30.id)
        self.assertFalse(self.item(draft), "a quotation is nothing to collect")
        draft.action_confirm()
        draft.date_order = "2026-03-02 10:00:00"
        item = self.item(draft)
        self.assertEqual(len(item), 1)
        self.assertEqual(item.partner_id, self.buyer, "the customer is the commercial partner")
        self.assertEqual(item.company_id, self.company)
        self.assertEqual(item.user_id, self.salesperson)
        self.assertEqual(item.accountant_id, self.pulse_accountant)
        self.assertEqual(item.amount_total, 1000.0)
        self.assertEqual(item.amount_total_company, 1000.0)
        self.assertEqual(item.expected_date, date(2026, 4, 1), "order date + 30 days")
        self.assertEqual(item.state, "to_invoice")
        self.assertEqual(item.amount_due, 0.0)
        # confirming again (a second action on the same order) makes no second item
        self.Collection._ensure_for_orders(draft)
        self.assertEqual(self.Collection.search_count([("order_id", "=", draft.id)]), 1)

    def test_expected_date_without_terms(self):
        """No payment terms: due on the order date."""
        order = self.order()
        self.assertEqual(self.item(order).expected_date, date(2026, 3, 2))

    def test_cancel_and_confirm_again(self):
        """Cancelling the order cancels its item; confirming it again reuses the same item."""
        order = self.order()
        item = self.item(order)
        order._action_cancel()
        self.assertEqual(item.state, "cancelled")
        order.action_draft()
        order.action_confirm()
        self.assertEqual(self.item(order), item, "the same item, not a second one")
        self.assertEqual(item.state, "to_invoice")

    def test_down_payment_and_final_invoice_one_item(self):
        """A down payment invoice and the final invoice of one order follow the same item:
        invoiced, partly paid, paid."""
        order = self.order()
        item = self.item(order)
        wizard = (
            self.env["sale.advance.payment.inv"]
            .with_context(active_model="sale.order", active_ids=order.ids)
            .create({"advance_payment_method": "percentage", "amount": 30})
        )
        wizard.create_invoices()
        down_payment = order.invoice_ids
        down_payment.invoice_date = "2026-03-03"
        down_payment.invoice_date_due = "2026-03-20"
        down_payment.action_post()
        self.assertEqual(item.state, "invoiced")
        self.assertEqual(item.amount_invoiced, 300.0)
        self.assertEqual(item.amount_to_invoice, 700.0)
        self.assertEqual(item.amount_due, 300.0)
        self.pay(down_payment, "2026-03-05")
        self.assertEqual(item.state, "partly_paid", "the down payment is paid, the rest is not")
        self.assertEqual(item.amount_paid, 300.0)
        final = order._create_invoices(final=True)  # the down payment deducted
        final.invoice_date = DAY
        final.invoice_date_due = DAY
        final.action_post()
        self.assertEqual(len(order.invoice_ids), 2)
        self.assertEqual(item.invoice_ids, down_payment | final, "both invoices, one item")
        self.assertEqual(item.amount_invoiced, 1000.0)
        self.assertEqual(item.amount_due, 700.0)
        self.assertEqual(item.state, "partly_paid")
        self.pay(final, "2026-03-12")
        self.assertEqual(item.state, "paid")
        self.assertEqual((item.amount_paid, item.amount_due), (1000.0, 0.0))

    def test_partial_then_full_payment(self):
        order = self.order()
        item = self.item(order)
        invoice = self.make_invoice(order, DAY)
        self.assertEqual(item.state, "invoiced")
        self.assertEqual(item.amount_due, 1000.0)
        self.pay(invoice, "2026-03-11", amount=400.0)
        self.assertEqual(item.state, "partly_paid")
        self.assertEqual((item.amount_paid, item.amount_due), (400.0, 600.0))
        self.assertEqual(item.amount_due_company, 600.0)
        self.pay(invoice, "2026-03-12")
        self.assertEqual(item.state, "paid")
        self.assertEqual((item.amount_paid, item.amount_due), (1000.0, 0.0))

    def test_credit_note_lowers_due(self):
        """A credit note for part of the invoice lowers what is due; paying the rest pays the
        item. A credit note for all of it leaves nothing invoiced: to invoice again."""
        order = self.order()
        item = self.item(order)
        invoice = self.make_invoice(order, DAY)
        refund = invoice._reverse_moves([{"invoice_date": "2026-03-11", "date": "2026-03-11"}])
        refund.invoice_line_ids.quantity = 2  # two of ten came back damaged
        refund.action_post()
        self.assertEqual(item.amount_invoiced, 800.0)
        self.assertEqual(item.amount_due, 800.0)
        self.assertEqual(item.state, "invoiced")
        self.pay(invoice, "2026-03-12")
        self.assertEqual(item.state, "paid")

        other = self.order()
        other_item = self.item(other)
        other_invoice = self.make_invoice(other, DAY)
        self.refund(other_invoice, "2026-03-11", cancel=True)
        self.assertEqual(other_item.amount_due, 0.0)
        self.assertEqual(other_item.state, "to_invoice", "all credited: nothing invoiced")

    def test_amended_order_updates_item(self):
        order = self.order()
        item = self.item(order)
        order.write({"order_line": [Command.update(order.order_line.id, {"product_uom_qty": 12})]})
        self.assertEqual(item.amount_total, 1200.0)
        order.write(
            {
                "order_line": [
                    Command.create(
                        {
                            "product_id": self.product.id,
                            "product_uom_qty": 1,
                            "price_unit": 50.0,
                            "tax_id": [],
                        }
                    )
                ]
            }
        )
        self.assertEqual(item.amount_total, 1250.0)
        invoice = self.make_invoice(order, DAY)
        self.pay(invoice, "2026-03-11")
        self.assertEqual(item.state, "paid")
        # one more line after the payment: something is left to invoice again
        order.write(
            {
                "order_line": [
                    Command.create(
                        {
                            "product_id": self.product.id,
                            "product_uom_qty": 1,
                            "price_unit": 80.0,
                            "tax_id": [],
                        }
                    )
                ]
            }
        )
        self.assertEqual(item.amount_to_invoice, 80.0)
        self.assertEqual(item.state, "partly_paid")

    def test_overdue_now_and_by_the_night(self):
        """An open invoice past its due date makes the item overdue; one falling due later
        becomes overdue by the nightly set-based update, which agrees with a recompute."""
        late = self.order()
        self.make_invoice(late, "2026-03-10").invoice_date_due = "2026-03-13"
        self.assertEqual(self.item(late).state, "overdue")
        self.assertEqual(self.item(late).date_due, date(2026, 3, 13))
        soon = self.order()
        invoice = self.make_invoice(soon, "2026-03-10")
        invoice.invoice_date_due = "2026-03-20"
        item = self.item(soon)
        self.assertEqual(item.state, "invoiced")
        self.assertEqual(self.Collection._cron_mark_overdue(), 0)
        with freeze_time("2026-03-21"):
            self.assertEqual(self.Collection._cron_mark_overdue(), 1)
            self.assertEqual(item.state, "overdue")
            self.env.add_to_compute(self.Collection._fields["state"], item)
            item.flush_recordset()
            self.assertEqual(item.state, "overdue", "a recompute agrees")
            self.pay(invoice, "2026-03-21", amount=100.0)
            self.assertEqual(item.state, "overdue", "partly paid, still late")
            self.pay(invoice, "2026-03-21")
            self.assertEqual(item.state, "paid")

    def test_disputed_invoice(self):
        if "pulse_disputed" not in self.env["account.move"]._fields:
            self.skipTest("disputes on invoices are not installed")
        order = self.order()
        invoice = self.make_invoice(order, DAY)
        invoice.invoice_date_due = "2026-03-12"
        item = self.item(order)
        self.assertEqual(item.state, "overdue")
        invoice.pulse_disputed = True
        self.assertEqual(item.state, "disputed")
        self.assertFalse(item.date_due, "a disputed invoice is out of the due dates")
        invoice.pulse_disputed = False
        self.assertEqual(item.state, "overdue")

    def test_foreign_currency(self):
        """Amounts in the order's currency and in the company's."""
        other = self.env.ref("base.EUR")
        if other == self.company.currency_id:
            other = self.env.ref("base.USD")
        other.active = True
        self.env["res.currency.rate"].create(
            {
                "currency_id": other.id,
                "company_id": self.company.id,
                "name": "2026-01-01",
                "rate": 2.0,
            }
        )
        pricelist = self.env["product.pricelist"].create(
            {"name": "Foreign", "currency_id": other.id}
        )
        order = self.order(pricelist_id=pricelist.id)
        item = self.item(order)
        self.assertEqual(item.currency_id, other)
        self.assertEqual(item.amount_total, 1000.0)
        self.assertEqual(item.amount_total_company, 500.0)
        invoice = self.make_invoice(order, DAY)
        self.assertEqual(item.amount_due, 1000.0)
        self.assertEqual(item.amount_due_company, invoice.amount_residual_signed)
        self.assertEqual(item.amount_due_company, 500.0)

    def test_activity_for_the_responsible_accountant(self):
        self.company.write(
            {
                "pulse_collection_user_id": self.pulse_accountant.id,
                "pulse_collection_activity": True,
            }
        )
        item = self.item(self.order())
        self.assertEqual(item.activity_ids.user_id, self.pulse_accountant)
        self.assertIn(item.name, item.activity_ids.summary)
        self.company.pulse_collection_activity = False
        self.assertFalse(self.item(self.order()).activity_ids)

    def test_responsible_accountant_must_fit(self):
        """Bad input: an accountant of another company, or a user who is no accountant, is
        refused with a clear message, on the company and on an item."""
        item = self.item(self.order())
        other_company = self.env["res.company"].create({"name": "Elsewhere Ltd"})
        outsider = self.make_user("collect_outsider", "accountant", companies=other_company)
        with self.assertRaisesRegex(ValidationError, "no access to"), self.env.cr.savepoint():
            self.company.pulse_collection_user_id = outsider
        with (
            self.assertRaisesRegex(ValidationError, "not a Customer Pulse accountant"),
            self.env.cr.savepoint(),
        ):
            self.company.pulse_collection_user_id = self.salesperson
        with self.assertRaisesRegex(ValidationError, "no access to"), self.env.cr.savepoint():
            item.accountant_id = outsider
        with (
            self.assertRaisesRegex(ValidationError, "not a Customer Pulse accountant"),
            self.env.cr.savepoint(),
        ):
            item.accountant_id = self.pulse_marketer
        with self.assertRaisesRegex(ValidationError, "no access to"), self.env.cr.savepoint():
            self.env["res.config.settings"].create(
                {"pulse_collection_user_id": outsider.id}
            ).execute()
        self.env["res.config.settings"].create(
            {"pulse_collection_user_id": self.pulse_accountant.id}
        ).execute()
        self.assertEqual(self.company.pulse_collection_user_id, self.pulse_accountant)

    def test_backfill_open_orders(self):
        """On install, the orders confirmed before get their items: those still to invoice
        or with an open invoice; an order invoiced and paid in full is history."""
        open_order = self.order()
        invoiced = self.order()
        self.make_invoice(invoiced, DAY)
        paid = self.order()
        self.pay(self.make_invoice(paid, DAY), "2026-03-11")
        cancelled = self.order()
        cancelled._action_cancel()
        self.Collection.search([]).unlink()
        self.assertEqual(self.Collection._backfill(), 2)
        self.assertEqual(
            self.Collection.search([]).order_id, open_order | invoiced, "paid and cancelled: none"
        )
        self.assertEqual(self.item(invoiced).state, "invoiced")
        self.assertEqual(self.Collection._backfill(), 0, "a second run makes nothing")


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestCollectionAccess(PulseFactsCase):
    """Accountants and managers act on every item; a salesperson sees the items of their
    own orders, without amounts; a marketer sees no amounts; portal users nothing; each
    company its own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Collection = cls.env["pulse.collection"]
        cls.mine = cls.make_order(cls.customer, "2026-03-02", user_id=cls.pulse_user.id)
        cls.theirs = cls.make_order(cls.customer, "2026-03-02", user_id=cls.pulse_manager.id)
        cls.marketers = cls.make_order(cls.customer, "2026-03-02", user_id=cls.pulse_marketer.id)
        cls.other_company = cls.env["res.company"].create({"name": "Pulse Other Co"})
        cls.elsewhere = (
            cls.env["sale.order"]
            .with_company(cls.other_company)
            .create(
                {
                    "partner_id": cls.customer.id,
                    "company_id": cls.other_company.id,
                    "user_id": cls.pulse_accountant.id,
                    "order_line": [Command.create({"product_id": cls.product.id})],
                }
            )
        )
        cls.elsewhere.with_company(cls.other_company).action_confirm()

    def items(self, user, domain=()):
        return self.Collection.with_user(user).search(list(domain))

    def test_accountant_and_manager_act_on_all(self):
        for user in (self.pulse_accountant, self.pulse_manager):
            items = self.items(user)
            self.assertEqual(items.order_id, self.mine | self.theirs | self.marketers)
            self.assertEqual(sum(items.mapped("amount_total")), 300.0)
            items[0].accountant_id = self.pulse_accountant
            self.assertTrue(self.items(user, [("amount_due", ">=", 0)]))
        # the accountant opens any item's order and its invoices; writing the order stays
        # its salesperson's
        theirs = self.Collection.with_user(self.pulse_accountant).search(
            [("order_id", "=", self.theirs.id)]
        )
        self.assertEqual(theirs.order_id.name, self.theirs.name)
        self.assertEqual(theirs.order_id.order_line.product_id, self.product)
        self.assertEqual(theirs.invoice_count, 0)
        with self.assertRaises(AccessError):
            theirs.order_id.note = "changed by finance"
            theirs.order_id.flush_recordset()
        with self.assertRaises(AccessError):
            self.items(self.pulse_accountant)[0].unlink()
        with self.assertRaises(AccessError):
            self.Collection.with_user(self.pulse_accountant).create({"order_id": self.mine.id})

    def test_salesperson_sees_own_items_without_amounts(self):
        items = self.items(self.pulse_user)
        self.assertEqual(items.order_id, self.mine, "only the items of their own orders")
        self.assertEqual(items.state, "to_invoice", "they see where it stands")
        with self.assertRaises(AccessError):
            items.read(["amount_total"])
        with self.assertRaises(AccessError):
            self.items(self.pulse_user, [("amount_due", ">", 0)])
        with self.assertRaises(AccessError):
            items.accountant_id = self.pulse_accountant
        theirs = self.Collection.search([("order_id", "=", self.theirs.id)])
        with self.assertRaises(AccessError):
            theirs.with_user(self.pulse_user).read(["state"])

    def test_marketer_sees_no_amounts(self):
        items = self.items(self.pulse_marketer)
        self.assertEqual(items.order_id, self.marketers)
        for fname in ("amount_total", "amount_due", "amount_paid", "amount_due_company"):
            with self.assertRaises(AccessError, msg=fname):
                items.read([fname])
        with self.assertRaises(AccessError):
            self.items(self.pulse_marketer, [("amount_total_company", ">", 0)])
        fields_seen = self.Collection.with_user(self.pulse_marketer).fields_get()
        self.assertNotIn("amount_due", fields_seen)
        self.assertIn("state", fields_seen)

    def test_portal_and_plain_users_nothing(self):
        for user in (self.portal_user, self.internal_user):
            with self.assertRaises(AccessError):
                self.items(user)

    def test_company_isolation(self):
        other_item = self.Collection.search([("order_id", "=", self.elsewhere.id)])
        self.assertEqual(other_item.company_id, self.other_company)
        self.assertNotIn(other_item, self.items(self.pulse_accountant))
        with self.assertRaises(AccessError):
            other_item.with_user(self.pulse_accountant).read(["state"])
        self.pulse_accountant.company_ids |= self.other_company
        both = self.Collection.with_user(self.pulse_accountant).with_context(
            allowed_company_ids=(self.company | self.other_company).ids
        )
        self.assertIn(other_item, both.search([]))
        self.assertEqual(self.elsewhere.user_id, self.pulse_accountant)
        self.assertEqual(other_item.user_id, self.pulse_accountant)

    def test_menu_for_accountants_only(self):
        menu = self.env.ref("customer_pulse.menu_followups")
        for user, visible in (
            (self.pulse_accountant, True),
            (self.pulse_manager, True),
            (self.pulse_user, False),
            (self.pulse_marketer, False),
        ):
            menus = self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()
            self.assertEqual(menu.id in menus, visible, user.login)


@tagged("post_install", "-at_install")
class TestDemoFinance(TransactionCase):
    """The demo's finance hand-over: after the generated history, items for the open orders
    and payment notices, the older ones read; safe to call twice."""

    def test_generate_collections_after_history(self):
        demo_history.generate(self.env, scale="tiny", seed=11)
        counts = demo_finance.generate_collections(self.env)
        Collection = self.env["pulse.collection"]
        open_orders = self.env["sale.order"].search(
            [("state", "=", "sale"), ("invoice_status", "!=", "invoiced")]
        )
        self.assertTrue(open_orders)
        self.assertLessEqual(open_orders, Collection.search([]).order_id)
        self.assertEqual(counts["collection_items"], Collection.search_count([]))
        self.assertTrue(counts["payment_notices"], "the history's payments were told")
        self.assertTrue(all(Collection.search([]).accountant_id), "a responsible on each")
        notices = self.env["pulse.payment.notice"].search([])
        unread = self.env["mail.notification"].search(
            [("mail_message_id", "in", notices.message_id.ids), ("is_read", "=", False)]
        )
        old = fields.Date.today() - timedelta(days=14)
        self.assertFalse(
            unread.filtered(
                lambda n: notices.filtered(
                    lambda x: x.message_id == n.mail_message_id
                ).payment_move_id.date
                < old
            ),
            "the older notices are read",
        )
        again = demo_finance.generate_collections(self.env)
        self.assertEqual(again["collection_items_backfilled"], 0)
        self.assertEqual(again["payment_notices_backfilled"], 0)
        self.assertEqual(again["payment_notices"], counts["payment_notices"])
