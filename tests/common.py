from odoo.tests import new_test_user
from odoo.tests.common import TransactionCase


class PulseCase(TransactionCase):
    """Shared set-up: one user per Customer Pulse group, a portal user, a customer."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.pulse_user = new_test_user(
            cls.env, login="pulse_user", groups="base.group_user,customer_pulse.group_pulse_user"
        )
        cls.pulse_marketer = new_test_user(
            cls.env,
            login="pulse_marketer",
            groups="base.group_user,customer_pulse.group_pulse_marketer",
        )
        cls.pulse_accountant = new_test_user(
            cls.env,
            login="pulse_accountant",
            groups="base.group_user,customer_pulse.group_pulse_accountant",
        )
        cls.pulse_manager = new_test_user(
            cls.env,
            login="pulse_manager",
            groups="base.group_user,customer_pulse.group_pulse_manager",
        )
        cls.internal_user = new_test_user(cls.env, login="plain_user", groups="base.group_user")
        cls.portal_user = new_test_user(cls.env, login="portal_user", groups="base.group_portal")
        cls.customer = cls.env["res.partner"].create(
            {"name": "Tour Customer", "customer_rank": 1, "email": "tour@customer.example"}
        )


class PulseFactsCase(PulseCase):
    """Helpers that make ERP history through Odoo's own business methods."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Stats = cls.env["pulse.partner.stats"]
        categ = cls.env["product.category"].create({"name": "Pulse test goods"})
        cls.product = cls.env["product.product"].create(
            {
                "name": "Pulse widget",
                "list_price": 100.0,
                "invoice_policy": "order",
                "type": "consu",
                "categ_id": categ.id,
                "taxes_id": [],
            }
        )
        cls.bank_journal = cls.env["account.journal"].search(
            [("type", "=", "bank"), ("company_id", "=", cls.env.company.id)], limit=1
        )

    @classmethod
    def make_order(cls, partner, day, qty=1, price=100.0, confirm=True, **vals):
        order = cls.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "order_line": [
                    (
                        0,
                        0,
                        {
                            "product_id": cls.product.id,
                            "product_uom_qty": qty,
                            "price_unit": price,
                            "tax_id": [],
                        },
                    ),
                ],
                **vals,
            }
        )
        if confirm:
            order.action_confirm()
        order.date_order = f"{day} 10:00:00"
        return order

    @classmethod
    def make_invoice(cls, order, day, post=True):
        invoice = order._create_invoices()
        invoice.invoice_date = day
        if not invoice.invoice_payment_term_id:
            invoice.invoice_date_due = day  # due on receipt
        if post:
            invoice.action_post()
        return invoice

    @classmethod
    def pay(cls, invoice, day, amount=None):
        wizard = (
            cls.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create(
                {
                    "payment_date": day,
                    "journal_id": cls.bank_journal.id,
                    **({"amount": amount, "payment_difference_handling": "open"} if amount else {}),
                }
            )
        )
        return wizard._create_payments()

    @classmethod
    def refund(cls, invoice, day, cancel=False):
        refund = invoice._reverse_moves([{"invoice_date": day, "date": day}], cancel=cancel)
        if not cancel:
            refund.action_post()
        return refund

    def facts(self, partner, company=None):
        return self.Stats.search(
            [("partner_id", "=", partner.id), ("company_id", "=", (company or self.env.company).id)]
        )

    def snapshot(self):
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT partner_id, company_id, first_order_date, last_order_date, order_count,"
            " order_amount, invoiced_amount, invoice_count, last_invoice_date,"
            " last_payment_date, amount_due, amount_overdue, oldest_overdue_date,"
            " avg_days_between_orders, next_order_date, rfm_window_orders, rfm_window_amount"
            " FROM pulse_partner_stats ORDER BY partner_id, company_id"
        )
        facts = self.env.cr.fetchall()
        self.env.cr.execute(
            "SELECT partner_id, company_id, categ_id, first_date, last_date, order_count,"
            " quantity, amount FROM pulse_partner_category_stats"
            " ORDER BY partner_id, company_id, categ_id"
        )
        return facts, self.env.cr.fetchall()

    def refresh_incremental_and_check_full(self):
        """Refresh the queue, then check that a full refresh changes no fact. (RFM scores
        are relative to the whole company: the full refresh recomputes its quantile
        thresholds, the incremental one scores against the stored ones.)"""
        self.Stats._refresh_queue()
        incremental = self.snapshot()
        self.Stats._refresh_all()
        self.assertEqual(incremental, self.snapshot(), "incremental refresh differs from full")
        self.Stats.invalidate_model()
