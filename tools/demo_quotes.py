"""Quotations and daily work in the demo: every salesperson issues quotations over the past
months (most sent, many confirmed days or weeks later, some cancelled or left to expire),
completes calls, meetings and to-dos on their customers' contacts and emails them, so that
the quote funnel and the work done report show real figures.

Not addon data: :func:`generate` runs after
:func:`odoo.addons.customer_pulse.tools.demo_history.generate` (it needs its salespeople,
customers and products). Each step runs at its own date through Odoo's own methods (the
clock set to that moment, the chatter's tracking written as at the end of a request), so the
dates the reports read (issue, sent, confirmation, activity done) are those of the history;
only a quotation's creation date, which the ORM takes from the transaction, is set in SQL.
The emails are marked delivered without leaving the machine.
"""

import logging
import random
from collections import defaultdict
from datetime import datetime, time, timedelta

from dateutil.relativedelta import relativedelta
from freezegun import freeze_time

from odoo import Command, fields

_logger = logging.getLogger(__name__)

MONTHS = 6  # of quotations and activities, before today
QUOTES_PER_MONTH = (3, 7)  # per salesperson
ACTIVITIES_PER_WEEK = (2, 5)  # per salesperson
EMAILS_PER_MONTH = (1, 4)  # per salesperson
# the fate of a quotation, by weight: confirmed, cancelled, left to expire, still open
FATES = (("order", 50), ("cancel", 15), ("expire", 15), ("open", 20))
SENT_SHARE = 0.8  # of the quotations, sent to the customer before anything else
CONFIRM_DAYS = (1, 40)  # from issue to confirmation
CANCEL_DAYS = (3, 30)
VALIDITY_DAYS = 30
WORK_HOURS = (8, 17)
WORKING_DAYS = 5  # Monday to Friday
ACTIVITY_TYPES = (
    ("mail.mail_activity_data_call", 5),
    ("mail.mail_activity_data_meeting", 2),
    ("mail.mail_activity_data_todo", 3),
)


def _env(env):
    return env(
        context=dict(
            env.context,
            mail_create_nosubscribe=True,
            mail_auto_subscribe_no_notify=True,
            mail_notify_force_send=False,
        )
    )


class DemoQuotes:
    def __init__(self, env, seed=42, today=None, months=MONTHS):
        self.env = _env(env)
        self.rng = random.Random(seed)
        self.today = today or fields.Date.context_today(self.env["res.partner"])
        self.start = self.today - relativedelta(months=months)
        self.counts = defaultdict(int)
        self.clock = None  # the frozen clock of run(), moved to each step's moment

    # ------------------------------------------------------------------ set-up
    def _salespeople(self):
        members = self.env["crm.team.member"].search(
            [("crm_team_id.company_id", "in", (False, self.env.company.id))]
        )
        admin = self.env.ref("base.user_admin", raise_if_not_found=False)
        # the administrator reads the reports: the salespeople do the work
        return (members.user_id - admin).filtered(lambda u: not u.share).sorted("id")

    def _customers(self, user):
        Partner = self.env["res.partner"]
        domain = [("customer_rank", ">", 0), ("is_company", "=", True), ("email", "!=", False)]
        return Partner.search([*domain, ("user_id", "=", user.id)], limit=60) or Partner.search(
            domain, limit=60
        )

    def _products(self):
        return self.env["product.product"].search(
            [("sale_ok", "=", True), ("list_price", ">", 0)], order="id", limit=40
        )

    def _moment(self, day):
        hour = self.rng.randint(*WORK_HOURS)
        return datetime.combine(day, time(hour, self.rng.randint(0, 59)))

    def _done(self):
        """The end of a request: what changed is tracked in the chatter."""
        self.env.flush_all()
        self.env.cr.precommit.run()

    def _past(self, moment):
        return moment.date() < self.today

    # ------------------------------------------------------------------ quotations
    def _quote(self, user, day, customers, products):
        moment = self._moment(day)
        fate = self.rng.choices([f for f, _w in FATES], weights=[w for _f, w in FATES])[0]
        self.clock.move_to(moment)
        order = (
            self.env["sale.order"]
            .with_user(user)
            .create(
                {
                    "partner_id": self.rng.choice(customers).id,
                    "user_id": user.id,
                    "validity_date": day + timedelta(days=VALIDITY_DAYS),
                    "order_line": [
                        Command.create(
                            {
                                "product_id": product.id,
                                "product_uom_qty": self.rng.randint(1, 12),
                            }
                        )
                        for product in self.rng.sample(
                            products, min(len(products), self.rng.randint(1, 3))
                        )
                    ],
                }
            )
        )
        self._done()
        # the ORM dates a record by its transaction: set the creation to the history's
        self.env.cr.execute(
            "UPDATE sale_order SET create_date = %s WHERE id = %s", [moment, order.id]
        )
        order.invalidate_recordset(["create_date"])
        self.counts["quotes"] += 1
        step = moment
        if self.rng.random() < SENT_SHARE:
            step += timedelta(hours=self.rng.randint(1, 48))
            if self._past(step):
                self.clock.move_to(step)
                order.with_user(user).action_quotation_sent()
                self._done()
                self.counts["quotes_sent"] += 1
        if fate == "order":
            step += timedelta(days=self.rng.randint(*CONFIRM_DAYS))
            if self._past(step):
                self.clock.move_to(step)
                order.with_user(user).action_confirm()
                self._done()
                self.counts["quotes_confirmed"] += 1
        elif fate == "cancel":
            step += timedelta(days=self.rng.randint(*CANCEL_DAYS))
            if self._past(step):
                self.clock.move_to(step)
                order.with_user(user)._action_cancel()
                self._done()
                self.counts["quotes_cancelled"] += 1
        elif fate == "open":
            # still valid: the customer is thinking it over
            order.validity_date = max(order.validity_date, self.today + timedelta(days=7))
        return order

    def _quotes(self, user, customers, products):
        month = self.start.replace(day=1)
        while month <= self.today:
            first = max(month, self.start)
            end = min(month + relativedelta(months=1), self.today)
            days = [
                first + timedelta(days=n)
                for n in range((end - first).days)
                if (first + timedelta(days=n)).weekday() < WORKING_DAYS
            ]
            for _n in range(min(len(days), self.rng.randint(*QUOTES_PER_MONTH))):
                self._quote(user, self.rng.choice(days), customers, products)
            month += relativedelta(months=1)

    # ------------------------------------------------------------------ activities, emails
    def _activities(self, user, customers):
        kinds = [xmlid for xmlid, _w in ACTIVITY_TYPES]
        weights = [w for _x, w in ACTIVITY_TYPES]
        day = self.start
        while day < self.today:
            for _n in range(self.rng.randint(*ACTIVITIES_PER_WEEK)):
                when = self._moment(day + timedelta(days=self.rng.randint(0, 4)))
                if when.date() >= self.today:
                    continue
                contact = self.rng.choice(customers)
                kind = self.rng.choices(kinds, weights=weights)[0]
                self.clock.move_to(when)
                activity = contact.activity_schedule(kind, user_id=user.id)
                activity.with_user(user).action_feedback(feedback="Done")
                self._done()
                self.counts["activities_done"] += 1
            day += timedelta(days=7)

    def _emails(self, user, customers):
        messages = self.env["mail.message"]
        day = self.start
        while day < self.today:
            for _n in range(self.rng.randint(*EMAILS_PER_MONTH)):
                when = self._moment(day + timedelta(days=self.rng.randint(0, 27)))
                if when.date() >= self.today:
                    continue
                contact = self.rng.choice(customers)
                self.clock.move_to(when)
                messages |= contact.with_user(user).message_post(
                    body="Following up on our last conversation.",
                    partner_ids=contact.ids,
                    message_type="comment",
                    subtype_xmlid="mail.mt_comment",
                )
                self.counts["emails"] += 1
            day += relativedelta(months=1)
        # delivered, without leaving the machine
        self.env["mail.mail"].sudo().search([("mail_message_id", "in", messages.ids)]).unlink()
        self.env["mail.notification"].sudo().search(
            [("mail_message_id", "in", messages.ids)]
        ).write({"notification_status": "sent"})

    # ------------------------------------------------------------------ run
    def run(self):
        salespeople = self._salespeople()
        products = self._products()
        if not salespeople or not products:
            _logger.info("demo quotes: no salesperson or product, nothing made")
            return {}
        # one frozen clock moved from step to step: starting freezegun scans every loaded
        # module, too slow to do per step
        with freeze_time(self.start) as self.clock:
            for user in salespeople:
                customers = self._customers(user)
                if not customers:
                    continue
                self._quotes(user, customers, products)
                self._activities(user, customers)
                self._emails(user, customers)
        self.env.flush_all()
        _logger.info("demo quotes: %s", dict(self.counts))
        return dict(self.counts)


def generate(env, seed=42, today=None, months=MONTHS):
    """Quotations, activities and emails of every salesperson over the past ``months``;
    returns the counts of what was made."""
    return DemoQuotes(env, seed=seed, today=today, months=months).run()
