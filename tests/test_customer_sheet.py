import io
from datetime import timedelta

from lxml import html as lxml_html

from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools.pdf import OdooPdfFileReader

from ..report.pulse_customer_sheet import ACTIVITY_COUNT
from .common import PulseFactsCase

REPORT = "customer_pulse.action_report_customer_sheet"
PRIVATE_NOTE = "Asked for sixty-day terms twice"
SHARED_WISH = "Wants delivery on Mondays"


class CustomerSheetCase(PulseFactsCase):
    """A customer with three years of orders, an overdue invoice, a segment, a running rule,
    a shared and a private profile value, and done and open activities; a salesperson of the
    Sales department, an accountant of Finance and a manager read it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ref = cls.env.ref
        cls.today = fields.Date.context_today(cls.env.user)
        cls.sales = ref("customer_pulse.department_sales")
        cls.finance = ref("customer_pulse.department_finance")
        cls.salesperson = new_test_user(
            cls.env,
            login="sheet_sales",
            name="Sheet Salesperson",
            groups="base.group_user,customer_pulse.group_pulse_user",
        )
        cls.other_salesperson = new_test_user(
            cls.env,
            login="sheet_other_sales",
            name="Other Salesperson",
            groups="base.group_user,customer_pulse.group_pulse_user",
        )
        cls.accountant = new_test_user(
            cls.env,
            login="sheet_accountant",
            name="Sheet Accountant",
            groups="base.group_user,customer_pulse.group_pulse_accountant",
        )
        cls.sales.user_ids = [Command.link(cls.salesperson.id)]
        cls.finance.user_ids = [Command.link(cls.accountant.id)]

        cls.sheet_customer = cls.env["res.partner"].create(
            {
                "name": "Sheet Customer Ltd",
                "is_company": True,
                "customer_rank": 1,
                "street": "12 Harbour Road",
                "city": "Ghent",
                "email": "orders@sheet.example",
                "user_id": cls.salesperson.id,
            }
        )
        cls.contact = cls.env["res.partner"].create(
            {"name": "Paula Buyer", "parent_id": cls.sheet_customer.id}
        )
        cls.second_customer = cls.env["res.partner"].create(
            {"name": "Second Sheet Co", "is_company": True, "customer_rank": 1}
        )

        # orders over three years, one of them invoiced and overdue
        days_ago = (1000, 700, 400, 200, 90)
        orders = [
            cls.make_order(
                cls.sheet_customer, cls.today - timedelta(days=days), user_id=cls.salesperson.id
            )
            for days in days_ago
        ]
        cls.invoice = cls.make_invoice(orders[-1], cls.today - timedelta(days=60), post=False)
        cls.invoice.invoice_date_due = cls.today - timedelta(days=30)
        cls.invoice.action_post()
        cls.make_order(cls.second_customer, cls.today - timedelta(days=20))
        cls.Facts._refresh_all()

        # a segment, a running rule with its next step
        cls.segment = cls.env["pulse.segment"].create(
            {
                "name": "Sheet hand-picked",
                "kind": "static",
                "static_partner_ids": [Command.set(cls.sheet_customer.ids)],
            }
        )
        cls.segment._refresh_safely()
        cls.rule = ref("customer_pulse.rule_winback")
        enrolment = cls.env["pulse.enrolment"].create(
            {
                "rule_id": cls.rule.id,
                "partner_id": cls.sheet_customer.id,
                "company_id": cls.company.id,
            }
        )
        cls.env["pulse.step.run"].create(
            {
                "enrolment_id": enrolment.id,
                "step_id": ref("customer_pulse.rule_winback_call").id,
                "scheduled_at": fields.Datetime.now() + timedelta(days=3),
                "state": "scheduled",
            }
        )

        # profile: a shared value and one private to Finance
        cls.Value = cls.env["pulse.attribute.value"]
        cls.wish = cls.env["pulse.attribute"].create(
            {
                "name": "Delivery wish",
                "dimension_id": ref("customer_pulse.dimension_business").id,
                "value_type": "text",
            }
        )
        cls.Value.with_user(cls.salesperson).create(
            {
                "partner_id": cls.sheet_customer.id,
                "attribute_id": cls.wish.id,
                "value_char": SHARED_WISH,
            }
        )
        cls.private_value = cls.Value.with_user(cls.accountant).create(
            {
                "partner_id": cls.sheet_customer.id,
                "attribute_id": ref("customer_pulse.attribute_finance_note").id,
                "value_char": PRIVATE_NOTE,
            }
        )

        # activities: one done on the contact, one open on the customer
        cls.call = ref("mail.mail_activity_data_call")
        cls.contact.activity_schedule(
            activity_type_id=cls.call.id,
            summary="Discuss the spring range",
            user_id=cls.salesperson.id,
        ).action_feedback(feedback="Will order in May")
        cls.sheet_customer.activity_schedule(
            activity_type_id=cls.call.id,
            summary="Confirm the May order",
            date_deadline=cls.today + timedelta(days=5),
            user_id=cls.salesperson.id,
        )

    def values(self, partners, user=None):
        report = self.env["report.customer_pulse.report_customer_sheet"]
        if user:
            report = report.with_user(user)
        return report._get_report_values(partners.ids)

    def sheet(self, partner, user=None):
        return self.values(partner, user)["sheets"][partner.commercial_partner_id.id]

    def render_html(self, partners, user=None):
        Report = self.env["ir.actions.report"]
        if user:
            Report = Report.with_user(user)
        html, _fmt = Report._render_qweb_html(REPORT, partners.ids)
        return html.decode()


@tagged("post_install", "-at_install")
class TestCustomerSheet(CustomerSheetCase):
    def test_sheet_values(self):
        sheet = self.sheet(self.contact, user=self.salesperson)  # printed from the contact
        facts = sheet["facts"]
        self.assertEqual(facts.partner_id, self.sheet_customer)
        self.assertEqual(facts.order_count, 5)
        self.assertEqual(facts.first_order_date, self.today - timedelta(days=1000))
        self.assertEqual(facts.last_order_date, self.today - timedelta(days=90))
        self.assertEqual(facts.days_since_last_order, 90)
        self.assertEqual(sheet["segments"].segment_id, self.segment)
        self.assertEqual([e.rule_id for e, _run in sheet["enrolments"]], [self.rule])
        self.assertEqual(sheet["enrolments"][0][1].step_id.name, "Call from the salesperson")
        profile = sheet["profile"].mapped("value_display")
        self.assertIn(SHARED_WISH, profile)
        self.assertNotIn(PRIVATE_NOTE, profile, "private to Finance")
        self.assertIsNone(sheet["finance"], "no invoices for a salesperson")
        self.assertEqual(
            [(a["state"], a["type"], a["document"]) for a in sheet["activities"]],
            [
                ("planned", self.call.name, False),  # on the customer itself
                ("done", self.call.name, self.contact.display_name),
            ],
        )
        # Odoo's "Call done (originally assigned to …):" heading left out
        self.assertEqual(
            sheet["activities"][1]["summary"],
            "Discuss the spring range Feedback: Will order in May",
        )

    def test_ten_activities_open_first(self):
        """Open activities first (soonest due), then the latest done; ten in all."""
        for number in range(ACTIVITY_COUNT + 2):
            self.sheet_customer.activity_schedule(
                activity_type_id=self.call.id, summary=f"Done call {number}"
            ).action_feedback()
        activities = self.sheet(self.sheet_customer, user=self.salesperson)["activities"]
        self.assertEqual(len(activities), ACTIVITY_COUNT)
        self.assertEqual(activities[0]["summary"], "Confirm the May order")
        done = [a for a in activities if a["state"] == "done"]
        self.assertEqual(len(done), ACTIVITY_COUNT - 1)
        self.assertIn(f"Done call {ACTIVITY_COUNT + 1}", done[0]["summary"], "newest first")
        self.assertNotIn("Will order in May", " ".join(a["summary"] for a in activities))

    def test_activities_read_with_the_readers_rights(self):
        """An activity done on an order of another salesperson is not on the salesperson's
        sheet (their rights: their own orders); the manager sees it."""
        order = self.make_order(
            self.sheet_customer, self.today - timedelta(days=10), user_id=self.other_salesperson.id
        )
        order.activity_schedule(
            activity_type_id=self.call.id, summary="Negotiated the other deal"
        ).action_feedback()
        own = self.sheet(self.sheet_customer, user=self.salesperson)["activities"]
        self.assertNotIn("Negotiated the other deal", " ".join(a["summary"] for a in own))
        managed = self.sheet(self.sheet_customer, user=self.pulse_manager)["activities"]
        self.assertIn(order.name, [a["document"] for a in managed])

    def test_html_shows_facts_hides_private_values_and_amounts(self):
        html = self.render_html(self.sheet_customer, user=self.salesperson)
        facts = self.facts(self.sheet_customer)
        for text in (
            "Customer sheet",
            "Sheet Customer Ltd",
            "12 Harbour Road",
            "Sheet Salesperson",
            self.company.name,
            "Sheet hand-picked",
            self.rule.name,
            SHARED_WISH,
            "Discuss the spring range",
            "Confirm the May order",
            dict(facts._fields["rfm_segment"].selection)[facts.rfm_segment],
        ):
            self.assertIn(text, html)
        # department privacy holds: the Finance note is not the salesperson's to read
        self.assertNotIn(PRIVATE_NOTE, html)
        # no invoice, no amount due, no follow-up
        self.assertNotIn(self.invoice.name, html)
        self.assertNotIn("Left to pay", html)
        self.assertNotIn("Due · overdue", html)
        self.assertNotIn("Invoiced (net of refunds)", html)
        self.assertNotIn("Open invoices", html)

    def test_accountant_sees_open_invoices_and_their_private_value(self):
        self.env["pulse.followup.level"]._ensure_company_levels()
        self.env["pulse.followup"]._refresh()
        sheet = self.sheet(self.sheet_customer, user=self.accountant)
        self.assertEqual(sheet["finance"]["invoices"], self.invoice)
        self.assertEqual(sheet["finance"]["followup"].partner_id, self.sheet_customer)
        self.assertIn(PRIVATE_NOTE, sheet["profile"].mapped("value_display"))
        html = self.render_html(self.sheet_customer, user=self.accountant)
        self.assertIn(self.invoice.name, html)
        self.assertIn("Open invoices and follow-up", html)
        self.assertIn(PRIVATE_NOTE, html)
        self.assertIn(
            dict(sheet["finance"]["followup"]._fields["state"].selection)[
                sheet["finance"]["followup"].state
            ],
            html,
        )
        # the open invoice's amount, as Odoo's receivable
        amount = self.env["ir.qweb.field.monetary"].value_to_html(
            self.invoice.amount_residual, {"display_currency": self.company.currency_id}
        )
        self.assertIn(str(amount), html)

    def test_one_sheet_per_customer(self):
        """Several customers (a contact and its company among them) print one sheet each."""
        partners = self.sheet_customer | self.contact | self.second_customer
        values = self.values(partners, user=self.salesperson)
        self.assertEqual(values["docs"], self.sheet_customer | self.second_customer)
        html = self.render_html(partners, user=self.salesperson)
        articles = lxml_html.fromstring(html).xpath("//div[hasclass('o_pulse_customer_sheet')]")
        self.assertEqual(len(articles), 2)
        self.assertIn("Sheet Customer Ltd", articles[0].text_content())
        self.assertIn("Second Sheet Co", articles[1].text_content())
        self.assertNotIn("Sheet hand-picked", articles[1].text_content())

    def test_customer_without_facts(self):
        newcomer = self.env["res.partner"].create({"name": "Sheet Newcomer"})
        html = self.render_html(newcomer, user=self.salesperson)
        self.assertIn("Sheet Newcomer", html)
        self.assertIn("No confirmed order yet", html)
        self.assertIn("In no segment", html)
        self.assertIn("No activity", html)
        self.assertFalse(self.values(self.env["res.partner"], user=self.salesperson)["docs"])

    def test_pdf_renders_with_wkhtmltopdf(self):
        self.env["pulse.followup.level"]._ensure_company_levels()
        self.env["pulse.followup"]._refresh()
        pdf, fmt = (
            self.env["ir.actions.report"]
            .with_user(self.accountant)
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf(REPORT, res_ids=(self.sheet_customer | self.second_customer).ids)
        )
        self.assertEqual(fmt, "pdf")
        self.assertTrue(pdf.startswith(b"%PDF"), pdf[:200])
        reader = OdooPdfFileReader(io.BytesIO(pdf), strict=False)
        pages = [" ".join(page.extract_text().split()) for page in reader.pages]
        # each customer from a new page: the second's pages follow the first's
        second_start = next(i for i, text in enumerate(pages) if "Second Sheet Co" in text)
        first, second = " ".join(pages[:second_start]), " ".join(pages[second_start:])
        self.assertGreater(second_start, 0)
        self.assertIn("Customer sheet", first)
        self.assertIn("Sheet Customer Ltd", first)
        self.assertIn(self.invoice.name, first)
        self.assertIn(PRIVATE_NOTE, first)
        self.assertIn("Customer sheet", pages[second_start])
        self.assertNotIn("Sheet Customer Ltd", second)
        self.assertNotIn(self.invoice.name, second)

    def test_who_may_print(self):
        # without Customer Pulse rights: a clear refusal, whatever the way in
        with self.assertRaisesRegex(AccessError, "Only Customer Pulse users may print"):
            self.render_html(self.sheet_customer, user=self.internal_user)
        for user in (self.internal_user, self.portal_user):
            with self.assertRaises(AccessError, msg=user.login):
                self.render_html(self.sheet_customer, user=user)
            with self.assertRaises(AccessError, msg=user.login):
                self.values(self.sheet_customer, user=user)
        # the Print menu offers it to Customer Pulse users only
        report = self.env.ref(REPORT)
        self.assertEqual(report.groups_id, self.env.ref("customer_pulse.group_pulse_user"))
        self.assertEqual(report.binding_model_id.model, "res.partner")
        for user, offered in (
            (self.salesperson, True),
            (self.pulse_manager, True),
            (self.internal_user, False),
        ):
            bindings = self.env["ir.actions.actions"].with_user(user).get_bindings("res.partner")
            self.assertEqual(
                report.id in [action["id"] for action in bindings.get("report", [])],
                offered,
                user.login,
            )


@tagged("post_install", "-at_install")
class TestReportingMenus(CustomerSheetCase):
    MENUS = {
        "customer_pulse.menu_reporting_pipeline": "crm.crm_opportunity_report_action",
        "customer_pulse.menu_reporting_sales": "sale.action_order_report_all",
        "customer_pulse.menu_reporting_activities": "crm.crm_activity_report_action",
        "customer_pulse.menu_reporting_mailing": "mass_mailing.mailing_trace_report_action_mail",
    }

    def visible(self, user):
        Menu = self.env["ir.ui.menu"].with_user(user)
        ids = Menu._visible_menu_ids()
        return {xmlid for xmlid in self.MENUS if self.env.ref(xmlid).id in ids}

    def test_menus_open_odoo_reports(self):
        for xmlid, action in self.MENUS.items():
            menu = self.env.ref(xmlid)
            self.assertEqual(menu.action, self.env.ref(action), xmlid)
            self.assertEqual(
                menu.parent_id.parent_id, self.env.ref("customer_pulse.menu_reporting")
            )

    def test_menus_follow_the_reports_rights(self):
        """Each entry shows only to users who may open the report behind it."""
        self.assertEqual(set(self.MENUS), self.visible(self.pulse_manager))
        self.assertEqual(
            {"customer_pulse.menu_reporting_pipeline", "customer_pulse.menu_reporting_activities"},
            self.visible(self.salesperson),
        )
        self.assertIn("customer_pulse.menu_reporting_mailing", self.visible(self.pulse_marketer))
        self.assertNotIn("customer_pulse.menu_reporting_sales", self.visible(self.pulse_marketer))
        self.assertFalse(self.visible(self.internal_user))
        section = self.env.ref("customer_pulse.menu_reporting_odoo").id
        self.assertNotIn(
            section, self.env["ir.ui.menu"].with_user(self.internal_user)._visible_menu_ids()
        )
        # what shows opens: the user may read the report's model
        for user in (self.salesperson, self.pulse_marketer, self.pulse_manager):
            for xmlid in self.visible(user):
                model = self.env.ref(xmlid).action.res_model
                self.assertTrue(
                    self.env[model].with_user(user).has_access("read"), (user.login, xmlid)
                )
