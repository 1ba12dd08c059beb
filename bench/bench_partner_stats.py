"""Customer facts at scale: full, unchanged and incremental refresh against the bare SQL bound
and a naive per-partner ORM loop. Usage: python bench/bench_partner_stats.py DBNAME SCALE OUT"""

import json
import os
import resource
import sys
import time
from contextlib import ExitStack
from datetime import date, timedelta
from unittest.mock import patch

from freezegun import freeze_time
from odoo_env import environment

ORM_SAMPLE = 200


def timed(fn):
    start = time.monotonic()
    result = fn()
    return time.monotonic() - start, result


def rows(cr, table):
    cr.execute(f"SELECT COUNT(*) FROM {table}")
    return cr.fetchone()[0]


def simulate_day(cr, share=0.01):
    """1% of customers get a new confirmed order, its posted invoice, and a payment of an
    older open invoice: through SQL, so the facts queue triggers fire like in production."""
    cr.execute(
        """
        CREATE TEMP TABLE bench_day AS
        SELECT id AS partner_id FROM res_partner
         WHERE customer_rank > 0 AND random() < %s;
        INSERT INTO sale_order (name, partner_id, partner_invoice_id, partner_shipping_id,
               company_id, date_order, state, amount_untaxed, amount_total, currency_id,
               currency_rate, create_date, write_date, create_uid, write_uid)
        SELECT 'DAY' || partner_id || '-' || floor(random() * 1e9)::bigint,
               partner_id, partner_id, partner_id, c.id,
               now() AT TIME ZONE 'UTC', 'sale', 100, 120, c.currency_id, 1, now(), now(), 1, 1
          FROM bench_day, (SELECT id, currency_id FROM res_company ORDER BY id LIMIT 1) c;
        INSERT INTO account_move (name, move_type, state, partner_id, commercial_partner_id,
               company_id, journal_id, currency_id, date, invoice_date, invoice_date_due,
               amount_untaxed_signed, amount_total_signed, amount_residual_signed,
               payment_state, auto_post, create_date, write_date)
        SELECT 'DAYINV' || partner_id || '-' || floor(random() * 1e9)::bigint,
               'out_invoice', 'posted', partner_id, partner_id, c.id,
               (SELECT id FROM account_journal WHERE type = 'sale' ORDER BY id LIMIT 1),
               c.currency_id, current_date, current_date, current_date + 30, 100, 120, 120,
               'not_paid', 'no', now(), now()
          FROM bench_day, (SELECT id, currency_id FROM res_company ORDER BY id LIMIT 1) c;
        UPDATE account_move m SET amount_residual_signed = 0, amount_residual = 0,
               payment_state = 'paid'
          FROM bench_day d
         WHERE m.commercial_partner_id = d.partner_id AND m.payment_state = 'not_paid'
           AND m.move_type = 'out_invoice' AND m.invoice_date < current_date;
        """,
        [share],
    )
    cr.execute("SELECT COUNT(*) FROM bench_day")
    return cr.fetchone()[0]


def drain_queue(env):
    """The 5-minute cron until the queue is empty, committed; returns the seconds spent in
    each of its parts: the facts (with the recommendations), the payment follow-up, the
    purchase habits."""
    Facts = env["pulse.facts.engine"]
    parts = {"facts": 0.0, "followup": 0.0, "profile": 0.0}

    def timing(part, method):
        def timed_method(self, *args, **kwargs):
            start = time.monotonic()
            try:
                return method(self, *args, **kwargs)
            finally:
                parts[part] += time.monotonic() - start

        return timed_method

    targets = (
        ("facts", type(Facts), "_refresh"),
        ("facts", type(Facts), "_compute_recommendations"),
        ("followup", type(env["pulse.followup"]), "_refresh"),
        ("profile", type(env["pulse.attribute.value"]), "_refresh_purchase_attributes"),
    )
    with ExitStack() as stack:
        for part, cls, name in targets:
            stack.enter_context(patch.object(cls, name, timing(part, getattr(cls, name))))
        while Facts._refresh_queue():
            pass
    env.cr.commit()
    return {part: round(secs, 2) for part, secs in parts.items()}


def orm_baseline(env, sample):
    """What a naive implementation does: per partner, search and read_group through the ORM."""
    SaleOrder, Move, Payment = env["sale.order"], env["account.move"], env["account.payment"]
    today = date.today()
    for partner in sample:
        orders = SaleOrder.search([("partner_id", "child_of", partner.id), ("state", "=", "sale")])
        dates = orders.mapped("date_order")
        sum(orders.mapped("amount_untaxed"))
        Move._read_group(
            [
                ("commercial_partner_id", "=", partner.id),
                ("state", "=", "posted"),
                ("move_type", "in", ("out_invoice", "out_refund")),
            ],
            [],
            ["amount_untaxed_signed:sum", "amount_residual_signed:sum", "id:count"],
        )
        Move._read_group(
            [
                ("commercial_partner_id", "=", partner.id),
                ("state", "=", "posted"),
                ("move_type", "=", "out_invoice"),
                ("invoice_date_due", "<", today),
                ("amount_residual_signed", ">", 0),
            ],
            [],
            ["amount_residual_signed:sum", "invoice_date_due:min"],
        )
        Payment.search([("partner_id", "=", partner.id)], order="date desc", limit=1)
        if dates:
            min(dates), max(dates)
        env.invalidate_all()


LAPSED = (
    "[('pulse_last_order_date', '<', "
    "(context_today() - relativedelta(days=365)).strftime('%Y-%m-%d'))]"
)


def naive_segment_refresh(env, segment):
    """The naive way: the matching customers as the refresh selects them, compared with the
    open members in Python, the memberships written through the ORM."""
    Member = env["pulse.segment.member"]
    now = date.today()
    matched = {row[0] for row in env.execute_query(segment._partner_query())}
    open_members = Member.search([("segment_id", "=", segment.id), ("date_left", "=", False)])
    current = {m.partner_id.id: m for m in open_members}
    for pid, member in current.items():
        if pid not in matched:
            member.write({"date_left": now})
    Member.create(
        [
            {
                "segment_id": segment.id,
                "partner_id": pid,
                "date_entered": now,
            }
            for pid in matched - current.keys()
        ]
    )
    env.flush_all()


KPI_FIELDS = [
    "member_count",
    "kpi_revenue",
    "kpi_revenue_share",
    "kpi_avg_order_value",
    "kpi_orders_per_member_year",
    "kpi_forecast_orders",
    "kpi_forecast_revenue",
]


def bench_first_read(env):
    """Right after the first full refresh at scale, the shipped "No purchase for over a
    year" segment is refreshed (its first refresh with the history: every lapsed customer
    enters) and opened: the first read of its key figures (pulse.segment.kpi, over the
    memberships just written) is timed, then the same read again. Unanalysed, the
    memberships made that first read take 418 s at 100k customers."""
    cr = env.cr
    segment = env.ref("customer_pulse.segment_lapsed")
    cr.execute("DELETE FROM pulse_segment_member WHERE segment_id = %s", [segment.id])
    cr.commit()
    cr.execute(
        "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'pulse_segment_member'"
    )
    analysed_before = cr.fetchone()[0]
    refresh_s, (entered, _left) = timed(lambda: segment._refresh_members()[segment])
    cr.commit()
    cr.execute("SELECT pg_stat_clear_snapshot()")
    cr.execute(
        "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'pulse_segment_member'"
    )
    analysed = cr.fetchone()[0] != analysed_before
    env.invalidate_all()
    first_s, figures = timed(lambda: segment.read(KPI_FIELDS)[0])
    env.invalidate_all()
    second_s, _ = timed(lambda: segment.read(KPI_FIELDS)[0])
    cr.commit()
    return {
        "members": entered,
        "refresh_s": round(refresh_s, 2),
        "members_analysed": analysed,
        "first_kpi_read_s": round(first_s, 3),
        "second_kpi_read_s": round(second_s, 3),
        "kpi_revenue": figures["kpi_revenue"],
    }


def bench_segments(env, Facts):
    """Segments over the facts: first refresh of "no purchase for over a year" and of an RFM
    segment, the enter/leave diff after one more simulated day, and the naive way."""
    cr = env.cr
    Segment = env["pulse.segment"]
    lapsed = Segment.create({"name": "bench lapsed", "domain": LAPSED})
    champions = Segment.create(
        {"name": "bench champions", "domain": "[('pulse_rfm_segment', '=', 'champions')]"}
    )
    warm_up = Segment.create({"name": "bench warm-up", "domain": "[('id', '=', 0)]"})
    warm_up._refresh_members()  # first-call costs (imports, caches) kept out of the figures
    cr.commit()
    lapsed_s, _ = timed(lambda: (lapsed._refresh_members(), cr.commit()))
    champions_s, _ = timed(lambda: (champions._refresh_members(), cr.commit()))
    members = {"lapsed": lapsed.member_count, "champions": champions.member_count}
    unchanged_s, _ = timed(lambda: (lapsed._refresh_members(), cr.commit()))
    # what the refresh is made of: the matching customers' query (the filter through the
    # ORM's query builder with the responsible's rights; the naive way runs it too) and the
    # members' key figures stored with the refresh (the naive way stores none)
    match_s, _ = timed(lambda: env.execute_query(lapsed._partner_query()))
    kpi_s, _ = timed(lambda: (env["pulse.segment.kpi"]._store(lapsed), cr.commit()))
    naive = Segment.create({"name": "bench lapsed naive", "domain": LAPSED})
    cr.commit()
    naive_s, _ = timed(lambda: (naive_segment_refresh(env, naive), cr.commit()))
    # one more day: 1% of customers buy, the facts follow, then the diff of both ways
    cr.execute("DROP TABLE IF EXISTS bench_day")
    simulate_day(cr)
    cr.commit()
    while Facts._refresh_queue():
        cr.commit()
    cr.commit()
    diff_s, changes = timed(lambda: lapsed._refresh_members()[lapsed])
    cr.commit()
    env.invalidate_all()
    naive_diff_s, _ = timed(lambda: (naive_segment_refresh(env, naive), cr.commit()))
    cr.execute(
        "SELECT COUNT(*) FROM pulse_segment_member WHERE segment_id = %s AND date_left IS NULL",
        [naive.id],
    )
    assert cr.fetchone()[0] == lapsed.member_count, "the naive way found other members"
    return {
        "lapsed_refresh_s": round(lapsed_s, 2),
        "rfm_refresh_s": round(champions_s, 2),
        "diff_after_day_s": round(diff_s, 2),
        "diff_entered_left": list(changes),
        "unchanged_rerun_s": round(unchanged_s, 2),
        "naive_lapsed_refresh_s": round(naive_s, 2),
        "lapsed_match_s": round(match_s, 2),
        "lapsed_kpi_store_s": round(kpi_s, 2),
        "naive_diff_after_day_s": round(naive_diff_s, 2),
        "members": members,
    }


def naive_profile(env, sample):
    """The per-customer ORM way of the purchase-derived attributes: read the facts, the
    orders and the invoices with their payments, compute the bands in Python, compare with
    the current value and create the changed ones."""
    Value = env["pulse.attribute.value"]
    attributes = {a.derived: a for a in env["pulse.attribute"].search([("derived", "!=", False)])}
    stats_all = env["pulse.partner.stats"].search_read(
        [("order_count", ">", 0)], ["order_amount", "order_count"]
    )
    averages = sorted(r["order_amount"] / r["order_count"] for r in stats_all)
    third, two_thirds = averages[len(averages) // 3], averages[2 * len(averages) // 3]
    today = date.today()
    for partner in sample:
        stats = env["pulse.partner.stats"].search([("partner_id", "=", partner.id)], limit=1)
        if not stats:
            continue
        found = {}
        # the category ranking is a raw column of the facts (no ORM field)
        env.cr.execute("SELECT categ_ids FROM pulse_partner_stats WHERE id = %s", [stats.id])
        categ_ids = env.cr.fetchone()[0]
        if categ_ids:
            found["favourite_categories"] = ", ".join(
                env["product.category"].browse(categ_ids[:3]).mapped("name")
            )
        days = stats.avg_days_between_orders
        if days:
            found["rhythm_band"] = (
                "weekly"
                if days <= 10
                else "monthly"
                if days <= 45
                else "quarterly"
                if days <= 120
                else "yearly"
                if days <= 400
                else "rare"
            )
        if stats.order_count:
            aov = stats.order_amount / stats.order_count
            found["basket_band"] = (
                "small" if aov <= third else "medium" if aov <= two_thirds else "large"
            )
        orders = env["sale.order"].search(
            [("partner_id", "child_of", partner.id), ("state", "=", "sale")]
        )
        weekdays = [o.date_order.isoweekday() for o in orders]
        if len(weekdays) >= 3:
            top = max(set(weekdays), key=weekdays.count)
            if weekdays.count(top) >= 0.4 * len(weekdays):
                found["preferred_weekday"] = str(top)
        lates = []
        for invoice in env["account.move"].search(
            [
                ("commercial_partner_id", "=", partner.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("invoice_date_due", "<", today),
            ]
        ):
            paid = invoice.line_ids.matched_credit_ids.mapped("max_date")
            end = max(paid) if paid and invoice.payment_state in ("paid", "in_payment") else today
            lates.append(max(0, (end - invoice.invoice_date_due).days))
        if lates:
            avg = sum(lates) / len(lates)
            found["payment_behaviour"] = (
                "on_time" if avg <= 3 else "late" if avg <= 30 else "very_late"
            )
        for code, key in found.items():
            attribute = attributes[code]
            current = Value.search(
                [
                    ("partner_id", "=", partner.id),
                    ("attribute_id", "=", attribute.id),
                    ("is_current", "=", True),
                ],
                limit=1,
            )
            if key in (current.value_key, current.value_char):
                continue
            vals = {"partner_id": partner.id, "attribute_id": attribute.id, "source": "purchase"}
            if attribute.value_type == "text":
                vals["value_char"] = key
            else:
                vals["option_id"] = attribute.option_ids.filtered(lambda o, k=key: o.key == k).id
            Value.create(vals)


def bench_profile(env, sample):
    """Purchase-derived attributes: first run (every customer's values written), a re-run
    with nothing changed, the bare SELECT of the derived values (bound) and the naive ORM
    loop."""
    from odoo.tools import SQL

    cr = env.cr
    Value = env["pulse.attribute.value"]
    cr.execute("DELETE FROM pulse_attribute_value WHERE source = 'purchase'")
    cr.commit()
    first_s, written = timed(Value._refresh_purchase_attributes)
    cr.commit()
    again_s, rewritten = timed(Value._refresh_purchase_attributes)
    cr.commit()
    sources = Value._derived_sources()

    def bound():
        cr.execute("SET LOCAL work_mem = '256MB'")
        cr.execute(
            SQL(
                "CREATE TEMP TABLE bench_profile_bound AS %s",
                SQL(" UNION ALL ").join(SQL("SELECT * FROM (%s) src", q) for q in sources.values()),
            )
        )

    bound_s, _ = timed(bound)
    cr.rollback()
    cr.execute(
        "DELETE FROM pulse_attribute_value WHERE partner_id = ANY(%s)" " AND source = 'purchase'",
        [sample.ids],
    )
    naive_s, _ = timed(lambda: naive_profile(env, sample))
    cr.rollback()
    cr.execute("SELECT COUNT(*) FROM pulse_partner_stats")
    customers = cr.fetchone()[0]
    return {
        "first_s": round(first_s, 2),
        "values_written": written,
        "unchanged_rerun_s": round(again_s, 2),
        "unchanged_rerun_written": rewritten,
        "bound_s": round(bound_s, 2),
        "naive_s": round(naive_s / len(sample) * customers, 1),
        "naive_sample": len(sample),
    }


def stats_columns(cr):
    cr.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'pulse_partner_stats' AND column_name <> 'id' ORDER BY 1"
    )
    return ", ".join(f'"{row[0]}"' for row in cr.fetchall())


def bench_nightly(env):
    """The night after one more day (1% of customers buy, are invoiced and pay; the queue
    refreshes them): the nightly crons' work as they run it at 02:00 the next day — the
    facts moved on to that day, the facts vacuumed, category affinity and recommendations,
    purchase habits — then, as the reference, what the nightly work was before: the full
    recompute of the same, and the number of rows where both differ (0: the same facts)."""
    cr = env.cr
    Facts, Value = env["pulse.facts.engine"], env["pulse.attribute.value"]
    cr.execute("DROP TABLE IF EXISTS bench_day")
    simulate_day(cr)
    cr.commit()
    drain_queue(env)
    basis = Facts._facts_basis()[0]
    night = basis + timedelta(days=1)
    result = {}
    with freeze_time(f"{night} 02:00:00", tick=True):
        moved = Facts._date_moved_partners(basis, night)
        cr.rollback()
        facts_s, full = timed(lambda: (Facts._refresh_nightly(), cr.commit())[0])
        assert not full, "the nightly refresh recomputed everything"
        vacuum_s, _ = timed(lambda: Facts._vacuum_facts(analyze=False))
        derived = Facts._refresh_derived(profile=False)
        cr.commit()
        profile_s, written = timed(Value._refresh_purchase_attributes_nightly)
        cr.commit()
        result["incremental"] = {
            "facts_s": round(facts_s, 2),
            "customers_moved": len(moved),
            "vacuum_s": round(vacuum_s, 2),
            **{f"{name}_s": secs for name, secs in derived.items()},
            "profile_s": round(profile_s, 2),
            "profile_values_written": written,
        }
        result["incremental"]["total_s"] = round(
            sum(v for k, v in result["incremental"].items() if k.endswith("_s")), 2
        )
        columns = stats_columns(cr)
        cr.execute(f"CREATE TEMP TABLE bench_nightly AS SELECT {columns} FROM pulse_partner_stats")
        cr.commit()
        full_s, _ = timed(lambda: (Facts._refresh_all(derived=False), cr.commit()))
        derived = Facts._refresh_derived(profile=False)
        cr.commit()
        profile_s, rewritten = timed(Value._refresh_purchase_attributes)
        cr.commit()
        result["full"] = {
            "facts_s": round(full_s, 2),
            **{f"{name}_s": secs for name, secs in derived.items()},
            "profile_s": round(profile_s, 2),
        }
        result["full"]["total_s"] = round(sum(result["full"].values()), 2)
        cr.execute(
            f"""SELECT COUNT(*) FROM (
                    (SELECT {columns} FROM bench_nightly
                     EXCEPT SELECT {columns} FROM pulse_partner_stats)
                    UNION ALL
                    (SELECT {columns} FROM pulse_partner_stats
                     EXCEPT SELECT {columns} FROM bench_nightly)) d"""
        )
        result["rows_differing_from_full"] = cr.fetchone()[0]
        result["profile_values_full_would_add"] = rewritten
        cr.execute("DROP TABLE bench_nightly")
        cr.commit()
    return result


def main(dbname, scale, out):
    with environment(dbname) as env:
        cr = env.cr
        Facts = env["pulse.facts.engine"]
        cr.execute("ANALYZE")
        cr.execute("TRUNCATE pulse_partner_stats, pulse_stats_queue")
        cr.commit()
        full_s, _ = timed(lambda: (Facts._refresh_all(derived=False), cr.commit()))
        stats_rows = rows(cr, "pulse_partner_stats")
        first_read = bench_first_read(env)
        rerun_s, (written, _deleted) = timed(lambda: Facts._refresh_all(derived=False))
        # first run: every customer's recommendations and purchase habits written
        derived = Facts._refresh_derived()
        cr.commit()
        touched = simulate_day(cr)
        cr.commit()
        queued = rows(cr, "pulse_stats_queue")
        incremental_s, incremental_parts = timed(lambda: drain_queue(env))
        # the bound: the same aggregates, one bare CREATE TABLE AS SELECT ... GROUP BY
        from odoo.tools import SQL

        def bound():
            # the same settings as the refresh: no JIT, 256 MB work_mem
            cr.execute("SET LOCAL work_mem = '256MB'")
            cr.execute("SET LOCAL jit = off")
            cr.execute(SQL("CREATE TEMP TABLE bench_bound AS %s", Facts._facts_query()))

        bound_s, _ = timed(bound)
        cr.rollback()
        cr.execute(
            "SELECT id FROM res_partner WHERE customer_rank > 0 ORDER BY random() LIMIT %s",
            [ORM_SAMPLE],
        )
        sample = env["res.partner"].browse([r[0] for r in cr.fetchall()])
        customers = rows(cr, "res_partner")
        sample_s, _ = timed(lambda: orm_baseline(env, sample))
        orm_s = sample_s / len(sample) * stats_rows
        # what the nightly cron does after its full refresh
        vacuum_s, _ = timed(Facts._vacuum_facts)
        segments = bench_segments(env, Facts)
        segments["vacuum_after_full_refresh_s"] = round(vacuum_s, 2)
        profile = bench_profile(env, sample)
        nightly = bench_nightly(env)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = {
            "full_s": round(full_s, 2),
            "rerun_s": round(rerun_s, 2),
            "rerun_rows_written": written,
            "derived_s": derived,
            "incremental_s": round(incremental_s, 2),
            "incremental_parts_s": incremental_parts,
            "incremental_customers": touched,
            "incremental_queue_rows": queued,
            "bound_s": round(bound_s, 2),
            "orm_baseline_s": round(orm_s, 1),
            "orm_sample": len(sample),
            "peak_rss_mb": round(peak, 1),
            "partners": customers,
            "sale_orders": rows(cr, "sale_order"),
            "invoices": rows(cr, "account_move"),
            "payments": rows(cr, "account_payment"),
            "stats_rows": stats_rows,
            # a report read as a query (no table of its own): counted through the ORM
            "category_rows": env["pulse.partner.category.stats"].search_count([]),
            "order_lines": rows(cr, "sale_order_line"),
            "segments": segments,
            "first_read": first_read,
            "profile": profile,
            "nightly": nightly,
            "measured_on": date.today().isoformat(),
            "machine": f"{os.cpu_count()} cores, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        }
    data = {}
    if os.path.exists(out):
        with open(out, encoding="utf-8") as f:
            data = json.load(f)
    # the rules bench's figures (measured after this one, when it runs) are kept
    if "rules" in data.get(scale, {}) and "rules" not in result:
        result["rules"] = data[scale]["rules"]
    data[scale] = result
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    print_table(scale, result)


def naive_memberships_note(sg):
    """The memberships' part alone: the refresh and the naive way without the filter's
    query they share (and without the key figures the naive way does not store)."""
    if "lapsed_match_s" not in sg:
        return ""
    ours = sg["lapsed_refresh_s"] - sg["lapsed_match_s"] - sg["lapsed_kpi_store_s"]
    naive = sg["naive_lapsed_refresh_s"] - sg["lapsed_match_s"]
    ours = max(ours, 0.01)
    return f"; memberships alone {naive:.2f} s vs {ours:.2f} s ({naive / ours:.0f}x)"


def print_table(scale, r):
    print(
        f"\nCustomer facts, SCALE={scale}: {r['partners']:,} partners, "
        f"{r['sale_orders']:,} orders, {r['invoices']:,} invoices, {r['payments']:,} payments"
    )
    lines = [
        ("full refresh into empty facts", r["full_s"], f"{r['full_s'] / r['bound_s']:.2f}x bound"),
        (
            "full refresh, nothing changed",
            r["rerun_s"],
            f"{r['rerun_s'] / r['bound_s']:.2f}x bound, {r['rerun_rows_written']} rows written",
        ),
        (
            f"incremental, one day ({r['incremental_customers']:,} customers)",
            r["incremental_s"],
            ", ".join(f"{k} {v:.2f} s" for k, v in r.get("incremental_parts_s", {}).items()),
        ),
        ("bound: bare CREATE TABLE AS SELECT GROUP BY", r["bound_s"], ""),
        (
            f"naive ORM loop (sample {r['orm_sample']}, extrapolated)",
            r["orm_baseline_s"],
            f"full refresh is {r['orm_baseline_s'] / r['full_s']:.0f}x faster",
        ),
    ]
    for label, secs, note in lines:
        print(f"  {label:<52} {secs:>10.2f} s   {note}")
    for name, secs in r.get("derived_s", {}).items():
        print(f"  {'first run, derived: ' + name:<52} {secs:>10.2f} s")
    print(f"  {'peak RSS of the Odoo process':<52} {r['peak_rss_mb']:>10.1f} MB")
    ni = r.get("nightly")
    if ni:
        inc, full = ni["incremental"], ni["full"]
        print(
            f"Nightly work, the next day ({inc['customers_moved']:,} customers whose facts the"
            f" date moves): moved on / full recompute (before)"
        )
        for label, key in (
            ("facts", "facts_s"),
            ("vacuum of the facts", "vacuum_s"),
            ("category affinity", "affinity_s"),
            ("recommendations", "recommendations_s"),
            ("purchase habits", "profile_s"),
            ("total", "total_s"),
        ):
            reference = f"{full[key]:>10.2f} s" if key in full else ""
            print(f"  {label:<52} {inc[key]:>10.2f} s   {reference}")
        print(
            f"  rows differing from the full recompute: {ni['rows_differing_from_full']},"
            f" purchase values it would add: {ni['profile_values_full_would_add']}"
        )
    pr = r.get("profile")
    if pr:
        print(f"Purchase-derived profile attributes ({pr['values_written']:,} values)")
        for label, secs, note in (
            (
                "first run, every customer's values",
                pr["first_s"],
                f"{pr['first_s'] / pr['bound_s']:.2f}x bound",
            ),
            (
                "re-run, nothing changed",
                pr["unchanged_rerun_s"],
                f"{pr['unchanged_rerun_written']} values written",
            ),
            ("bound: the bare SELECT of the values", pr["bound_s"], ""),
            (
                f"naive ORM loop (sample {pr['naive_sample']}, extrapolated)",
                pr["naive_s"],
                f"first run is {pr['naive_s'] / pr['first_s']:.0f}x faster",
            ),
        ):
            print(f"  {label:<52} {secs:>10.2f} s   {note}")
    sg = r["segments"]
    print(
        f"Segments ({sg['members']['lapsed']:,} lapsed, {sg['members']['champions']:,} champions)"
    )
    for label, secs, note in (
        ("refresh 'no purchase for over a year'", sg["lapsed_refresh_s"], ""),
        (
            "  of which: its filter's query (the naive way's too)",
            sg.get("lapsed_match_s", 0),
            "",
        ),
        ("  of which: the members' key figures stored", sg.get("lapsed_kpi_store_s", 0), ""),
        ("refresh RFM 'champions'", sg["rfm_refresh_s"], ""),
        (
            "enter/leave diff after one more day",
            sg["diff_after_day_s"],
            "entered/left " + "/".join(map(str, sg["diff_entered_left"])),
        ),
        ("unchanged re-run", sg["unchanged_rerun_s"], ""),
        (
            "naive first refresh: the filter's query, Python sets, ORM writes",
            sg["naive_lapsed_refresh_s"],
            f"SQL is {sg['naive_lapsed_refresh_s'] / sg['lapsed_refresh_s']:.1f}x faster"
            + naive_memberships_note(sg),
        ),
        (
            "naive diff after the same day",
            sg["naive_diff_after_day_s"],
            f"SQL is {sg['naive_diff_after_day_s'] / max(sg['diff_after_day_s'], 0.01):.1f}x"
            " faster",
        ),
    ):
        print(f"  {label:<52} {secs:>10.2f} s   {note}")
    fr = r.get("first_read")
    if fr:
        print(f"Right after the first full refresh ({fr['members']:,} lapsed customers)")
        for label, secs, note in (
            ("refresh the shipped 'no purchase for over a year'", fr["refresh_s"], ""),
            (
                "open it: first read of its key figures",
                fr["first_kpi_read_s"],
                "memberships analysed" if fr["members_analysed"] else "memberships NOT analysed",
            ),
            ("the same read again", fr["second_kpi_read_s"], ""),
        ):
            print(f"  {label:<52} {secs:>10.2f} s   {note}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
