"""Screen latency: the server time of the calls Odoo's web client makes when a salesperson, a
marketer and an accountant open Customer Pulse's screens (webclient.py), over real HTTP to a
running Odoo (one process, no cron), beside the same calls of Odoo's own screens (the
customers' kanban and list, the sales orders list, the partner form without its pulse
fields). The screens: the partner form with its pulse card and profile, the Customers list
(first page, and grouped by RFM segment), contacts with no purchase for over a year (first
page, and their count), a segment form with its key figures and its members, the segments
dashboard, a rule form with its results, the follow-ups list and every entry under
Customer Pulse > Reporting.

2 warm-up rounds, then 20 rounds, each opening every screen once (a busy moment of the
machine falls on all of them alike): the median and the p95 of each screen's wall time (the
HTTP round trips on 127.0.0.1 of its calls, one after the other) and, from the server's log,
its SQL time and queries. Screens above 300 ms at p95 or above 3x the customers' list of the
same user are replayed once more on a server logging its SQL: their slowest query is
reported.

The users (bench_salesperson, bench_marketer, bench_accountant) are created or reused; every
tenth customer and their orders become the salesperson's. Facts and segments are refreshed
first if they never were. The records opened: the customer with the most orders, the segment
with the most members, the rule with the most enrolments.

Usage: python bench/bench_screens.py DBNAME SCALE OUT
(SCREENS=<regular expression>: only the screens whose name it matches, and the references;
ROUNDS=<n>, WARM_UPS=<n>: other numbers of rounds.)
"""

import json
import os
import re
import statistics
import sys
import tempfile

from odoo_env import environment
from webclient import Action, Client, Server

WARM_UPS = int(os.environ.get("WARM_UPS", 2))
CALLS = int(os.environ.get("ROUNDS", 20))
P95_LIMIT_MS = 300  # issue 16: every screen under this at p95...
REFERENCE_FACTOR = 3  # ... and never above this many times Odoo's own customers list
PASSWORD = "bench-screens"
SALESPERSON_SHARE = 10  # every tenth customer is the salesperson's
ROLES = {
    "salesperson": ["customer_pulse.group_pulse_user", "sales_team.group_sale_salesman"],
    "marketer": ["customer_pulse.group_pulse_marketer"],
    "accountant": ["customer_pulse.group_pulse_accountant", "account.group_account_invoice"],
}
ALL = tuple(ROLES)
REFERENCE = "ref_customers_list"
CUSTOMERS = "account.res_partner_action_customer"  # Odoo's Invoicing/Sales > Customers


# --- preparation (in the database, as the superuser) -------------------------------------


def ensure_users(env):
    """The three bench users, created or brought to their groups and password."""
    Users = env["res.users"].with_context(no_reset_password=True)
    company = env.company
    users = {}
    for role, groups in ROLES.items():
        login = f"bench_{role}"
        group_ids = [env.ref("base.group_user").id] + [env.ref(g).id for g in groups]
        vals = {
            "name": f"Bench {role}",
            "login": login,
            "password": PASSWORD,
            "groups_id": [(6, 0, group_ids)],
            "company_id": company.id,
            "company_ids": [(6, 0, company.ids)],
            "tz": "UTC",
        }
        user = Users.search([("login", "=", login)])
        if user:
            user.write(vals)
        else:
            user = Users.create(vals)
        users[role] = user
    return users


def prepare(env):
    """Users, the salesperson's customers, facts and segments; returns the records the
    screens open and the reporting actions."""
    cr = env.cr
    users = ensure_users(env)
    salesperson = users["salesperson"].id
    cr.execute(
        """
        UPDATE res_partner SET user_id = %(user)s
         WHERE customer_rank > 0 AND id %% %(share)s = 0 AND user_id IS NULL;
        UPDATE sale_order SET user_id = %(user)s
         WHERE partner_id %% %(share)s = 0 AND user_id IS DISTINCT FROM %(user)s;
        """,
        {"user": salesperson, "share": SALESPERSON_SHARE},
    )
    # a tenth of the orders changed hands at once: the planner's statistics and the tables'
    # visibility maps follow, as once autovacuum has been through them (which it may not
    # have yet: its thresholds are a tenth and a fifth of the table)
    cr.commit()
    cr._cnx.autocommit = True
    try:
        cr.execute("VACUUM ANALYZE res_partner, sale_order")
    finally:
        cr._cnx.autocommit = False
    env.invalidate_all()
    cr.execute("SELECT COUNT(*) FROM pulse_partner_stats")
    stale = not cr.fetchone()[0]
    if stale:
        print("  refreshing the facts (never refreshed)", flush=True)
        env["pulse.facts.engine"]._refresh_all()
        cr.commit()
    # segments refreshed before the facts (the template's install) have no members yet
    cr.execute("SELECT NOT EXISTS (SELECT 1 FROM pulse_segment_member)")
    stale = stale or cr.fetchone()[0]
    segments = env["pulse.segment"].search([("active", "=", True)])
    for segment in segments if stale else segments.filtered(lambda s: not s.last_refresh):
        segment._refresh_members()
        cr.commit()
    cr.execute(
        """
        SELECT partner_id FROM pulse_partner_stats
         ORDER BY order_count DESC, partner_id LIMIT 1
        """
    )
    partner = cr.fetchone()[0]
    cr.execute(
        """
        SELECT s.id FROM pulse_segment s
          LEFT JOIN pulse_segment_member m ON m.segment_id = s.id AND m.date_left IS NULL
         WHERE s.active GROUP BY s.id ORDER BY COUNT(m.id) DESC, s.id LIMIT 1
        """
    )
    segment = cr.fetchone()[0]
    cr.execute(
        """
        SELECT r.id, COUNT(e.id) FROM pulse_rule r
          LEFT JOIN pulse_enrolment e ON e.rule_id = r.id
         WHERE r.active GROUP BY r.id ORDER BY COUNT(e.id) DESC, r.id LIMIT 1
        """
    )
    rule, enrolments = cr.fetchone()
    cr.execute(
        "SELECT COUNT(*) FROM pulse_segment_member WHERE segment_id = %s AND date_left IS NULL",
        [segment],
    )
    members = cr.fetchone()[0]
    cr.commit()
    return {
        "users": {role: user.login for role, user in users.items()},
        "partner": partner,
        "segment": segment,
        "segment_members": members,
        "rule": rule,
        "rule_enrolments": enrolments,
        "reports": reporting_actions(env),
    }


def reporting_actions(env):
    """The window actions under Customer Pulse > Reporting, Odoo's own reports left out."""
    root = env.ref("customer_pulse.menu_reporting")
    odoo_reports = env.ref("customer_pulse.menu_reporting_odoo", raise_if_not_found=False)
    menus = env["ir.ui.menu"].search([("id", "child_of", root.id)])
    if odoo_reports:
        menus -= env["ir.ui.menu"].search([("id", "child_of", odoo_reports.id)])
    actions = []
    for menu in menus.sorted(lambda m: (m.parent_id.sequence, m.sequence, m.id)):
        action = menu.action
        if action and action._name == "ir.actions.act_window":
            xmlid = action.get_external_id().get(action.id)
            if xmlid and xmlid not in actions:
                actions.append(xmlid)
    return actions


# --- the screens -------------------------------------------------------------------------


class Screens:
    """Each screen's calls for one user, its actions loaded once (as the web client keeps
    the views it loaded)."""

    def __init__(self, client, records):
        self.client = client
        self.records = records
        self._actions = {}

    def action(self, ref, views=None):
        key = (ref, tuple(views or ()))
        if key not in self._actions:
            self._actions[key] = Action(self.client, ref, views)
        return self._actions[key]

    def definitions(self):
        """[(name, roles, reference, builder)]: builder() -> the screen's calls."""
        r = self.records
        contacts = "customer_pulse.action_pulse_contacts"
        customers = "customer_pulse.action_pulse_partner_stats"

        def lapsed():
            a = self.action(contacts)
            return {**a.search_defaults, "pulse_lapsed": 1}

        def segment_form():
            action = self.action("customer_pulse.action_pulse_segment", ["form"])
            return action.calls("form", res_id=r["segment"])

        def members():
            action = self.client.call_button("pulse.segment", "action_open_members", [r["segment"]])
            return Action(self.client, action).calls()

        screens = [
            (
                "partner_form",
                ALL,
                "ref_partner_form",
                lambda: self.action(contacts, ["form"]).calls("form", res_id=r["partner"]),
            ),
            ("customers_list", ALL, REFERENCE, lambda: self.action(customers).calls("list")),
            (
                "customers_by_rfm",
                ALL,
                REFERENCE,
                lambda: self.action(customers).calls("list", group_by=["rfm_segment"]),
            ),
            (
                "contacts_lapsed",
                ALL,
                REFERENCE,
                lambda: self.action(contacts).calls("list", filters=lapsed()),
            ),
            (
                "contacts_lapsed_count",
                ALL,
                REFERENCE,
                lambda: [self.action(contacts).count_call(filters=lapsed())],
            ),
            # the form shows once its record is read; the filter editor then counts the
            # contacts its filter matches without holding the form (Odoo's domain field does
            # not await it: a spinner, then "N record(s)"), so that count is a screen of its own
            (
                "segment_form",
                ("salesperson", "marketer"),
                "ref_partner_form",
                lambda: segment_form()[:1],
            ),
            (
                "segment_form_filter_count",
                ("salesperson", "marketer"),
                REFERENCE,
                lambda: segment_form()[1:],
            ),
            ("segment_members", ("marketer",), REFERENCE, members),
            (
                "segments_dashboard",
                ("marketer",),
                REFERENCE,
                lambda: self.action("customer_pulse.action_pulse_segment_kpi").calls(),
            ),
            (
                "segments_dashboard_list",
                ("marketer",),
                REFERENCE,
                lambda: self.action("customer_pulse.action_pulse_segment_kpi").calls("list"),
            ),
            (
                "rule_form",
                ("marketer",),
                "ref_partner_form",
                lambda: self.action("customer_pulse.action_pulse_rule", ["form"]).calls(
                    "form", res_id=r["rule"]
                ),
            ),
            (
                "followups_list",
                ("accountant",),
                REFERENCE,
                lambda: self.action("customer_pulse.action_pulse_followup").calls("list"),
            ),
        ]
        for ref in r["reports"]:
            name = "report_" + ref.split(".", 1)[1].removeprefix("action_pulse_")
            screens.append(
                (
                    name,
                    ("salesperson", "marketer"),
                    REFERENCE,
                    lambda ref=ref: self.action(ref).calls(),
                )
            )
        screens += [
            ("ref_customers_kanban", ALL, None, lambda: self.action(CUSTOMERS).calls("kanban")),
            (REFERENCE, ALL, None, lambda: self.action(CUSTOMERS).calls("list")),
            (
                "ref_sales_orders",
                ALL,
                None,
                lambda: self.action("sale.action_orders").calls("list"),
            ),
            (
                "ref_partner_form",
                ALL,
                None,
                lambda: self.action(contacts, ["form"]).calls(
                    "form", res_id=r["partner"], spec_filter=lambda f: not f.startswith("pulse_")
                ),
            ),
        ]
        only = os.environ.get("SCREENS")
        if only:
            screens = [s for s in screens if not s[2] or re.search(only, s[0])]
        return screens

    def build(self, role):
        """{screen: (reference, calls)} of this role's screens; a screen the user may not
        open is reported, not measured."""
        built, skipped = {}, {}
        for name, roles, reference, builder in self.definitions():
            if role not in roles:
                continue
            try:
                built[name] = (reference, builder())
            except Exception as e:  # reported beside the figures
                skipped[name] = str(e)[:200]
        return built, skipped


# --- measuring ---------------------------------------------------------------------------


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def replay(client, calls, tag):
    """Make the screen's calls one after the other; (seconds, [tags])."""
    total, tags = 0.0, []
    for i, call in enumerate(calls):
        t = f"{tag}.{i}"
        total += client.call(call, t)[1]
        tags.append(t)
    return total, tags


def measure(server, dbname, records, warm_ups=WARM_UPS, calls=CALLS):
    """{screen: {role: figures}} and the screens that could not be opened. Each round opens
    every screen once, so that a busy moment of the machine falls on all of them alike."""
    results, skipped = {}, {}
    tags = {}
    order = [d[0] for d in Screens(None, records).definitions()]
    for role, login in records["users"].items():
        client = Client(server.base, dbname, login, PASSWORD)
        built, skipped[role] = Screens(client, records).build(role)
        walls = {name: [] for name in built}
        for i in range(warm_ups + calls):
            for name, (_reference, screen_calls) in built.items():
                if i < warm_ups:
                    replay(client, screen_calls, f"w.{role}.{name}.{i}")
                    continue
                seconds, call_tags = replay(client, screen_calls, f"m.{role}.{name}.{i}")
                walls[name].append(seconds)
                tags.setdefault((name, role), []).append(call_tags)
        for name, (reference, screen_calls) in built.items():
            results.setdefault(name, {})[role] = {
                "median_ms": round(statistics.median(walls[name]) * 1000, 1),
                "p95_ms": round(percentile(walls[name], 0.95) * 1000, 1),
                "calls": [f"{c[0]}.{c[1]}" for c in screen_calls],
                "reference": reference,
            }
    results = {name: results[name] for name in order if name in results}
    log = server.request_log()
    for (name, role), per_replay in tags.items():
        server_s, sql_s, queries = [], [], []
        for call_tags in per_replay:
            found = [log[t] for t in call_tags if t in log]
            if len(found) != len(call_tags):
                continue
            queries.append(sum(f[0] for f in found))
            sql_s.append(sum(f[1] for f in found))
            server_s.append(sum(f[1] + f[2] for f in found))
        if server_s:
            results[name][role].update(
                server_median_ms=round(statistics.median(server_s) * 1000, 1),
                server_p95_ms=round(percentile(server_s, 0.95) * 1000, 1),
                sql_median_ms=round(statistics.median(sql_s) * 1000, 1),
                queries=int(statistics.median(queries)),
            )
    for name, per_role in results.items():
        for role, figures in per_role.items():
            ref = results.get(figures["reference"] or "", {}).get(role)
            if ref:
                figures["reference_median_ms"] = ref["median_ms"]
                figures["reference_p95_ms"] = ref["p95_ms"]
                figures["ratio"] = round(figures["p95_ms"] / ref["p95_ms"], 2)
                figures["ratio_median"] = round(figures["median_ms"] / ref["median_ms"], 2)
            base = results.get(REFERENCE, {}).get(role)
            figures["too_slow"] = bool(
                not name.startswith("ref_")
                and (
                    figures["p95_ms"] > P95_LIMIT_MS
                    or (base and figures["p95_ms"] > REFERENCE_FACTOR * base["p95_ms"])
                )
            )
    return results, {role: s for role, s in skipped.items() if s}


# --- the slowest query of the slow screens --------------------------------------------------

RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ ")
SQL_LINE = re.compile(r"odoo\.sql_db: \[([\d.]+) ms\] query: (.*)", re.S)
TAG = re.compile(r"[?&]t=([\w.-]+) HTTP/")


def log_records(path):
    record = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if RECORD_START.match(line) and record:
                yield "".join(record)
                record = []
            record.append(line)
    if record:
        yield "".join(record)


def slowest_queries(dbname, records, results, logdir):
    """For each slow screen (its first slow role), replayed once on a server logging its SQL:
    the slowest query and the SQL total of the screen."""
    slow = {}
    for name, per_role in results.items():
        for role, figures in per_role.items():
            if figures["too_slow"]:
                slow.setdefault(role, []).append(name)
                break
    if not slow:
        return {}
    found = {}
    logfile = os.path.join(logdir, "screens_sql.log")
    with Server(dbname, logfile, log_handlers=["odoo.sql_db:DEBUG"]) as server:
        for role, names in slow.items():
            client = Client(server.base, dbname, records["users"][role], PASSWORD)
            built, _skipped = Screens(client, records).build(role)
            for name in names:
                replay(client, built[name][1], f"w.{role}.{name}")  # views and caches
                replay(client, built[name][1], f"q.{role}.{name}")
    queries = []
    for record in log_records(logfile):
        m = SQL_LINE.search(record)
        if m:
            queries.append((float(m.group(1)), m.group(2).strip()))
            continue
        t = TAG.search(record)
        if t:
            tag = t.group(1)
            if tag.startswith("q."):
                _q, role, name, _i = tag.split(".", 3)
                entry = found.setdefault(name, {"role": role, "sql_ms": 0.0, "queries": 0})
                entry["sql_ms"] = round(entry["sql_ms"] + sum(q[0] for q in queries), 1)
                entry["queries"] += len(queries)
                top = max(queries, default=None)
                if top and top[0] > entry.get("slowest_ms", 0):
                    entry["slowest_ms"] = round(top[0], 1)
                    entry["slowest_sql"] = " ".join(top[1].split())[:600]
            queries = []
    return found


# --- results -----------------------------------------------------------------------------


def save(out, scale, key, result):
    data = {}
    if os.path.exists(out):
        with open(out, encoding="utf-8") as f:
            data = json.load(f)
    data.setdefault(scale, {})[key] = result
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


def print_table(scale, result):
    print(
        f"\nScreens, SCALE={scale} (ms: wall time of the screen's calls over HTTP, {CALLS}"
        f" rounds after {WARM_UPS} warm-ups; server: Odoo's own time of them; ref: the"
        f" reference screen of the same user; x: p95 / ref p95 (median / ref median))"
    )
    print(
        f"  {'screen':<30} {'user':<11} {'median':>7} {'p95':>7} {'server':>7} {'sql':>6}"
        f" {'queries':>7} {'ref med':>7} {'ref p95':>7} {'x p95':>6} {'x med':>6}"
    )
    for name, per_role in result["screens"].items():
        for role, f in per_role.items():
            flag = "  <-- over" if f.get("too_slow") else ""
            print(
                f"  {name:<30} {role:<11} {f['median_ms']:>7} {f['p95_ms']:>7}"
                f" {f.get('server_p95_ms', '-'):>7} {f.get('sql_median_ms', '-'):>6}"
                f" {f.get('queries', '-'):>7} {f.get('reference_median_ms', '-'):>7}"
                f" {f.get('reference_p95_ms', '-'):>7} {f.get('ratio', '-'):>6}"
                f" {f.get('ratio_median', '-'):>6}{flag}"
            )
    for role, skipped in result.get("skipped", {}).items():
        for name, why in skipped.items():
            print(f"  not measured: {name} ({role}): {why}")
    for name, q in result.get("slowest_queries", {}).items():
        print(
            f"  {name} ({q['role']}): {q['queries']} queries, {q['sql_ms']} ms of SQL,"
            f" slowest {q.get('slowest_ms')} ms: {q.get('slowest_sql', '')[:300]}"
        )


def main(dbname, scale, out):
    with environment(dbname) as env:
        records = prepare(env)
    with tempfile.TemporaryDirectory(prefix="pulse_screens_") as path:
        with Server(dbname, os.path.join(path, "screens.log")) as server:
            screens, skipped = measure(server, dbname, records)
        slowest = slowest_queries(dbname, records, screens, path)
    result = {
        "screens": screens,
        "skipped": skipped,
        "slowest_queries": slowest,
        "records": {k: v for k, v in records.items() if k not in ("users", "reports")},
        "warm_ups": WARM_UPS,
        "calls": CALLS,
    }
    save(out, scale, "screens", result)
    print_table(scale, result)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
