from unittest.mock import patch

from odoo.tests import HttpCase, new_test_user, tagged

REPORT_NAME = "customer_pulse.report_customer_sheet"


@tagged("post_install", "-at_install")
class TestToursSheet(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.salesperson = new_test_user(
            cls.env,
            login="tour_sheet_sales",
            password="tour_sheet_sales",
            groups="base.group_user,customer_pulse.group_pulse_user",
        )
        new_test_user(
            cls.env,
            login="tour_sheet_plain",
            password="tour_sheet_plain",
            groups="base.group_user",
        )
        cls.customer = cls.env["res.partner"].create(
            {
                "name": "Tour Sheet Customer",
                "is_company": True,
                "customer_rank": 1,
                "user_id": cls.salesperson.id,
            }
        )
        product = cls.env["product.product"].create(
            {"name": "Tour sheet widget", "list_price": 42.0, "invoice_policy": "order"}
        )
        order = cls.env["sale.order"].create(
            {
                "partner_id": cls.customer.id,
                "user_id": cls.salesperson.id,
                "order_line": [(0, 0, {"product_id": product.id})],
            }
        )
        order.action_confirm()
        cls.env["pulse.facts.engine"]._refresh_all()

    def test_salesperson_prints_the_customer_sheet(self):
        """A salesperson finds "Customer sheet" in the customer's Print menu and prints it."""
        Report = self.env.registry["ir.actions.report"]
        real_render = Report._render_qweb_pdf
        printed = []

        def render(report, report_ref, res_ids=None, data=None):
            content, kind = real_render(report, report_ref, res_ids=res_ids, data=data)
            printed.append((report_ref, res_ids, report.env.uid, content))
            return content, kind

        with patch.object(Report, "_render_qweb_pdf", render):
            self.start_tour("/odoo", "customer_pulse_sheet", login="tour_sheet_sales")
        self.assertEqual(len(printed), 1, printed)
        report_ref, res_ids, uid, content = printed[0]
        self.assertEqual(report_ref, REPORT_NAME)
        self.assertEqual(list(res_ids), self.customer.ids)
        self.assertEqual(uid, self.salesperson.id)
        # (a test run renders the HTML that wkhtmltopdf would print)
        self.assertIn("Tour Sheet Customer", content.decode())

    def test_report_url(self):
        """The report's URL answers the salesperson with the sheet, and refuses a user
        without Customer Pulse rights."""
        url = f"/report/html/{REPORT_NAME}/{self.customer.id}"
        self.authenticate("tour_sheet_sales", "tour_sheet_sales")
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200)
        self.assertIn("Customer sheet", response.text)
        self.assertIn("Tour Sheet Customer", response.text)
        self.authenticate("tour_sheet_plain", "tour_sheet_plain")
        with self.assertLogs("odoo.http", "WARNING"):
            response = self.url_open(url)
        self.assertNotEqual(response.status_code, 200)
        self.assertNotIn("Tour Sheet Customer", response.text)
