import io

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools.pdf import OdooPdfFileReader

from .common import PulseFactsCase

REPORT = "customer_pulse.action_report_followup"


@tagged("post_install", "-at_install")
class TestFollowupReport(PulseFactsCase):
    """The per-customer follow-up report: its total is Odoo's own receivable balance of the
    customer in one company, aged in buckets, never mixed with another company's items, a
    real PDF, printed only by invoicing users in their own companies."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a = cls.env.company
        cls.company_b = cls.make_company("Pulse Report B")
        cls.customer.is_company = True
        cls.contact = cls.env["res.partner"].create(
            {"name": "Ann Payable", "parent_id": cls.customer.id, "type": "invoice"}
        )
        cls.other_customer = cls.env["res.partner"].create({"name": "Someone Else"})

    # --------------------------------------------------------------------------------
    # helpers
    # --------------------------------------------------------------------------------
    def move(
        self,
        partner,
        invoice_date,
        due_date,
        amount,
        move_type="out_invoice",
        company=None,
        ref=False,
    ):
        return self.make_move(
            partner,
            invoice_date,
            amount,
            due=due_date,
            company=company,
            move_type=move_type,
            ref=ref,
        )

    def outstanding_payment(self, partner, day, amount):
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": partner.id,
                "amount": amount,
                "date": day,
                "journal_id": self.bank_journal.id,
            }
        )
        payment.action_post()
        self.assertTrue(payment.move_id, "an unreconciled payment must be in the receivable")
        return payment

    def values(self, partner, company=None, user=None, data=None):
        report = self.env["report.customer_pulse.report_followup"]
        if user:
            report = report.with_user(user)
        if company:
            report = report.with_company(company)
        values = report._get_report_values(partner.ids, data=data)
        return values["followups"][partner.commercial_partner_id.id]

    def receivable_balance(self, partner, company):
        """Odoo's own figure, straight from the journal items."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT COALESCE(SUM(l.amount_residual), 0)
              FROM account_move_line l
              JOIN account_account a ON a.id = l.account_id
             WHERE a.account_type = 'asset_receivable' AND l.parent_state = 'posted'
               AND l.company_id = %s AND l.partner_id = %s
            """,
            (company.id, partner.id),
        )
        return self.env.cr.fetchone()[0]

    def make_history(self):
        """At 2026-06-30, one item in each bucket and on each boundary, a credit note, a
        partial payment, an unreconciled payment, an invoice to the customer's contact, and
        items of another company and another customer that must stay out."""
        self.move(self.customer, "2026-06-10", "2026-07-10", 100)  # not due
        self.move(self.contact, "2026-05-21", "2026-06-20", 200)  # 10 days late
        self.move(self.customer, "2026-05-01", "2026-05-31", 7)  # 30 days late
        self.move(self.customer, "2026-04-30", "2026-05-30", 11)  # 31 days late
        partly_paid = self.move(self.customer, "2026-04-16", "2026-05-16", 300)  # 45 days
        self.pay(partly_paid, "2026-06-01", amount=150)
        self.disputable = self.move(self.customer, "2026-03-17", "2026-04-16", 400)  # 75 days
        self.move(self.customer, "2026-01-31", "2026-03-02", 500)  # 120 days late
        paid = self.move(self.customer, "2026-01-10", "2026-02-10", 999)  # paid: absent
        self.pay(paid, "2026-02-15")
        self.move(self.customer, "2026-06-30", "2026-06-30", 50, move_type="out_refund")
        self.outstanding_payment(self.customer, "2026-06-25", 80)  # 5 days: 1-30 bucket
        self.move(
            self.customer, "2026-03-01", "2026-03-31", 1000, company=self.company_b, ref="ONLY-IN-B"
        )
        self.move(self.other_customer, "2026-03-01", "2026-03-31", 4000)

    # --------------------------------------------------------------------------------
    # tests
    # --------------------------------------------------------------------------------
    @freeze_time("2026-06-30 10:00:00")
    def test_total_is_the_receivable_balance_and_buckets_age(self):
        self.make_history()
        values = self.values(self.customer)
        balance = self.receivable_balance(self.customer, self.company_a)
        self.assertAlmostEqual(values["total"], balance)
        self.assertAlmostEqual(values["total"], self.customer.with_company(self.company_a).credit)
        self.assertAlmostEqual(values["total"], 100 + 200 + 7 + 11 + 150 + 400 + 500 - 50 - 80)
        self.assertEqual(
            {key: round(amount, 2) for key, amount in values["buckets"].items()},
            {
                "not_due": 100 - 50,
                "b1_30": 200 + 7 - 80,
                "b31_60": 11 + 150,
                "b61_90": 400,
                "b90": 500,
            },
        )
        self.assertAlmostEqual(values["overdue"], values["total"] - 50)
        self.assertAlmostEqual(sum(values["lines"].mapped("amount_residual")), values["total"])
        self.assertEqual(values["lines"].company_id, self.company_a)
        self.assertEqual(values["lines"].partner_id, self.customer)
        self.assertEqual(
            len(values["lines"]), 9, "8 open documents and the payment, not the paid one"
        )
        # printed from the contact: the same customer, the same figures
        self.assertAlmostEqual(self.values(self.contact)["total"], values["total"])

    @freeze_time("2026-06-30 10:00:00")
    def test_reminders_promises_and_disputes(self):
        """The follow-up's history is in the report: the reminder sent, the promise, the
        disputed invoice (still in the total, which stays Odoo's balance)."""
        self.make_history()
        self.env["pulse.followup"]._run()
        self.env["pulse.followup.event"]._process_due()
        self.disputable._pulse_dispute("Wrong quantity delivered", "2026-07-31")
        followup = self.env["pulse.followup"].search(
            [("partner_id", "=", self.customer.id), ("company_id", "=", self.company_a.id)]
        )
        self.env["pulse.followup.promise"].create(
            {
                "followup_id": followup.id,
                "date": "2026-07-07",
                "amount": 250,
                "note": "Pays 250 next Tuesday",
            }
        )
        values = self.values(self.customer)
        self.assertAlmostEqual(
            values["total"], self.receivable_balance(self.customer, self.company_a)
        )
        self.assertAlmostEqual(values["disputed"], 400)
        self.assertEqual(values["disputes"], self.disputable)
        sent = values["events"].filtered(lambda e: e.state == "done")
        self.assertTrue(sent)
        self.assertEqual(values["events"].company_id, self.company_a)
        self.assertEqual(values["promises"].note, "Pays 250 next Tuesday")
        html = self.render_html(self.customer, company=self.company_a)
        self.assertIn("Wrong quantity delivered", html)
        self.assertIn("Pays 250 next Tuesday", html)
        self.assertIn(sent[0].level_id.name, html)
        self.assertIn("Reminder history", html)
        # nothing of company A's follow-up in company B's report (B has its own reminder)
        values_b = self.values(self.customer, company=self.company_b)
        self.assertTrue(values_b["events"])
        self.assertEqual(values_b["events"].company_id, self.company_b)
        self.assertFalse(values_b["promises"])
        self.assertFalse(values_b["disputed"])

    @freeze_time("2026-06-30 10:00:00")
    def test_second_company_never_mixes(self):
        self.make_history()
        values_b = self.values(self.customer, company=self.company_b)
        self.assertAlmostEqual(values_b["total"], 1000)
        self.assertAlmostEqual(
            values_b["total"], self.receivable_balance(self.customer, self.company_b)
        )
        self.assertAlmostEqual(values_b["total"], self.customer.with_company(self.company_b).credit)
        self.assertEqual(values_b["lines"].company_id, self.company_b)
        self.assertEqual(values_b["buckets"]["b90"], 1000)
        # the workspace may name the company; the header follows it
        html_a = self.render_html(self.customer, company=self.company_a)
        html_b = self.render_html(self.customer, company=self.company_b)
        self.assertNotIn("ONLY-IN-B", html_a)
        self.assertIn("ONLY-IN-B", html_b)
        self.assertIn(self.company_b.name, html_b)
        self.assertNotIn(self.company_b.name, html_a)
        self.assertIn(self.company_a.name, html_a)

    def render_html(self, partner, company):
        html, _fmt = (
            self.env["ir.actions.report"]
            .with_company(company)
            ._render_qweb_html(REPORT, partner.ids, data={"company_id": company.id})
        )
        return html.decode()

    @freeze_time("2026-06-30 10:00:00")
    def test_printed_from_the_workspace(self):
        """The workspace's Print letter: the report action names the company in its data,
        and the web client sends the customers as the context's active ids, not as ids."""
        self.make_history()
        action = (
            self.env.ref(REPORT)
            .with_company(self.company_b)
            .report_action(self.customer, data={"company_id": self.company_b.id}, config=False)
        )
        self.assertEqual(action["context"]["active_ids"], self.customer.ids)
        html, _fmt = self.env["ir.actions.report"]._render_qweb_html(
            REPORT, None, data={**action["data"], "context": action["context"]}
        )
        html = html.decode()
        self.assertIn(self.customer.name, html)
        self.assertIn("ONLY-IN-B", html)
        self.assertIn(self.company_b.name, html)

    @freeze_time("2026-06-30 10:00:00")
    def test_pdf_renders_with_wkhtmltopdf(self):
        self.make_history()
        pdf, fmt = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf(REPORT, res_ids=self.customer.ids)
        )
        self.assertEqual(fmt, "pdf")
        self.assertTrue(pdf.startswith(b"%PDF"), pdf[:200])
        reader = OdooPdfFileReader(io.BytesIO(pdf), strict=False)
        text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
        self.assertIn("Follow-up report", text)
        self.assertIn(self.customer.name, text)
        self.assertIn(self.company_a.name, text)
        self.assertIn("1,238.00", text)  # the total
        self.assertIn("RINV/", text)  # the credit note is an open item
        self.assertNotIn("4,000.00", text)  # another customer's invoice

    @freeze_time("2026-06-30 10:00:00")
    def test_who_may_print(self):
        self.make_history()
        # the accountant of company A prints company A
        self.pulse_accountant.write(
            {"company_ids": [Command.set(self.company_a.ids)], "company_id": self.company_a.id}
        )
        self.assertAlmostEqual(
            self.values(self.customer, user=self.pulse_accountant)["total"],
            self.receivable_balance(self.customer, self.company_a),
        )
        # ...but never company B's amounts, however asked
        with self.assertRaises(AccessError):
            self.values(self.customer, user=self.pulse_accountant, company=self.company_b)
        with self.assertRaises(AccessError):
            self.values(
                self.customer, user=self.pulse_accountant, data={"company_id": self.company_b.id}
            )
        # a salesperson without invoice rights prints no amounts at all, in no company; a
        # salesperson of both companies neither
        salesperson_ab = self.make_user(
            "pulse_sales_ab", "user", companies=self.company_a | self.company_b
        )
        for user in (self.pulse_user, salesperson_ab, self.pulse_marketer):
            with self.assertRaises(AccessError, msg=user.login):
                self.values(self.customer, user=user)
            with self.assertRaises(AccessError, msg=user.login):
                self.env["ir.actions.report"].with_user(user)._render_qweb_html(
                    REPORT, self.customer.ids
                )
        # portal: nothing
        with self.assertRaises(AccessError):
            self.values(self.customer, user=self.portal_user)
        with self.assertRaises(AccessError):
            self.env["ir.actions.report"].with_user(self.portal_user)._render_qweb_html(
                REPORT, self.customer.ids
            )
        # the print menu offers it to invoicing users only
        report = self.env.ref(REPORT)
        self.assertIn(self.env.ref("account.group_account_invoice"), report.groups_id)
