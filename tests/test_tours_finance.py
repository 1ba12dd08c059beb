from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestToursFinance(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        new_test_user(
            cls.env,
            login="tour_collect_accountant",
            password="tour_collect_accountant",
            groups="base.group_user,customer_pulse.group_pulse_accountant",
        )
        customer = cls.env["res.partner"].create(
            {"name": "Tour Collect Co", "is_company": True, "customer_rank": 1}
        )
        product = cls.env["product.product"].create(
            {"name": "Collect widget", "list_price": 100.0, "invoice_policy": "order"}
        )
        bank = cls.env["account.journal"].search(
            [("type", "=", "bank"), ("company_id", "=", cls.env.company.id)], limit=1
        )
        today = fields.Date.context_today(customer)

        def order(term=None):
            order = cls.env["sale.order"].create(
                {
                    "partner_id": customer.id,
                    "payment_term_id": term.id if term else False,
                    "order_line": [
                        Command.create(
                            {"product_id": product.id, "product_uom_qty": 10, "tax_id": []}
                        )
                    ],
                }
            )
            order.action_confirm()
            return order

        # invoiced today, 400 of 1,000 paid: the earliest expected payment
        invoiced = order()
        invoice = invoiced._create_invoices()
        invoice.write({"invoice_date": today, "invoice_date_due": today})
        invoice.action_post()
        cls.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create(
            {
                "payment_date": today,
                "journal_id": bank.id,
                "amount": 400.0,
                "payment_difference_handling": "open",
            }
        )._create_payments()
        # still to invoice, expected in 45 days
        order(cls.env.ref("account.account_payment_term_45days"))

    def test_to_collect_by_expected_week(self):
        """An accountant opens Follow-ups > To collect, groups by expected week and opens an
        item."""
        self.start_tour("/odoo", "customer_pulse_to_collect", login="tour_collect_accountant")
