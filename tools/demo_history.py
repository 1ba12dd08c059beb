"""Realistic ERP history for Customer Pulse demos and tests.

Not addon data: ``make run`` calls :func:`generate` once on a new demo database, and the tests
call it at a small scale. Everything goes through Odoo's own business methods (orders
confirmed, invoices posted, payments registered and reconciled, credit notes reversed), so
Odoo's own reports agree with what Customer Pulse computes. Deterministic for a given seed and
day; all dates are relative to today.

Customer archetypes that later features must find:

``loyal``     buys every 3-6 weeks for three years
``seasonal``  buys in the same two months every year
``one_time``  a single order, long ago
``lapsed``    bought regularly, then stopped 13-24 months ago
``new``       first order within the last 90 days
``big``       large, frequent orders (key accounts)
``late``      buys monthly but pays 30-120 days late; some invoices overdue now
"""

import logging
import random
import unicodedata
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from dateutil.relativedelta import relativedelta

from odoo import Command, fields

_logger = logging.getLogger(__name__)

ARCHETYPES = ("loyal", "seasonal", "one_time", "lapsed", "new", "big", "late")

# Share of customers per archetype (sums to 1).
ARCHETYPE_MIX = {
    "loyal": 0.18,
    "seasonal": 0.14,
    "one_time": 0.18,
    "lapsed": 0.16,
    "new": 0.12,
    "big": 0.08,
    "late": 0.14,
}

# Scales: number of customer accounts (companies + individuals).
SCALES = {"tiny": 7, "small": 40, "demo": 200, "large": 1000}

LOCALES = {
    "en_US": "US",
    "en_GB": "GB",
    "de_DE": "DE",
    "fr_FR": "FR",
    "hu_HU": "HU",
    "nl_NL": "NL",
}
# Customers of these countries are invoiced in EUR.
EURO_COUNTRIES = {"DE", "FR", "NL"}

CATALOGUE = {
    "Office Furniture": [
        ("Ergonomic Desk Chair", 289.0),
        ("Standing Desk 160x80", 649.0),
        ("Filing Cabinet, 3 drawers", 179.0),
        ("Meeting Table Oak", 1190.0),
        ("Monitor Arm, dual", 119.0),
    ],
    "IT Hardware": [
        ("Laptop 14in Pro", 1390.0),
        ("27in 4K Monitor", 379.0),
        ("Wireless Keyboard & Mouse", 69.0),
        ("Docking Station USB-C", 219.0),
        ("Network Switch 24 ports", 459.0),
    ],
    "Software Subscriptions": [
        ("Office Suite, 1 seat / year", 129.0),
        ("Antivirus, 10 seats / year", 249.0),
        ("Cloud Backup 1 TB / year", 99.0),
    ],
    "Coffee & Pantry": [
        ("Coffee Beans 1 kg", 24.0),
        ("Tea Selection Box", 18.0),
        ("Oat Milk, case of 12", 21.0),
        ("Paper Cups, 1000", 35.0),
    ],
    "Cleaning Supplies": [
        ("Surface Cleaner 5 L", 29.0),
        ("Paper Towels, 24 rolls", 27.0),
        ("Hand Soap Refill 5 L", 32.0),
    ],
    "Seasonal Decoration": [
        ("Christmas Tree 180 cm", 149.0),
        ("LED Garland 10 m", 39.0),
        ("Summer Terrace Parasol", 259.0),
    ],
}

TEAMS = {
    "Direct Sales": ["Maria Keller", "Tom Novak", "Aisha Rahman"],
    "Key Accounts": ["Laszlo Varga", "Claire Dubois"],
}

SURVEY_TITLE = "Customer satisfaction"
DEAL_NAMES = [
    "Office refit",
    "Laptop renewal",
    "Pantry contract",
    "Cleaning contract",
    "New branch",
]


def _ctx_env(env):
    # No mail, no tracking, no followers' notifications while generating history.
    return env(
        context=dict(
            env.context,
            tracking_disable=True,
            mail_notrack=True,
            mail_create_nolog=True,
            mail_create_nosubscribe=True,
            mail_auto_subscribe_no_notify=True,
            no_reset_password=True,
        )
    )


class DemoHistory:
    """Generates a company's history; :meth:`run` returns the counts it made."""

    def __init__(self, env, scale="demo", seed=42, today=None):
        self.env = _ctx_env(env)
        self.customers_target = SCALES[scale] if isinstance(scale, str) else int(scale)
        self.rng = random.Random(seed)
        self.seed = seed
        self.today = today or fields.Date.context_today(env["res.partner"])
        self.company = self.env.company
        self.currency = self.company.currency_id
        self.archetypes = defaultdict(list)  # archetype -> [commercial partner ids]
        self.counts = defaultdict(int)

    # ------------------------------------------------------------------ set-up
    def _setup_company(self):
        env = self.env
        if self.company.name in ("My Company", "YourCompany"):
            self.company.write(
                {
                    "name": "Aurora Office Supplies",
                    "street": "12 Harbour Street",
                    "city": "Rotterdam",
                    "zip": "3011",
                    "email": "hello@aurora-office.example",
                    "phone": "+31 10 555 0100",
                }
            )
        self.euro = env.ref("base.EUR")
        if self.euro == self.currency:
            self.euro = env.ref("base.USD")
        self.euro.active = True
        rates = []
        start = self.today - relativedelta(years=3, months=1)
        existing = set(
            env["res.currency.rate"]
            .search([("currency_id", "=", self.euro.id), ("company_id", "=", self.company.id)])
            .mapped("name")
        )
        day = start.replace(day=1)
        while day <= self.today:
            if day not in existing:
                rates.append(
                    {
                        "currency_id": self.euro.id,
                        "company_id": self.company.id,
                        "name": day,
                        "rate": round(0.88 + 0.06 * self.rng.random(), 4),
                    }
                )
            day += relativedelta(months=1)
        env["res.currency.rate"].create(rates)
        self.euro_pricelist = env["product.pricelist"].create(
            {"name": f"Euro prices ({self.euro.name})", "currency_id": self.euro.id}
        )
        self.term_30 = env.ref("account.account_payment_term_30days")
        self.term_immediate = env.ref("account.account_payment_term_immediate")
        self.term_45 = env.ref("account.account_payment_term_45days")
        self.bank_journal = env["account.journal"].search(
            [("type", "=", "bank"), ("company_id", "=", self.company.id)], limit=1
        )

    def _setup_sales_teams(self):
        env = self.env
        salesman = env.ref("sales_team.group_sale_salesman")
        self.salespeople = env["res.users"]
        self.team_of = {}
        for team_name, people in TEAMS.items():
            users = env["res.users"]
            for name in people:
                login = name.lower().replace(" ", ".") + "@aurora-office.example"
                user = env["res.users"].search([("login", "=", login)], limit=1)
                if not user:
                    user = env["res.users"].create(
                        {
                            "name": name,
                            "login": login,
                            "email": login,
                            "groups_id": [Command.link(salesman.id)],
                            "company_id": self.company.id,
                            "company_ids": [Command.link(self.company.id)],
                        }
                    )
                users |= user
            team = env["crm.team"].search([("name", "=", team_name)], limit=1) or env[
                "crm.team"
            ].create({"name": team_name, "company_id": self.company.id})
            team.write({"member_ids": [Command.link(u.id) for u in users], "user_id": users[0].id})
            for user in users:
                self.team_of[user.id] = team
            self.salespeople |= users
        self.key_account_users = self.salespeople.filtered(
            lambda u: self.team_of[u.id].name == "Key Accounts"
        )

    def _setup_products(self):
        env = self.env
        self.products_by_categ = {}
        parent = env["product.category"].create(
            {"name": "Aurora catalogue", "parent_id": env.ref("product.product_category_all").id}
        )
        for categ_name, items in CATALOGUE.items():
            categ = env["product.category"].create({"name": categ_name, "parent_id": parent.id})
            self.products_by_categ[categ_name] = env["product.product"].create(
                [
                    {
                        "name": name,
                        "categ_id": categ.id,
                        "list_price": price,
                        "standard_price": round(price * 0.6, 2),
                        "type": "service" if "year" in name else "consu",
                        "invoice_policy": "order",
                        "sale_ok": True,
                        "default_code": f"AUR-{categ.id:02d}{i:02d}",
                    }
                    for i, (name, price) in enumerate(items, 1)
                ]
            )
            self.counts["products"] += len(items)

    # --------------------------------------------------------------- customers
    def _fakers(self):
        from faker import Faker

        fakers = {}
        for i, loc in enumerate(LOCALES):
            fk = Faker(loc)
            fk.seed_instance(self.seed + i)
            fakers[loc] = fk
        return fakers

    def _archetype_plan(self):
        n = self.customers_target
        plan = []
        for arch in ARCHETYPES:
            plan += [arch] * max(1, round(n * ARCHETYPE_MIX[arch]))
        plan = plan[:n] if len(plan) > n else plan + ["loyal"] * (n - len(plan))
        # every archetype present even at the smallest scale
        missing = [a for a in ARCHETYPES if a not in plan]
        plan = plan[: len(plan) - len(missing)] + missing
        self.rng.shuffle(plan)
        return plan

    def _create_customers(self):
        env = self.env
        fakers = self._fakers()
        countries = {
            code: env["res.country"].search([("code", "=", code)], limit=1)
            for code in LOCALES.values()
        }
        tags = {
            name: env["res.partner.category"].create({"name": name})
            for name in ("Retail", "Wholesale", "Public sector", "Start-up", "Hospitality")
        }
        categ_names = list(CATALOGUE)
        vals_list = []
        meta = []
        for arch in self._archetype_plan():
            loc = self.rng.choice(list(LOCALES))
            fk = fakers[loc]
            country = countries[LOCALES[loc]]
            is_company = arch in ("big", "late") or self.rng.random() < 0.7
            name = fk.company() if is_company else fk.name()
            ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
            domain_name = "".join(c for c in ascii_name.lower() if c.isalnum())[:18] or "customer"
            salesperson = (
                self.rng.choice(self.key_account_users)
                if arch == "big"
                else self.rng.choice(self.salespeople)
            )
            if arch == "late":
                term = self.term_30
            elif arch == "big":
                term = self.term_45
            else:
                term = self.rng.choice([self.term_30, self.term_30, self.term_immediate])
            vals = {
                "name": name,
                "is_company": is_company,
                "email": f"{'info' if is_company else 'me'}@{domain_name}.example",
                "phone": fk.phone_number(),
                "street": fk.street_address(),
                "city": fk.city(),
                "zip": fk.postcode(),
                "country_id": country.id,
                "user_id": salesperson.id,
                "property_payment_term_id": term.id,
                "customer_rank": 1,
                "lang": "en_US",
                "category_id": [Command.link(self.rng.choice(list(tags.values())).id)],
            }
            if LOCALES[loc] in EURO_COUNTRIES:
                vals["property_product_pricelist"] = self.euro_pricelist.id
            if is_company:
                vals["child_ids"] = [
                    Command.create(
                        {
                            "name": fk.name(),
                            "type": "contact",
                            "function": self.rng.choice(
                                ["Purchasing", "Office Manager", "CFO", "Facilities", "CEO"]
                            ),
                            "email": f"contact{j}@{domain_name}.example",
                            "phone": fk.phone_number(),
                        }
                    )
                    for j in range(self.rng.randint(1, 3))
                ]
            vals_list.append(vals)
            favourites = self.rng.sample(categ_names, self.rng.randint(1, 3))
            if arch == "seasonal":
                favourites = ["Seasonal Decoration"] + favourites[:1]
            meta.append((arch, favourites))
        partners = env["res.partner"].create(vals_list)
        self.customers = []
        for partner, (arch, favourites) in zip(partners, meta, strict=True):
            self.archetypes[arch].append(partner.id)
            self.customers.append((partner, arch, favourites))
        self.counts["customers"] = len(partners)
        self.counts["contacts"] = sum(len(p.child_ids) for p in partners)

    # ------------------------------------------------------------ order plans
    def _order_dates(self, arch):
        """Dates of the customer's orders, oldest first, per archetype."""
        rng, today = self.rng, self.today
        start = today - relativedelta(years=3)
        dates = []
        if arch in ("loyal", "big", "late"):
            gap = {"loyal": (25, 55), "big": (14, 30), "late": (28, 45)}[arch]
            day = start + timedelta(days=rng.randint(0, 60))
            while day <= today - timedelta(days=rng.randint(1, 10)):
                dates.append(day)
                day += timedelta(days=rng.randint(*gap))
        elif arch == "seasonal":
            months = rng.choice([(11, 12), (5, 6), (9, 10)])
            for year in range(start.year, today.year + 1):
                for month in months:
                    day = date(year, month, rng.randint(1, 25))
                    if start <= day < today:
                        dates.append(day)
        elif arch == "one_time":
            dates.append(today - timedelta(days=rng.randint(200, 1000)))
        elif arch == "lapsed":
            stop = today - timedelta(days=rng.randint(400, 720))
            day = stop - timedelta(days=rng.randint(300, 500))
            while day <= stop:
                dates.append(day)
                day += timedelta(days=rng.randint(30, 70))
            dates[-1] = stop
        elif arch == "new":
            day = today - timedelta(days=rng.randint(10, 85))
            while day < today:
                dates.append(day)
                day += timedelta(days=rng.randint(20, 40))
        return dates

    def _order_lines(self, arch, favourites):
        rng = self.rng
        lines = []
        for _i in range(rng.randint(1, 4)):
            categ = rng.choice(favourites) if rng.random() < 0.8 else rng.choice(list(CATALOGUE))
            product = rng.choice(self.products_by_categ[categ])
            qty = rng.randint(1, 6) * (rng.randint(4, 12) if arch == "big" else 1)
            lines.append(
                Command.create(
                    {
                        "product_id": product.id,
                        "product_uom_qty": qty,
                        "discount": rng.choice([0, 0, 0, 5, 10]),
                    }
                )
            )
        return lines

    def _plan_orders(self):
        plans = []
        for partner, arch, favourites in self.customers:
            buyers = partner.child_ids or partner
            for day in self._order_dates(arch):
                # Quotations that never became orders: lost (cancelled) or still open.
                roll = self.rng.random()
                if day < self.today - timedelta(days=45):
                    fate = "lost" if roll < 0.08 else "order"
                else:
                    fate = "quote" if roll < 0.15 else "order"
                plans.append(
                    {
                        "date": day,
                        "fate": fate,
                        "partner": self.rng.choice(buyers),
                        "commercial": partner,
                        "arch": arch,
                        "lines": self._order_lines(arch, favourites),
                    }
                )
        plans.sort(key=lambda p: (p["date"], p["commercial"].id))
        return plans

    # ---------------------------------------------------------------- history
    def _create_orders(self, plans):
        env = self.env
        vals_list = []
        for plan in plans:
            commercial = plan["commercial"]
            moment = datetime.combine(plan["date"], time(9 + self.rng.randint(0, 8), 0))
            vals = {
                "partner_id": plan["partner"].id,
                "date_order": moment,
                "user_id": commercial.user_id.id,
                "team_id": self.team_of[commercial.user_id.id].id,
                "payment_term_id": commercial.property_payment_term_id.id,
                "order_line": plan["lines"],
            }
            if commercial.property_product_pricelist.currency_id == self.euro:
                vals["pricelist_id"] = self.euro_pricelist.id
            vals_list.append(vals)
        orders = env["sale.order"].create(vals_list)
        for plan, order in zip(plans, orders, strict=True):
            plan["order"] = order
        by_order = {p["order"].id: p for p in plans}
        confirmed = orders.filtered(lambda o: by_order[o.id]["fate"] == "order")
        confirmed.action_confirm()
        # action_confirm stamps "now" as the order date: put back the historical one.
        for order in orders:
            plan = by_order[order.id]
            moment = datetime.combine(plan["date"], time(9 + order.id % 9, 0))
            order.write({"date_order": moment})
        lost = orders.filtered(lambda o: by_order[o.id]["fate"] == "lost")
        lost._action_cancel()
        self.counts["quotations_open"] += len(orders) - len(confirmed) - len(lost)
        self.counts["quotations_lost"] += len(lost)
        self.counts["orders"] += len(confirmed)
        return confirmed, by_order

    def _invoice(self, orders, by_order):
        env = self.env
        # Recent orders may not be invoiced yet.
        recent = self.today - timedelta(days=3)
        to_invoice = orders.filtered(
            lambda o: by_order[o.id]["date"] <= recent or self.rng.random() < 0.5
        )
        invoices = to_invoice._create_invoices(grouped=True)
        by_day = defaultdict(lambda: env["account.move"])
        for invoice in invoices:
            plan = by_order[invoice.invoice_line_ids.sale_line_ids.order_id[:1].id]
            plan["invoice"] = invoice
            invoice_day = min(plan["date"] + timedelta(days=self.rng.randint(0, 3)), self.today)
            by_day[invoice_day] |= invoice
        for day, moves in by_day.items():
            moves.write({"invoice_date": day})
        invoices.action_post()
        self.counts["invoices"] += len(invoices)
        self.order_of_invoice = {
            plan["invoice"].id: plan for plan in by_order.values() if plan.get("invoice")
        }
        return invoices

    def _payment_plan(self, arch, invoice):
        """(payment date, share of the residual paid) or None when unpaid today."""
        rng = self.rng
        due = invoice.invoice_date_due
        if arch == "late":
            delay = rng.randint(30, 120)
        elif arch == "big":
            delay = rng.randint(-5, 20)
        else:
            delay = (
                rng.choice([-10, -3, 0, 2, 5, 12]) if rng.random() < 0.9 else rng.randint(20, 60)
            )
        pay_day = max(due + timedelta(days=delay), invoice.invoice_date)
        if pay_day > self.today:
            return None
        share = 1.0
        if rng.random() < 0.06:
            share = rng.choice([0.3, 0.5, 0.7])  # partial payment, the rest still due
        return pay_day, share

    def _pay(self, invoices):
        """Customer payments, posted and reconciled with their invoice like the register
        wizard does, created in one batch."""
        env = self.env
        plans = []
        for invoice in invoices:
            arch = self.order_of_invoice[invoice.id]["arch"]
            plan = self._payment_plan(arch, invoice)
            if plan:
                plans.append((plan[0], invoice, plan[1]))
        plans.sort(key=lambda p: (p[0], p[1].id))
        payments = env["account.payment"].create(
            [
                {
                    "payment_type": "inbound",
                    "partner_type": "customer",
                    "partner_id": invoice.commercial_partner_id.id,
                    "amount": invoice.currency_id.round(invoice.amount_residual * share),
                    "currency_id": invoice.currency_id.id,
                    "date": pay_day,
                    "journal_id": self.bank_journal.id,
                    "memo": invoice.name,
                }
                for pay_day, invoice, share in plans
            ]
        )
        payments.action_post()
        # One reconciliation plan per (payment, invoice) pair, run as one batch.
        env["account.move.line"]._reconcile_plan(
            [
                (payment.move_id.line_ids | invoice.line_ids).filtered(
                    lambda line: line.account_id.account_type == "asset_receivable"
                    and not line.reconciled
                )
                for payment, (_day, invoice, _share) in zip(payments, plans, strict=True)
            ]
        )
        self.counts["partial_payments"] += sum(1 for _d, _i, share in plans if share < 1)
        self.counts["payments"] += len(payments)

    def _refund(self, invoices):
        """Credit notes: some goods come back (a full refund reconciled with the invoice)."""
        env = self.env
        candidates = invoices.filtered(lambda m: m.payment_state == "not_paid")
        count = max(1, round(len(invoices) * 0.03)) if candidates else 0
        chosen = env["account.move"].browse(
            self.rng.sample(candidates.ids, min(count, len(candidates)))
        )
        for invoice in chosen:
            day = min(invoice.invoice_date + timedelta(days=self.rng.randint(5, 20)), self.today)
            invoice._reverse_moves(
                [{"invoice_date": day, "date": day, "ref": f"Return of {invoice.name}"}],
                cancel=True,
            )
        self.counts["refunds"] += len(chosen)

    def _partial_refunds(self, invoices):
        """Credit notes for part of a paid invoice (a damaged item), left open as a credit."""
        env = self.env
        paid = invoices.filtered(lambda m: m.payment_state in ("paid", "in_payment"))
        count = min(len(paid), max(1, round(len(invoices) * 0.02))) if paid else 0
        for invoice in env["account.move"].browse(self.rng.sample(paid.ids, count)):
            day = min(invoice.invoice_date + timedelta(days=self.rng.randint(10, 30)), self.today)
            refund = invoice._reverse_moves([{"invoice_date": day, "date": day}])
            line = refund.invoice_line_ids[:1]
            refund.invoice_line_ids.filtered(lambda rl, keep=line: rl != keep).unlink()
            line.quantity = max(1, line.quantity // 2)
            refund.ref = f"Damaged goods on {invoice.name}"
            refund.action_post()
            self.counts["refunds"] += 1

    # -------------------------------------------------------------------- CRM
    def _create_leads(self):
        env = self.env
        stages = env["crm.stage"].search([])
        vals_list = []
        customers = [c for c, arch, _f in self.customers if arch in ("loyal", "big", "new", "late")]
        customers = customers or [c for c, _a, _f in self.customers]
        for i in range(max(len(stages) * 3, len(self.customers) // 4)):
            partner = self.rng.choice(customers)
            stage = stages[i % len(stages)]
            vals_list.append(
                {
                    "name": f"{self.rng.choice(DEAL_NAMES)} – {partner.name}",
                    "type": "opportunity",
                    "partner_id": partner.id,
                    "user_id": partner.user_id.id,
                    "team_id": self.team_of[partner.user_id.id].id,
                    "stage_id": stage.id,
                    "expected_revenue": self.rng.choice([2500, 6000, 12000, 25000, 60000]),
                    "probability": stage.is_won and 100 or self.rng.choice([10, 30, 50, 70]),
                    "date_deadline": self.today + timedelta(days=self.rng.randint(-30, 90)),
                }
            )
        leads = env["crm.lead"].create(vals_list)
        lost = leads.filtered(lambda lead: not lead.stage_id.is_won)[: max(1, len(leads) // 8)]
        lost.action_set_lost()
        self.counts["leads"] = len(leads)
        self.counts["leads_lost"] = len(lost)

    # ----------------------------------------------------------------- survey
    def _create_survey(self):
        env = self.env
        survey = env["survey.survey"].create(
            {
                "title": SURVEY_TITLE,
                "access_mode": "token",
                "questions_layout": "one_page",
                "question_and_page_ids": [
                    Command.create(
                        {
                            "title": "How satisfied are you with our service?",
                            "question_type": "simple_choice",
                            "suggested_answer_ids": [
                                Command.create({"value": v})
                                for v in ("Very satisfied", "Satisfied", "Neutral", "Not satisfied")
                            ],
                        }
                    ),
                    Command.create(
                        {
                            "title": "Which product ranges interest you for next year?",
                            "question_type": "multiple_choice",
                            "suggested_answer_ids": [
                                Command.create({"value": v}) for v in CATALOGUE
                            ],
                        }
                    ),
                    Command.create(
                        {
                            "title": "How many employees work at your site?",
                            "question_type": "numerical_box",
                        }
                    ),
                    Command.create(
                        {"title": "Anything we could do better?", "question_type": "text_box"}
                    ),
                ],
            }
        )
        q_sat, q_ranges, q_size, q_text = survey.question_ids
        # its answers fill the customers' profiles (the mapping wizard, as a marketer would)
        ref = env.ref
        targets = {
            q_sat: ref("customer_pulse.attribute_satisfaction"),
            q_ranges: ref("customer_pulse.attribute_interests"),
            q_size: ref("customer_pulse.attribute_employees"),
            q_text: ref("customer_pulse.attribute_suggestions"),
        }
        wizard = env["pulse.survey.mapping"].create({"survey_id": survey.id})
        for line in wizard.line_ids:
            line.attribute_id = targets[line.question_id]
        wizard.action_apply()
        respondents = [c for c, arch, _f in self.customers if arch != "one_time"]
        respondents = self.rng.sample(respondents, max(2, len(respondents) // 3))
        interviews = 0
        for n, partner in enumerate(respondents):
            # every third one was a phone interview by the customer's salesperson
            interviewer = partner.user_id if n % 3 == 0 and partner.user_id else False
            if interviewer:
                interviews += 1
                answer = survey._create_answer(
                    user=interviewer,
                    check_attempts=False,
                    pulse_partner_id=partner.id,
                    pulse_interviewer_id=interviewer.id,
                )
            else:
                answer = survey._create_answer(partner=partner, check_attempts=False)
            answer._save_lines(q_sat, str(self.rng.choice(q_sat.suggested_answer_ids).id))
            ranges = self.rng.sample(q_ranges.suggested_answer_ids.ids, self.rng.randint(1, 3))
            answer._save_lines(q_ranges, [str(r) for r in ranges])
            answer._save_lines(q_size, str(self.rng.choice([4, 12, 35, 80, 250])))
            answer._save_lines(
                q_text,
                self.rng.choice(["Faster delivery please", "All good", "More eco products"]),
            )
            answer._mark_done()
            self._backdate_answer(answer, self.rng.randint(1, 180))
        # answers from people who are no customer (yet): they wait for a person to match them
        for n in range(3):
            answer = survey._create_answer(
                email=f"visitor{n + 1}@unknown.example", check_attempts=False
            )
            answer._save_lines(q_sat, str(q_sat.suggested_answer_ids[1].id))
            answer._mark_done()
        self.counts["survey_answers"] = len(respondents) + 3
        self.counts["survey_interviews"] = interviews

    def _backdate_answer(self, answer, days_ago):
        """Spread the demo answers (and the values they recorded) over the past months."""
        when = fields.Datetime.now() - timedelta(days=days_ago, hours=self.rng.randint(0, 8))
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE survey_user_input SET end_datetime = %s WHERE id = %s", [when, answer.id]
        )
        self.env.cr.execute(
            "UPDATE pulse_attribute_value SET date = %s WHERE user_input_id = %s",
            [when, answer.id],
        )
        self.env.invalidate_all()

    # ---------------------------------------------------------------- profiles
    def _setup_departments(self):
        env = self.env
        ref = env.ref
        pulse_user = ref("customer_pulse.group_pulse_user")
        for user in self.salespeople:
            user.groups_id = [Command.link(pulse_user.id)]
        ref("customer_pulse.department_sales").user_ids = [
            Command.link(u.id) for u in self.salespeople
        ]
        login = "sam.berger@aurora-office.example"
        self.support = env["res.users"].search([("login", "=", login)], limit=1) or env[
            "res.users"
        ].create(
            {
                "name": "Sam Berger",
                "login": login,
                "email": login,
                "groups_id": [Command.link(pulse_user.id)],
                "company_id": self.company.id,
                "company_ids": [Command.link(self.company.id)],
            }
        )
        ref("customer_pulse.department_after_sales").user_ids = [Command.link(self.support.id)]
        admin = ref("base.user_admin")
        for code in ("marketing", "finance"):
            ref(f"customer_pulse.department_{code}").user_ids = [Command.link(admin.id)]
        self.admin = admin

    def _create_profiles(self):
        """What the departments assessed: the grade (sales and after-sales, sometimes
        disagreeing), contact channels, industries, consent and founding dates, finance's
        private notes."""
        env = self.env
        ref = env.ref
        rng = self.rng
        dept = {
            c: ref(f"customer_pulse.department_{c}")
            for c in ("sales", "after_sales", "marketing", "finance")
        }
        grade = {k: ref(f"customer_pulse.option_grade_{k}") for k in ("a", "b", "c")}
        channel = ref("customer_pulse.attribute_contact_channel").option_ids
        industry = ref("customer_pulse.attribute_industry").option_ids
        expected = {
            "loyal": "a",
            "big": "a",
            "seasonal": "b",
            "new": "b",
            "late": "b",
            "lapsed": "c",
            "one_time": "c",
        }
        now = fields.Datetime.now()

        def value(partner, attribute, user, department, days_ago, **typed):
            return {
                "partner_id": partner.id,
                "attribute_id": ref(f"customer_pulse.attribute_{attribute}").id,
                "source": "manual",
                "user_id": user.id,
                "department_id": department.id,
                "date": now - timedelta(days=days_ago, hours=rng.randint(0, 8)),
                **typed,
            }

        vals_list = []
        consenting = env["res.partner"]
        for partner, arch, _favourites in self.customers:
            salesperson = partner.user_id or self.salespeople[0]
            if rng.random() < 0.7:
                said = expected[arch]
                vals_list.append(
                    value(
                        partner,
                        "grade",
                        salesperson,
                        dept["sales"],
                        rng.randint(30, 300),
                        option_id=grade[said].id,
                    )
                )
                if rng.random() < 0.35:
                    # after-sales sees them differently a quarter of the time
                    other = (
                        said if rng.random() < 0.7 else rng.choice([k for k in grade if k != said])
                    )
                    vals_list.append(
                        value(
                            partner,
                            "grade",
                            self.support,
                            dept["after_sales"],
                            rng.randint(1, 200),
                            option_id=grade[other].id,
                        )
                    )
            if rng.random() < 0.4:
                vals_list.append(
                    value(
                        partner,
                        "contact_channel",
                        salesperson,
                        dept["sales"],
                        rng.randint(1, 400),
                        option_id=rng.choice(channel).id,
                    )
                )
            if partner.is_company and rng.random() < 0.5:
                vals_list.append(
                    value(
                        partner,
                        "industry",
                        self.admin,
                        dept["marketing"],
                        rng.randint(1, 500),
                        option_id=rng.choice(industry).id,
                    )
                )
            if rng.random() < 0.4:
                consenting |= partner
            if arch == "late" and rng.random() < 0.5:
                vals_list.append(
                    value(
                        partner,
                        "finance_note",
                        self.admin,
                        dept["finance"],
                        rng.randint(1, 90),
                        value_char=rng.choice(
                            [
                                "Pays after the second reminder",
                                "Asked for 60-day terms",
                                "Disputes delivery fees",
                            ]
                        ),
                    )
                )
        consenting.write({"pulse_profiling_consent": True})
        for partner in consenting:
            if partner.is_company and rng.random() < 0.5:
                founded = date(rng.randint(1960, 2020), rng.randint(1, 12), rng.randint(1, 28))
                vals_list.append(
                    value(
                        partner,
                        "founding_date",
                        self.admin,
                        dept["marketing"],
                        rng.randint(1, 300),
                        value_date=founded,
                    )
                )
        values = env["pulse.attribute.value"].create(vals_list)
        self.counts["profile_values"] = len(values)
        self.counts["consenting_customers"] = len(consenting)

    def _analyze(self):
        # Fresh tables filled in one transaction have no statistics: without them
        # PostgreSQL picks nested loops over whole tables for accounting's queries.
        self.env.flush_all()
        self.env.cr.execute(
            "ANALYZE sale_order, sale_order_line, account_move, account_move_line, "
            "account_partial_reconcile, account_payment, res_partner"
        )

    # -------------------------------------------------------------------- run
    def run(self):
        self._setup_company()
        self._setup_sales_teams()
        self._setup_products()
        self._create_customers()
        plans = self._plan_orders()
        _logger.info(
            "demo history: %d customers, %d planned orders", len(self.customers), len(plans)
        )
        orders, by_order = self._create_orders(plans)
        self._analyze()
        invoices = self._invoice(orders, by_order)
        _logger.info("demo history: %d invoices posted", len(invoices))
        self._analyze()
        self._refund(invoices)
        self._pay(invoices.filtered(lambda m: m.payment_state == "not_paid"))
        self._partial_refunds(invoices)
        self._create_leads()
        self._setup_departments()
        self._create_survey()
        self._create_profiles()
        self.env.flush_all()
        return dict(self.counts)


def generate(env, scale="demo", seed=42, today=None):
    """Generate the history and return the counts of what was made."""
    gen = DemoHistory(env, scale=scale, seed=seed, today=today)
    counts = gen.run()
    counts["archetypes"] = {k: list(v) for k, v in gen.archetypes.items()}
    return counts
