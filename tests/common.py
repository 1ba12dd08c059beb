from odoo import Command
from odoo.tests import HttpCase, new_test_user
from odoo.tests.common import TransactionCase
from odoo.tools import SQL

# make_user's short names for the Customer Pulse groups
PULSE_GROUPS = {
    "user": "customer_pulse.group_pulse_user",
    "marketer": "customer_pulse.group_pulse_marketer",
    "accountant": "customer_pulse.group_pulse_accountant",
    "manager": "customer_pulse.group_pulse_manager",
}


class PulseCommon:
    """The users and builders every test shares: class methods on cls.env, for
    TransactionCase and HttpCase alike (as in Odoo's own addons/*/tests/common.py).
    Builders make ERP records through Odoo's own business methods."""

    @classmethod
    def setup_pulse_users(cls):
        """One user per Customer Pulse group, an internal user with none, a portal user.
        Each logs in with their login as password (tours)."""
        cls.pulse_user = cls.make_user("pulse_user", "user")
        cls.pulse_marketer = cls.make_user("pulse_marketer", "marketer")
        cls.pulse_accountant = cls.make_user("pulse_accountant", "accountant")
        cls.pulse_manager = cls.make_user("pulse_manager", "manager")
        cls.internal_user = cls.make_user("plain_user")
        cls.portal_user = cls.make_user("portal_user", "base.group_portal")

    @classmethod
    def setup_pulse_goods(cls):
        """A product of its own category (no taxes, invoiced on order) and the bank journal."""
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

    # ------------------------------------------------------------------ users
    @classmethod
    def make_user(cls, login, *groups, companies=None, **vals):
        """A user who logs in with `login` as password. groups: Customer Pulse roles (user,
        marketer, accountant, manager) or group xml ids; an internal user unless one is
        base.group_portal. companies: the allowed companies, the first one the current."""
        xmlids = [PULSE_GROUPS.get(group, group) for group in groups]
        if "base.group_portal" not in xmlids:
            xmlids.insert(0, "base.group_user")
        if companies:
            vals.update(company_id=companies[0].id, company_ids=[Command.set(companies.ids)])
        return new_test_user(cls.env, login=login, password=login, groups=",".join(xmlids), **vals)

    # ------------------------------------------------------------------ partners, companies
    @classmethod
    def make_customer(cls, name, **vals):
        """A company that is a customer (vals on top)."""
        return cls.env["res.partner"].create(
            {"name": name, "is_company": True, "customer_rank": 1, **vals}
        )

    @classmethod
    def make_company(cls, name, **vals):
        """A second company in the current one's currency, with its chart of accounts (its
        journals), allowed to the test's user."""
        company = cls.env["res.company"].create(
            {"name": name, "currency_id": cls.env.company.currency_id.id, **vals}
        )
        cls.env["account.chart.template"].try_loading(
            cls.env.company.chart_template or "generic_coa", company=company, install_demo=False
        )
        cls.env.user.company_ids |= company
        return company

    # ------------------------------------------------------------------ orders, invoices
    @classmethod
    def make_order(cls, partner, day, qty=1, price=100.0, confirm=True, **vals):
        """A sale order of the test product, confirmed, dated `day` (none: today)."""
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
        if day:
            order.date_order = f"{day} 10:00:00"
        return order

    @classmethod
    def make_invoice(cls, order, day, post=True):
        """The order's invoice, dated `day`, due on receipt without payment terms."""
        invoice = order._create_invoices()
        invoice.invoice_date = day
        if not invoice.invoice_payment_term_id:
            invoice.invoice_date_due = day  # due on receipt
        if post:
            invoice.action_post()
        return invoice

    @classmethod
    def make_move(
        cls, partner, day, amount=100.0, due=None, company=None, move_type="out_invoice", **vals
    ):
        """A posted customer invoice (or credit note) of one untaxed line, without an order,
        in `company` (the current one by default); due on `due`, else on `day`."""
        company = company or cls.env.company
        move = (
            cls.env["account.move"]
            .with_company(company)
            .create(
                {
                    "move_type": move_type,
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "invoice_date": day,
                    "invoice_date_due": due or day,
                    "invoice_line_ids": [
                        Command.create(
                            {"name": "Widgets", "quantity": 1, "price_unit": amount, "tax_ids": []}
                        )
                    ],
                    **vals,
                }
            )
        )
        move.action_post()
        return move

    @classmethod
    def pay(cls, invoice, day, amount=None):
        """Register a payment of the invoice (in full, or `amount`) in its own company."""
        journal = cls.env["account.journal"].search(
            [("type", "=", "bank"), ("company_id", "=", invoice.company_id.id)], limit=1
        )
        wizard = (
            cls.env["account.payment.register"]
            .with_company(invoice.company_id)
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create(
                {
                    "payment_date": day,
                    "journal_id": journal.id,
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

    # ------------------------------------------------------------------ rules
    @classmethod
    def make_rule(cls, steps=None, user=None, **vals):
        """A draft rule on customers without a purchase for a year, created by `user` (the
        test's by default). steps: step values; by default one win-back email."""
        steps = steps or [
            {
                "name": "Win-back email",
                "action": "email",
                "mail_template_id": cls.env.ref("customer_pulse.mail_template_winback").id,
            }
        ]
        Rule = cls.env["pulse.rule"].with_user(user) if user else cls.env["pulse.rule"]
        return Rule.create(
            {
                "name": "Test rule",
                "trigger": "no_purchase",
                "trigger_days": 365,
                **vals,
                "step_ids": [Command.create(step) for step in steps],
            }
        )

    @classmethod
    def add_email_step(cls, parent, **vals):
        """A win-back email step of `parent`'s rule, after `parent` (vals on top)."""
        return cls.env["pulse.rule.step"].create(
            {
                "rule_id": parent.rule_id.id,
                "name": "Second email",
                "parent_id": parent.id,
                "action": "email",
                "mail_template_id": cls.env.ref("customer_pulse.mail_template_winback").id,
                **vals,
            }
        )

    # ------------------------------------------------------------------ surveys
    @classmethod
    def make_survey(cls, questions, **vals):
        """A public one-page survey. questions: list of (title, question_type, attribute,
        answers)."""
        return cls.env["survey.survey"].create(
            {
                "title": "Profile survey",
                "access_mode": "public",
                "users_login_required": False,
                "questions_layout": "one_page",
                **vals,
                "question_and_page_ids": [
                    Command.create(
                        {
                            "title": title,
                            "question_type": qtype,
                            "pulse_attribute_id": attribute.id if attribute else False,
                            "suggested_answer_ids": [
                                Command.create({"value": a}) for a in (answers or [])
                            ],
                        }
                    )
                    for title, qtype, attribute, answers in questions
                ],
            }
        )

    @classmethod
    def answer(cls, survey, answers, **create):
        """A finished participation. answers: {question title: answer as _save_lines takes
        it, or the text of the chosen suggestion(s)}."""
        user_input = survey._create_answer(check_attempts=False, **create)
        for question in survey.question_ids:
            if question.title in answers:
                value = answers[question.title]
                if question.question_type == "simple_choice":
                    value = str(
                        question.suggested_answer_ids.filtered(lambda a, v=value: a.value == v).id
                    )
                elif question.question_type == "multiple_choice":
                    value = [str(a.id) for a in question.suggested_answer_ids if a.value in value]
                user_input._save_lines(question, value)
        user_input._mark_done()
        return user_input


class PulseCase(PulseCommon, TransactionCase):
    """Shared set-up: one user per Customer Pulse group, a portal user, a customer."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.setup_pulse_users()
        cls.customer = cls.env["res.partner"].create(
            {"name": "Tour Customer", "customer_rank": 1, "email": "tour@customer.example"}
        )


class PulseFactsCase(PulseCase):
    """Goods to sell, and helpers that read the customer facts."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Stats = cls.env["pulse.partner.stats"]
        cls.Facts = cls.env["pulse.facts.engine"]
        cls.setup_pulse_goods()

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
            SQL(
                "SELECT partner_id, company_id, categ_id, first_date, last_date, order_count,"
                " quantity, amount FROM %s c ORDER BY partner_id, company_id, categ_id",
                self.env["pulse.partner.category.stats"]._table_sql,
            )
        )
        return facts, self.env.cr.fetchall()

    def refresh_incremental_and_check_full(self):
        """Refresh the queue, then check that a full refresh changes no fact. (RFM scores
        are relative to the whole company: the full refresh recomputes its quantile
        thresholds, the incremental one scores against the stored ones.)"""
        self.Facts._refresh_queue()
        incremental = self.snapshot()
        self.Facts._refresh_all()
        self.assertEqual(incremental, self.snapshot(), "incremental refresh differs from full")
        self.Stats.invalidate_model()


class PulseHttpCase(PulseCommon, HttpCase):
    """Browser tours: the shared users (their login is their password) and goods."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.setup_pulse_users()
        cls.setup_pulse_goods()
