"""Work done per employee at scale: a year of activity of USERS salespeople (activities
marked done on contacts, orders and invoices, emails to customers, the confirmations of the
generated orders tracked in their chatter), written in SQL into Odoo's own tables, then
the work-done pivot of a month read as the web client reads it (its four read_group calls:
total, per employee, per kind, per employee and kind), with the comparison with the
previous month and over the whole year by month, beside two naive ways: a read_group per
employee on the source models, and an ORM loop over the month's records. The totals of the
naive read_group are checked against the report's.

Usage: python bench/bench_work_done.py DBNAME SCALE OUT
(SCALE 10k: 20 employees and 100,000 messages; 100k: 200 and 1,000,000; 1m: 400 and
4,000,000; or "USERS:MESSAGES")
"""

import json
import os
import resource
import statistics
import sys
import time
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from odoo_env import environment

SIZES = {"10k": (20, 100_000), "100k": (200, 1_000_000), "1m": (400, 4_000_000)}
TEAMS = 10
EMAIL_SHARE = 0.3  # of the generated messages; the rest are activities marked done
REPEAT = 3  # timings: the best of REPEAT warm runs
ACTIVITY_TYPES = (
    "mail.mail_activity_data_call",
    "mail.mail_activity_data_meeting",
    "mail.mail_activity_data_todo",
    "mail.mail_activity_data_email",
)


def timed(fn, repeat=REPEAT):
    """(best seconds of ``repeat`` runs, result of the last)."""
    times = []
    result = None
    for _n in range(repeat):
        start = time.monotonic()
        result = fn()
        times.append(time.monotonic() - start)
    return min(times), result


def scalar(cr, query, params=None):
    cr.execute(query, params or [])
    return cr.fetchone()[0]


# ------------------------------------------------------------------------------ data
def prepare(env, users_count, messages):
    """Salespeople in teams (and half of them in a department), the generated orders shared
    between them with their confirmation tracked, and a year of activities and emails."""
    cr = env.cr
    company = env.company
    done = env["res.users"].search([("login", "=like", "bench.seller.%")], order="id")
    if len(done) >= users_count and scalar(cr, "SELECT to_regclass('bench_done') IS NOT NULL"):
        return generated_counts(env, done[:users_count]), done[:users_count]
    Users = env["res.users"].with_context(no_reset_password=True, mail_create_nolog=True)
    salesman = env.ref("sales_team.group_sale_salesman")
    pulse_user = env.ref("customer_pulse.group_pulse_user")
    users = Users.search([("login", "=like", "bench.seller.%")], order="id")
    if len(users) < users_count:
        users |= Users.create(
            [
                {
                    "name": f"Bench seller {n}",
                    "login": f"bench.seller.{n}",
                    "groups_id": [(6, 0, [salesman.id, pulse_user.id])],
                }
                for n in range(len(users), users_count)
            ]
        )
    users = users[:users_count]
    teams = env["crm.team"].create(
        [
            {"name": f"Bench team {n}", "user_id": users[n].id}
            for n in range(min(TEAMS, users_count))
        ]
    )
    env["crm.team.member"].create(
        [
            {"crm_team_id": teams[n % len(teams)].id, "user_id": user.id}
            for n, user in enumerate(users)
        ]
    )
    department = env["pulse.department"].search([], limit=1)
    if department:
        department.user_ids = [(4, user.id) for user in users[::2]]
    env.flush_all()
    partners = users.partner_id.ids
    type_ids = [env.ref(xmlid).id for xmlid in ACTIVITY_TYPES]
    activities_subtype = env.ref("mail.mt_activities").id
    comment_subtype = env.ref("mail.mt_comment").id
    note_subtype = env.ref("mail.mt_note").id
    state_field = env["ir.model.fields"]._get("sale.order", "state").id
    cr.execute("SELECT setseed(0.15)")
    # the generated orders are the salespeople's; confirmations of the last year tracked
    cr.execute(
        """
        UPDATE sale_order SET user_id = (%(users)s::int[])[1 + id %% %(n)s];
        CREATE TEMP TABLE bench_confirmed AS
        SELECT so.id, so.date_order, so.user_id, nextval('mail_message_id_seq') AS message_id
          FROM sale_order so
         WHERE so.state = 'sale' AND so.date_order > now() - interval '1 year';
        INSERT INTO mail_message (id, model, res_id, date, message_type, subtype_id,
               author_id, record_company_id, create_uid, create_date, write_uid, write_date)
        SELECT c.message_id, 'sale.order', c.id, c.date_order, 'notification', %(note)s,
               u.partner_id, %(company)s, c.user_id, c.date_order, c.user_id, c.date_order
          FROM bench_confirmed c JOIN res_users u ON u.id = c.user_id;
        INSERT INTO mail_tracking_value (field_id, old_value_char, new_value_char,
               mail_message_id, create_uid, create_date, write_uid, write_date)
        SELECT %(state_field)s, 'Quotation', 'Sales Order', c.message_id, c.user_id,
               c.date_order, c.user_id, c.date_order
          FROM bench_confirmed c;
        """,
        {
            "users": users.ids,
            "n": len(users),
            "note": note_subtype,
            "company": company.id,
            "state_field": state_field,
        },
    )
    tracked = scalar(cr, "SELECT COUNT(*) FROM bench_confirmed")
    activities = max(0, int((messages - tracked) * (1 - EMAIL_SHARE)))
    emails = max(0, messages - tracked - activities)
    cr.execute(
        """
        CREATE TEMP TABLE bench_customer AS
        SELECT row_number() OVER (ORDER BY id) AS n, id FROM res_partner
         WHERE customer_rank > 0 AND id = commercial_partner_id;
        CREATE INDEX ON bench_customer (n);
        ANALYZE bench_customer;
        """
    )
    customers = scalar(cr, "SELECT COUNT(*) FROM bench_customer")
    common = {
        "partners": partners,
        "n": len(partners),
        "customers": customers,
        "company": company.id,
    }
    # activities marked done: 60% on contacts, 25% on orders, 15% on invoices
    cr.execute(
        """
        INSERT INTO mail_message (model, res_id, date, message_type, subtype_id,
               mail_activity_type_id, author_id, record_company_id, body,
               create_uid, create_date, write_uid, write_date)
        SELECT doc.model, doc.res_id, g.day, 'notification', %(subtype)s,
               (%(types)s::int[])[1 + floor(random() * %(type_count)s)::int], g.author, %(company)s,
               '<p>Done</p>', 1, g.day, 1, g.day
          FROM (SELECT now() AT TIME ZONE 'UTC' - random() * interval '365 days' AS day,
                       (%(partners)s::int[])[1 + floor(random() * %(n)s)::int] AS author,
                       random() AS pick,
                       1 + floor(random() * %(customers)s)::int AS customer
                  FROM generate_series(1, %(count)s)) g
          CROSS JOIN LATERAL (
              SELECT CASE WHEN g.pick < 0.6 THEN 'res.partner'
                          WHEN g.pick < 0.85 THEN 'sale.order' ELSE 'account.move' END AS model,
                     CASE WHEN g.pick < 0.6
                          THEN (SELECT id FROM bench_customer WHERE n = g.customer)
                          ELSE g.customer END AS res_id
          ) doc
        """,
        {
            **common,
            "subtype": activities_subtype,
            "types": type_ids,
            "type_count": len(type_ids),
            "count": activities,
        },
    )
    # emails to customers, with the notification of their recipient
    cr.execute(
        """
        CREATE TEMP TABLE bench_email AS
        SELECT nextval('mail_message_id_seq') AS id,
               now() AT TIME ZONE 'UTC' - random() * interval '365 days' AS day,
               (%(partners)s::int[])[1 + floor(random() * %(n)s)::int] AS author,
               c.id AS customer
          FROM generate_series(1, %(count)s) g
          JOIN bench_customer c ON c.n = 1 + (g * 7919) %% %(customers)s;
        INSERT INTO mail_message (id, model, res_id, date, message_type, subtype_id, author_id,
               record_company_id, body, create_uid, create_date, write_uid, write_date)
        SELECT id, 'res.partner', customer, day, 'comment', %(subtype)s, author, %(company)s,
               '<p>Hello</p>', 1, day, 1, day
          FROM bench_email;
        INSERT INTO mail_notification (mail_message_id, res_partner_id, author_id,
               notification_type, notification_status, is_read)
        SELECT id, customer, author, 'email', 'sent', TRUE FROM bench_email;
        ANALYZE mail_message, mail_notification, mail_tracking_value, sale_order, res_users;
        """,
        {**common, "subtype": comment_subtype, "count": emails},
    )
    # a second run on the same database measures without generating again
    cr.execute("CREATE TABLE bench_done AS SELECT 1 AS done")
    env.invalidate_all()
    cr.commit()
    return generated_counts(env, users), users


def generated_counts(env, users):
    cr = env.cr
    activities = env.ref("mail.mt_activities").id
    return {
        "users": len(users),
        "teams": len(users.sale_team_id),
        "orders": scalar(cr, "SELECT COUNT(*) FROM sale_order"),
        "tracked_confirmations": scalar(
            cr,
            "SELECT COUNT(*) FROM mail_tracking_value WHERE field_id = %s",
            [env["ir.model.fields"]._get("sale.order", "state").id],
        ),
        "activity_messages": scalar(
            cr, "SELECT COUNT(*) FROM mail_message WHERE subtype_id = %s", [activities]
        ),
        "email_messages": scalar(
            cr, "SELECT COUNT(*) FROM mail_message WHERE message_type = 'comment'"
        ),
        "messages_total": scalar(cr, "SELECT COUNT(*) FROM mail_message"),
        "prepare_s": 0,
    }


# ------------------------------------------------------------------------------ reads
def month_domain(first):
    last = first + relativedelta(months=1) - timedelta(days=1)
    return [("date", ">=", str(first)), ("date", "<=", str(last))]


def pivot(env, domain):
    """The pivot's reads: total, rows (employee), columns (kind), cells."""
    Work = env["pulse.work.done"]
    env.invalidate_all()
    result = None
    for groupby in ([], ["user_id"], ["kind"], ["user_id", "kind"]):
        result = Work.read_group(domain, ["count:sum"], groupby, lazy=False)
    return {(g["user_id"][0], g["kind"]): g["count"] for g in result}


def year_by_month(env, first_of_year):
    Work = env["pulse.work.done"]
    env.invalidate_all()
    return Work.read_group(
        [("date", ">=", str(first_of_year))],
        ["count:sum"],
        ["date:month", "kind"],
        lazy=False,
    )


def funnel_year(env, first_of_year):
    """The quote funnel's pivot over twelve months of issue, per salesperson and month."""
    Funnel = env["pulse.quote.funnel"]
    env.invalidate_all()
    measures = ["issued:sum", "sent:sum", "confirmed:sum", "lost:sum", "conversion:avg"]
    domain = [("issue_date", ">=", str(first_of_year))]
    result = None
    for groupby in ([], ["user_id"], ["issue_date:month"], ["user_id", "issue_date:month"]):
        result = Funnel.read_group(domain, measures, groupby, lazy=False)
    return result


def naive_read_groups(env, users, first):
    """A read_group (or search_count) per employee on the source models."""
    env.invalidate_all()
    start, end = str(first), str(first + relativedelta(months=1))
    Message = env["mail.message"]
    category = {t.id: t.category for t in env["mail.activity.type"].search([])}
    kinds = {"phonecall": "call", "meeting": "meeting"}
    activities = env.ref("mail.mt_activities").id
    counts = {}
    for user in users:
        period = [("date", ">=", start), ("date", "<", end)]
        for group in Message.read_group(
            [
                ("author_id", "=", user.partner_id.id),
                ("subtype_id", "=", activities),
                ("mail_activity_type_id", "!=", False),
                *period,
            ],
            ["mail_activity_type_id"],
            ["mail_activity_type_id"],
        ):
            kind = kinds.get(category[group["mail_activity_type_id"][0]], "activity")
            counts[user.id, kind] = (
                counts.get((user.id, kind), 0) + group["mail_activity_type_id_count"]
            )
        emails = Message.search_count(
            [
                ("author_id", "=", user.partner_id.id),
                ("message_type", "in", ("comment", "email_outgoing")),
                ("subtype_id.internal", "=", False),
                ("model", "in", ("res.partner", "sale.order", "account.move", "crm.lead")),
                ("notification_ids.notification_type", "=", "email"),
                ("notification_ids.res_partner_id.user_ids", "=", False),
                *period,
            ]
        )
        if emails:
            counts[user.id, "email"] = emails
        orders = env["sale.order"].search_count(
            [
                ("user_id", "=", user.id),
                ("state", "=", "sale"),
                ("date_order", ">=", start),
                ("date_order", "<", end),
            ]
        )
        if orders:
            counts[user.id, "order"] = orders
        quotes = env["sale.order"].search_count(
            [("user_id", "=", user.id), ("create_date", ">=", start), ("create_date", "<", end)]
        )
        if quotes:
            counts[user.id, "quote"] = quotes
    return counts


def naive_loop(env, users, first):
    """An ORM loop over the month's activity messages, counted in Python."""
    env.invalidate_all()
    start, end = str(first), str(first + relativedelta(months=1))
    by_partner = {user.partner_id.id: user.id for user in users}
    counts = {}
    messages = env["mail.message"].search(
        [
            ("date", ">=", start),
            ("date", "<", end),
            ("mail_activity_type_id", "!=", False),
            ("author_id", "in", list(by_partner)),
        ]
    )
    for message in messages:
        category = message.mail_activity_type_id.category
        kind = {"phonecall": "call", "meeting": "meeting"}.get(category, "activity")
        key = (by_partner[message.author_id.id], kind)
        counts[key] = counts.get(key, 0) + 1
    return counts, len(messages)


def main(dbname, scale, out):
    users_count, messages = (
        SIZES[scale] if scale in SIZES else tuple(int(x) for x in scale.split(":"))
    )
    with environment(dbname) as env:
        start = time.monotonic()
        generated, users = prepare(env, users_count, messages)
        generated["prepare_s"] = generated["prepare_s"] or round(time.monotonic() - start, 1)
        first = (date.today().replace(day=1)) - relativedelta(months=1)
        domain = month_domain(first)
        pivot_s, cells = timed(lambda: pivot(env, domain))
        previous = month_domain(first - relativedelta(months=1))
        compare_s, _cells = timed(lambda: (pivot(env, domain), pivot(env, previous)))
        year_s, year = timed(lambda: year_by_month(env, first - relativedelta(months=11)))
        funnel_s, funnel = timed(lambda: funnel_year(env, first - relativedelta(months=11)))
        naive_s, naive_counts = timed(lambda: naive_read_groups(env, users, first), repeat=1)
        loop_s, (loop_counts, loop_messages) = timed(
            lambda: naive_loop(env, users, first), repeat=1
        )
        # the report's figures equal the naive ones, kind by kind
        mismatches = {
            key: (cells.get(key, 0), value)
            for key, value in naive_counts.items()
            if cells.get(key, 0) != value and key[1] != "quote"
        }
        for key, value in loop_counts.items():
            if cells.get(key, 0) != value:
                mismatches[key] = (cells.get(key, 0), value)
        cell_values = list(cells.values())
        results = {
            **generated,
            "month": str(first),
            "month_cells": len(cells),
            "month_total": sum(cell_values),
            "median_cell": statistics.median(cell_values) if cell_values else 0,
            "pivot_s": round(pivot_s, 3),
            "pivot_compare_s": round(compare_s, 3),
            "year_by_month_s": round(year_s, 3),
            "year_groups": len(year),
            "funnel_year_s": round(funnel_s, 3),
            "funnel_cells": len(funnel),
            "funnel_quotes": sum(g["issued"] for g in funnel),
            "naive_read_group_per_user_s": round(naive_s, 3),
            "naive_orm_loop_s": round(loop_s, 3),
            "naive_orm_loop_messages": loop_messages,
            "mismatches": len(mismatches),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        if mismatches:
            print("mismatches (report, naive):", dict(list(mismatches.items())[:10]))
        env.cr.rollback()
    data = {}
    if os.path.exists(out):
        with open(out, encoding="utf-8") as f:
            data = json.load(f)
    data.setdefault(scale, {})["work_done"] = results
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    print_table(scale, results)


def print_table(scale, r):
    print(
        f"\nWork done, SCALE={scale}: {r['users']} employees, {r['messages_total']:,} messages"
        f" ({r['activity_messages']:,} activities done, {r['email_messages']:,} emails,"
        f" {r['tracked_confirmations']:,} tracked confirmations), {r['orders']:,} orders;"
        f" generated in {r['prepare_s']} s"
    )
    print(
        f"  month {r['month']}: {r['month_total']:,} pieces of work in {r['month_cells']:,}"
        f" employee x kind cells; figures equal to the naive ones: {not r['mismatches']}"
    )
    lines = [
        ("work-done pivot, one month (its 4 read_group calls)", r["pivot_s"]),
        ("  with the comparison with the previous month", r["pivot_compare_s"]),
        (f"  a year by month and kind ({r['year_groups']} groups)", r["year_by_month_s"]),
        (
            f"quote funnel, 12 months of issue by salesperson and month"
            f" ({r['funnel_quotes']:,} quotations)",
            r["funnel_year_s"],
        ),
        ("naive: a read_group / search_count per employee", r["naive_read_group_per_user_s"]),
        (
            f"naive: ORM loop over the month's {r['naive_orm_loop_messages']:,} activities"
            " (activities only)",
            r["naive_orm_loop_s"],
        ),
    ]
    for label, secs in lines:
        ratio = secs / r["pivot_s"] if r["pivot_s"] else 0
        print(f"  {label:<70} {secs:>8.3f} s   {ratio:>6.1f}x")
    print(f"  {'peak RSS of the Odoo process':<70} {r['peak_rss_mb']:>8.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
