"""Finance follow-ups in the demo: levels, customers at every level, reminders sent in the
past weeks, one promise kept, one broken, one dispute, items to collect and payment notices.

Not addon data: ``make run`` calls :func:`generate` after
:func:`odoo.addons.customer_pulse.tools.demo_history.generate`. The follow-up run is replayed
day by day over the last weeks (the clock set to each day), through the follow-up's own
methods, so the history is what the daily cron would have left: reminders sent at their
dates, a promise recorded, kept by a payment, another broken and escalated, an invoice
disputed. Besides the history's late payers, a few customers who pay on time get an extra
invoice due on a date chosen so that, at the end, every level has a customer.

The reminders of the replay carry no PDFs (without a web server the PDFs would be rendered
without their style sheets, and an invoice's PDF is kept once made): the emails are listed
without attachments; a reminder sent from the running demo (Send now) attaches them.
"""

import logging
from collections import defaultdict
from datetime import datetime, time, timedelta

from freezegun import freeze_time

from odoo import Command, fields

from .params import param_key

_logger = logging.getLogger(__name__)


def _env(env):
    return env(
        context=dict(
            env.context,
            mail_create_nosubscribe=True,
            mail_auto_subscribe_no_notify=True,
        )
    )


class DemoFollowups:
    def __init__(self, env, today=None):
        self.env = _env(env)
        self.company = self.env.company
        self.today = today or fields.Date.context_today(self.env["res.partner"])
        self.plan = defaultdict(list)  # day -> [callable]
        self.showcase = {}  # role -> partner
        self.counts = defaultdict(int)

    # ------------------------------------------------------------------ set-up
    def _levels(self):
        Level = self.env["pulse.followup.level"]
        Level._ensure_company_levels()
        return Level.search([("company_id", "=", self.company.id)], order="delay, id")

    def _free_customers(self, count):
        """Customers who owe nothing today, who pay on time in the history: their extra
        invoice alone decides their level. Made when the history has too few."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT p.id FROM res_partner p
             WHERE p.customer_rank > 0 AND p.active AND p.id = p.commercial_partner_id
               AND p.email IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM account_move m
                                WHERE m.commercial_partner_id = p.id
                                  AND m.state = 'posted'
                                  AND m.move_type IN ('out_invoice', 'out_refund')
                                  AND m.amount_residual_signed <> 0)
               AND NOT EXISTS (SELECT 1 FROM pulse_followup f WHERE f.partner_id = p.id)
             ORDER BY p.is_company DESC, p.id
             LIMIT %s
            """,
            [count],
        )
        partners = self.env["res.partner"].browse([r[0] for r in self.env.cr.fetchall()])
        salesperson = self.env["res.users"].search(
            [("share", "=", False), ("id", "!=", self.env.ref("base.user_root").id)],
            order="id",
            limit=1,
        )
        while len(partners) < count:
            n = len(partners) + 1
            partners |= self.env["res.partner"].create(
                {
                    "name": f"Follow-up Demo {n} Ltd",
                    "is_company": True,
                    "customer_rank": 1,
                    "email": f"accounts{n}@followup-demo.example",
                    "phone": f"+1 555 010 {n:04d}",
                    "user_id": salesperson.id,
                }
            )
        return partners

    def _product(self):
        product = self.env["product.product"].search(
            [("sale_ok", "=", True), ("list_price", ">", 100)], order="id", limit=1
        )
        return product or self.env["product.product"].search([("sale_ok", "=", True)], limit=1)

    def _invoice(self, partner, due, amount_qty=1):
        """A posted invoice issued 30 days before its due date."""
        product = self._product()
        move = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "invoice_date": due - timedelta(days=30),
                # the due date decides the level: no payment term of the customer's
                "invoice_payment_term_id": False,
                "invoice_date_due": due,
                "invoice_user_id": (partner.user_id or self.env.user).id,
                "invoice_line_ids": [
                    Command.create(
                        {"product_id": product.id, "quantity": amount_qty, "tax_ids": []}
                    )
                ],
            }
        )
        move.action_post()
        self.counts["followup_demo_invoices"] += 1
        return move

    def _pay(self, invoice, day, amount=None):
        journal = self.env["account.journal"].search(
            [("type", "=", "bank"), ("company_id", "=", self.company.id)], limit=1
        )
        wizard = (
            self.env["account.payment.register"]
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

    def _followup(self, partner):
        return self.env["pulse.followup"].search(
            [("partner_id", "=", partner.id), ("company_id", "=", self.company.id)]
        )

    # ------------------------------------------------------------------ the plan
    def _plan(self, levels):
        """Customers and what happens to them, relative to today. Returns the first day of
        the replay."""
        today = self.today
        day = timedelta(days=1)
        ladder = levels.filtered(lambda lv: lv.delay >= 0)
        courtesy = levels.filtered(lambda lv: lv.delay < 0)[:1]
        roles = [f"level_{lv.id}" for lv in ladder] + [
            "promise_kept",
            "promise_broken",
            "dispute",
            "due_today",
        ]
        if courtesy:
            roles.append("courtesy")
        partners = self._free_customers(len(roles))
        self.showcase = dict(zip(roles, partners, strict=True))
        first_delay = ladder[:1].delay if ladder else 7
        starts = []
        # 1. one customer at each level: its invoice is due long enough ago to have reached
        # that level, not the next (the run moves a customer found late one level at a time)
        for index, level in enumerate(ladder):
            following = ladder[index + 1] if index + 1 < len(ladder) else None
            room = (following.delay - level.delay) if following else 10
            due = today - timedelta(days=level.delay + min(3, max(room - 1, 0)))
            partner = self.showcase[f"level_{level.id}"]
            self._invoice(partner, due)
            starts.append(due + timedelta(days=first_delay))
        if courtesy:
            self._invoice(self.showcase["courtesy"], today + day)
            starts.append(today + day + timedelta(days=courtesy.delay))
        # today's work: a customer whose first reminder falls due today (the day's run has
        # not gone yet: the accountant finds them under "Needs action today")
        if ladder:
            self._invoice(self.showcase["due_today"], today - timedelta(days=first_delay), 2)
        # 2. a promise kept: reminded, promises to pay within a week, pays before the date
        kept_partner = self.showcase["promise_kept"]
        kept_invoice = self._invoice(kept_partner, today - timedelta(days=first_delay + 33), 2)
        promised_on = today - timedelta(days=31)
        self.plan[promised_on].append(
            lambda p=kept_partner, d=promised_on + timedelta(days=7): self._promise(
                p, d, 1.0, "Payment run on Friday, the controller confirmed by phone."
            )
        )
        paid_on = promised_on + timedelta(days=5)
        self.plan[paid_on].append(lambda i=kept_invoice, d=paid_on: self._pay(i, d))
        starts.append(today - timedelta(days=33))
        # 3. a promise broken: half promised within a week, nothing paid
        broken_partner = self.showcase["promise_broken"]
        self._invoice(broken_partner, today - timedelta(days=first_delay + 28), 3)
        promised_on = today - timedelta(days=27)
        self.plan[promised_on].append(
            lambda p=broken_partner, d=promised_on + timedelta(days=7): self._promise(
                p, d, 0.5, "Half now, the rest with the next order."
            )
        )
        starts.append(today - timedelta(days=28))
        # 4. a dispute: two invoices reminded, then one disputed (damaged goods)
        dispute_partner = self.showcase["dispute"]
        disputed = self._invoice(dispute_partner, today - timedelta(days=first_delay + 18), 2)
        self._invoice(dispute_partner, today - timedelta(days=first_delay + 13))
        disputed_on = today - timedelta(days=15)
        self.plan[disputed_on].append(
            lambda m=disputed, d=disputed_on + timedelta(days=35): m._pulse_dispute(
                "Two chairs arrived damaged; replacements promised by the salesperson", d
            )
        )
        starts.append(today - timedelta(days=18))
        return min(starts)

    def _promise(self, partner, date, share, note):
        followup = self._followup(partner)
        if not followup:
            _logger.warning("demo follow-ups: %s has no follow-up to promise on", partner.name)
            return
        # sudo: the residuals of the promised invoices, as the promise's create reads them
        owed = sum(followup.sudo()._promise_invoices().mapped("amount_residual_signed"))
        self.env["pulse.followup.promise"].create(
            {
                "followup_id": followup.id,
                "date": date,
                "amount": self.company.currency_id.round(owed * share),
                "note": note,
            }
        )

    # ------------------------------------------------------------------ the replay
    def _replay(self, start):
        """The daily run of every day from start to yesterday, the clock set to that
        morning; today the rows are brought up to date but today's reminders wait: the
        accountant finds them under "Needs action today" (Send now), else tomorrow's run
        sends them."""
        Followup = self.env["pulse.followup"]
        Event = self.env["pulse.followup.event"]
        day = start
        while day <= self.today:
            with freeze_time(datetime.combine(day, time(7, 0))):
                for action in self.plan.pop(day, []):
                    action()
                if day == self.today:
                    Followup._refresh()
                    # today's reminders are the accountant's (Send now) or tomorrow run's: the
                    # cron, woken by the replay, must not send them as soon as the demo starts
                    self.env["ir.config_parameter"].set_param(
                        param_key("followup_run_date"), fields.Date.to_string(day)
                    )
                    break
                Followup._run()
                while Event._process_due():
                    pass
            day += timedelta(days=1)
        for day in sorted(self.plan):  # actions planned before the replay's first day
            _logger.warning("demo follow-ups: actions of %s not replayed", day)

    def _mark_delivered(self):
        """The reminders of the history went out: their emails and texts are marked sent
        (the demo has no mail server nor SMS account; nothing is sent for real)."""
        events = self.env["pulse.followup.event"].search([("state", "=", "done")])
        events.mail_id.filtered(lambda m: m.state in ("outgoing", "exception")).write(
            {"state": "sent"}
        )
        if "sms.sms" in self.env:
            sms = events.sms_ids.filtered(lambda s: s.state in ("outgoing", "error"))
            sms.write({"state": "pending"})

    # ------------------------------------------------------------------ run
    def run(self):
        finance = {}
        try:
            from . import demo_finance
        except ImportError:
            demo_finance = None
        if demo_finance and hasattr(demo_finance, "generate_collections"):
            # items to collect and payment notices first: the responsible accountant it
            # sets also follows the customers up
            finance = demo_finance.generate_collections(self.env)
        levels = self._levels()
        # the history's reminders carry no PDFs (see the module's docstring)
        saved = {lv.id: (lv.attach_invoices, lv.send_letter) for lv in levels}
        levels.write({"attach_invoices": False, "send_letter": False})
        try:
            start = self._plan(levels)
            self._replay(start)
        finally:
            for level in levels:
                level.attach_invoices, level.send_letter = saved[level.id]
        self._mark_delivered()
        self.env.flush_all()
        return {**finance, **self._counts(levels)}

    def _counts(self, levels):
        Followup = self.env["pulse.followup"]
        Event = self.env["pulse.followup.event"]
        Promise = self.env["pulse.followup.promise"]
        open_rows = Followup.search([("state", "!=", "done")])
        per_level = {
            level.name: len(open_rows.filtered(lambda f, lv=level: f.level_id == lv))
            for level in levels
        }
        return {
            **self.counts,
            "followup_levels": len(levels),
            "followup_customers": len(open_rows),
            "followup_customers_per_level": per_level,
            "followup_reminders_sent": Event.search_count([("state", "=", "done")]),
            "followup_reminders_skipped": Event.search_count([("state", "=", "skipped")]),
            "followup_reminders_failed": Event.search_count([("state", "=", "failed")]),
            "followup_promises_kept": Promise.search_count([("state", "=", "kept")]),
            "followup_promises_broken": Promise.search_count([("state", "=", "broken")]),
            "followup_disputed_invoices": self.env["account.move"].search_count(
                [("pulse_disputed", "=", True)]
            ),
        }


def generate(env, today=None):
    """Generate the follow-up demo on top of the history; returns the counts of what was
    made (showcase customers by role under ``showcase``)."""
    gen = DemoFollowups(env, today=today)
    counts = gen.run()
    counts["showcase"] = {role: partner.id for role, partner in gen.showcase.items()}
    return counts
