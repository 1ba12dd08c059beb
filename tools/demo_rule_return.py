"""The shipped rules' past in the demo, so that Return on rules and Revenue after actions
show something real: who each rule would have enrolled over the last two years, read from
the demo's own orders (a year without an order for the win-back and silence rules, a late
usual order for the rhythm rule, the first order for the thank-you rule, a share of the
regular customers for the category suggestion), the steps each went through, and the
revenue the rules' attribution gives them from the demo's invoices.

The shipped lapsed segment gets its past stays too (a year after an order, until the next
one), so that Segment revenue and Revenue after actions have a history to read.

Not addon data: ``make run`` calls :func:`generate` after the demo history, the follow-ups
and the segments' refresh. The rules stay drafts (their history is as if they had run, no
email is queued). The steps run as the engine would: each after its delay, the rest
cancelled when the customer orders (rules that exit on purchase), a few touches skipped for
want of an address, the steps due after today still scheduled. Each shipped rule gets a
fixed cost; the steps' cost per run is the shipped one (data/pulse_rule_data.xml).
Deterministic for a given seed and day.
"""

import logging
import random
from bisect import bisect_left
from collections import defaultdict
from datetime import datetime, time, timedelta
from itertools import pairwise

from odoo import fields
from odoo.tools import SQL

from ..models.pulse_rule_step import TOUCHES
from .params import setting

_logger = logging.getLogger(__name__)

HISTORY_DAYS = 2 * 365
SILENCE_DAYS = 365  # the silence rule's year without an order
RHYTHM_FACTOR = 1.5  # the rhythm rule's overdue factor
RHYTHM_MIN_ORDERS = 3  # orders before a usual rhythm means something
INTEREST_SHARE = 0.3  # regular customers the category suggestion reached
INTEREST_MIN_ORDERS = 2
SKIP_SHARE = 0.05  # touches skipped (no valid email…)
RUN_HOUR = 9
REFRESH_HOUR = 3  # the segments' nightly refresh
# what each shipped rule cost once (writing, setting up), in the company's currency
FIXED_COSTS = {
    "customer_pulse.rule_winback": 150.0,
    "customer_pulse.rule_rhythm": 0.0,
    "customer_pulse.rule_interest": 80.0,
    "customer_pulse.rule_first_order": 60.0,
    "customer_pulse.rule_silence": 0.0,
}


class DemoRuleReturn:
    def __init__(self, env, seed=42, today=None):
        self.env = env
        self.rng = random.Random(seed)
        self.company = env.company
        self.today = today or fields.Date.context_today(env["res.partner"])
        self.now = datetime.combine(self.today, time(RUN_HOUR))
        self.start = self.today - timedelta(days=HISTORY_DAYS)
        self.counts = defaultdict(int)
        self.lapsed_days = setting(env, "lapsed_days")  # the shipped lapsed segment's

    # ------------------------------------------------------------------ reading
    def _orders(self):
        """{customer: [(order date, order id)]} of the company's confirmed orders, oldest
        first."""
        self.env.flush_all()
        rows = self.env.execute_query(
            SQL(
                """
                SELECT COALESCE(p.commercial_partner_id, p.id), so.date_order::date, so.id
                  FROM sale_order so JOIN res_partner p ON p.id = so.partner_id
                 WHERE so.state = 'sale' AND so.company_id = %s
                 ORDER BY 1, 2, 3
                """,
                self.company.id,
            )
        )
        orders = defaultdict(list)
        for partner, day, order in rows:
            orders[partner].append((day, order))
        return orders

    def _lapsed_stays(self, orders):
        """The shipped lapsed segment's stays as its nightly refresh would have recorded
        them: entered a year after an order, left the night after the next one (the current
        stays, opened by the demo's first refresh, are dated back to when the customer
        lapsed). Returns {(customer, day lapsed): stay id}."""
        segment = self.env.ref("customer_pulse.segment_lapsed", raise_if_not_found=False)
        if not segment or segment.company_id != self.company:
            return {}
        Member = self.env["pulse.segment.member"]
        stays = Member.search([("segment_id", "=", segment.id)])
        open_stays = {stay.partner_id.id: stay for stay in stays if not stay.date_left}
        known = {(stay.partner_id.id, stay.date_entered.date()): stay.id for stay in stays}
        closed = []
        for partner, dated in orders.items():
            days = [day for day, _order in dated] + [None]
            for last, following in pairwise(days):
                lapse = last + timedelta(days=self.lapsed_days)
                if lapse > self.today or (following is not None and following <= lapse):
                    continue
                entered = datetime.combine(lapse, time(REFRESH_HOUR))
                if following is None:
                    stay = open_stays.get(partner)
                    if stay and stay.date_entered > entered:
                        stay.date_entered = entered
                        known[partner, lapse] = stay.id
                elif (partner, lapse) not in known:
                    left = datetime.combine(following + timedelta(days=1), time(REFRESH_HOUR))
                    closed.append((partner, lapse, entered, left))
        made = Member.create(
            [
                {
                    "segment_id": segment.id,
                    "partner_id": partner,
                    "date_entered": entered,
                    "date_left": left,
                }
                for partner, _lapse, entered, left in closed
            ]
        )
        for (partner, lapse, _entered, _left), stay in zip(closed, made, strict=True):
            known[partner, lapse] = stay.id
        self.counts["past stays in the lapsed segment"] += len(made)
        return known

    # ------------------------------------------------------------------ who enters
    def _in_history(self, day):
        return self.start <= day <= self.today

    def _lapses(self, orders, lapse_days, key_of):
        """(customer, day, key) for each `lapse_days` without an order."""
        for partner, dated in orders.items():
            days = [day for day, _order in dated] + [None]
            for last, following in pairwise(days):
                lapse = last + timedelta(days=lapse_days)
                if (following is None or following > lapse) and self._in_history(lapse):
                    yield partner, lapse, key_of(partner, last, following)

    def _entries(self, orders):
        """{rule xml id: [(customer, day entered, trigger key)]}."""
        stays = self._lapsed_stays(orders)

        def winback_key(partner, last, _following):
            stay = stays.get((partner, last + timedelta(days=self.lapsed_days)))
            return f"member,{stay}" if stay else f"demo-lapse,{last}"

        entries = {
            "customer_pulse.rule_winback": list(
                self._lapses(orders, self.lapsed_days, winback_key)
            ),
            "customer_pulse.rule_silence": list(
                self._lapses(orders, SILENCE_DAYS, lambda _p, last, _f: f"lapse,{last}")
            ),
            "customer_pulse.rule_rhythm": [],
            "customer_pulse.rule_interest": [],
            "customer_pulse.rule_first_order": [],
        }
        for partner, dated in orders.items():
            days = [day for day, _order in dated]
            first_day, first_order = dated[0]
            if self._in_history(first_day):
                entries["customer_pulse.rule_first_order"].append(
                    (partner, first_day, f"order,{first_order}")
                )
            for n in range(RHYTHM_MIN_ORDERS, len(days) + 1):
                gaps = [(b - a).days for a, b in pairwise(days[:n])]
                usual = sum(gaps) / len(gaps)
                overdue = days[n - 1] + timedelta(days=round(usual * RHYTHM_FACTOR))
                following = days[n] if n < len(days) else None
                late = following is None or following > overdue
                if usual and late and self._in_history(overdue):
                    entries["customer_pulse.rule_rhythm"].append(
                        (partner, overdue, f"rhythm,{days[n - 1]}")
                    )
            if len(days) >= INTEREST_MIN_ORDERS and self.rng.random() < INTEREST_SHARE:
                day = self.start + timedelta(days=self.rng.randrange(HISTORY_DAYS))
                entries["customer_pulse.rule_interest"].append(
                    (partner, day, f"demo-interest,{day}")
                )
        return entries

    # ------------------------------------------------------------------ their way
    def _way(self, rule, partner_days, entered):
        """The runs of one enrolment as the engine would have made them, and how it ended:
        (runs [(step, state, at, reason)], state, closed at, exit reason)."""
        runs, branch = [], [(step, entered) for step in rule.step_ids if not step.parent_id]
        bought = None
        if rule.exit_on_purchase:
            index = bisect_left(partner_days, entered.date())
            if index < len(partner_days):
                bought = datetime.combine(partner_days[index], time(RUN_HOUR + 1))
        while branch:
            step, after = branch.pop(0)
            due = after + step._delay()
            if bought and bought <= due:
                reason = self.env._("bought since entering")
                runs.append((step, "cancelled", due, reason))
                return runs, "converted", bought, reason
            if due > self.now:
                runs.append((step, "scheduled", due, False))
                continue
            if step.action in TOUCHES and self.rng.random() < SKIP_SHARE:
                runs.append((step, "skipped", due, self.env._("no valid email")))
            else:
                runs.append((step, "done", due, False))
            branch += [(child, due) for child in step.child_ids]
        if any(state == "scheduled" for _s, state, _at, _r in runs):
            return runs, "running", False, False
        return runs, "completed", max(at for _s, _st, at, _r in runs), False

    def _enrol(self, rule, entries, orders):
        Enrolment = self.env["pulse.enrolment"]
        past = Enrolment.search([("rule_id", "=", rule.id)])
        seen = {(e.partner_id.id, e.trigger_key) for e in past}
        cycles = defaultdict(int)
        for enrolment in past:
            cycles[enrolment.partner_id.id] = max(cycles[enrolment.partner_id.id], enrolment.cycle)
        vals, ways = [], []
        for partner, day, key in sorted(entries, key=lambda e: (e[1], e[0])):
            if (partner, key) in seen:
                continue
            seen.add((partner, key))
            entered = datetime.combine(day, time(RUN_HOUR))
            runs, state, closed, reason = self._way(rule, [d for d, _o in orders[partner]], entered)
            touches = [at for step, st, at, _r in runs if st == "done" and step.action in TOUCHES]
            cycles[partner] += 1
            vals.append(
                {
                    "rule_id": rule.id,
                    "partner_id": partner,
                    "company_id": rule.company_id.id,
                    "cycle": cycles[partner],
                    "trigger_key": key,
                    "state": state,
                    "date_enrolled": entered,
                    "date_closed": closed,
                    "exit_reason": reason,
                    "first_touch_date": min(touches) if touches else False,
                }
            )
            ways.append(runs)
        enrolments = Enrolment.create(vals)
        self.env["pulse.step.run"].create(
            [
                {
                    "enrolment_id": enrolment.id,
                    "step_id": step.id,
                    "state": state,
                    "scheduled_at": at,
                    "executed_at": at if state in ("done", "skipped") else False,
                    "reason": reason,
                }
                for enrolment, runs in zip(enrolments, ways, strict=True)
                for step, state, at, reason in runs
            ]
        )
        self.counts["enrolments"] += len(enrolments)
        self.counts["step runs"] += sum(map(len, ways))

    # ------------------------------------------------------------------ run
    def run(self):
        orders = self._orders()
        for xmlid, entries in self._entries(orders).items():
            rule = self.env.ref(xmlid, raise_if_not_found=False)
            if not rule or rule.company_id != self.company:
                continue
            rule.fixed_cost = FIXED_COSTS.get(xmlid, 0.0)
            self._enrol(rule, entries, orders)
        # the revenue each enrolment brought and the step it goes to, as the engine keeps it
        self.env["pulse.enrolment"]._attribute()
        self.env.flush_all()
        _logger.info("demo rule history: %s", dict(self.counts))
        return dict(self.counts)


def generate(env, seed=42, today=None):
    """Generate the shipped rules' history; returns the counts of what was made."""
    return DemoRuleReturn(env, seed=seed, today=today).run()
