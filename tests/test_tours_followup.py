from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from .common import PulseHttpCase


@tagged("post_install", "-at_install")
class TestToursFollowup(PulseHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.accountant = cls.pulse_accountant
        today = fields.Date.context_today(cls.accountant)
        cls.promising, cls.reminded = (
            cls.make_customer(name, email=f"accounts@{name.lower().replace(' ', '')}.example")
            for name in ("Tour Promise Co", "Tour Reminder Co")
        )
        for partner in (cls.promising, cls.reminded):
            # 300 overdue for 30 days: the first reminder is due
            cls.make_move(
                partner,
                today - timedelta(days=60),
                300,
                due=today - timedelta(days=30),
            )
        # the rows of the follow-up list, as the daily run leaves them before sending
        cls.env["pulse.followup.level"]._ensure_company_levels()
        cls.env["pulse.followup"]._refresh()

    def test_accountant_promise_reminder_report(self):
        """The accountant opens Follow-ups, records a promise for one customer, sends the
        reminder to another now and prints that customer's follow-up report."""
        Report = self.env.registry["ir.actions.report"]
        real_render = Report._render_qweb_pdf
        printed = []

        def render(report, report_ref, res_ids=None, data=None):
            content, kind = real_render(report, report_ref, res_ids=res_ids, data=data)
            printed.append((report_ref, dict(data or {}), content))
            return content, kind

        with patch.object(Report, "_render_qweb_pdf", render):
            self.start_tour("/odoo", "customer_pulse_followup", login="pulse_accountant")

        Followup = self.env["pulse.followup"]
        promising = Followup.search([("partner_id", "=", self.promising.id)])
        self.assertEqual(promising.promise_ids.state, "open")
        self.assertEqual(promising.promise_ids.amount, 150)
        self.assertEqual(promising.promise_ids.user_id, self.accountant)
        self.assertFalse(promising.event_ids, "no reminder while the promise is in force")
        reminded = Followup.search([("partner_id", "=", self.reminded.id)])
        sent = reminded.event_ids.filtered(lambda e: e.state == "done")
        self.assertEqual(len(sent), 1)
        self.assertTrue(sent.mail_id)
        self.assertEqual(sent.user_id, self.accountant)
        # the report of that customer and of that follow-up's company
        self.assertEqual(len(printed), 1, printed)
        report_ref, data, content = printed[0]
        self.assertEqual(report_ref, "customer_pulse.report_followup")
        self.assertEqual(data.get("company_id"), self.company.id)
        # (a test run renders the HTML that wkhtmltopdf would print)
        content = content.decode()
        self.assertIn("Tour Reminder Co", content)
        self.assertNotIn("Tour Promise Co", content)
        self.assertIn("300.00", content)
