"""Follow-ups at scale: the daily follow-up run over every customer with about 10% overdue,
computing the level each customer reached and queuing its reminder, side by side with the
bare SQL bound (the same levels written as event rows by one INSERT ... SELECT) and the
naive ORM way (a loop per customer: search its invoices, pick the level, check and write
the event, queue the email), then a second run the same day (must create nothing) and a run
a fortnight later (the next levels: email, text message, call activity).

The generated ERP history has open overdue invoices for about 8% of the customers: the
bench tops it up in SQL to OVERDUE_SHARE (customers without an overdue invoice get one, due
1 to 120 days ago). Reminder emails are measured without the invoices' PDFs (one
wkhtmltopdf call per invoice would measure wkhtmltopdf); a small sample measures that cost
apart.

Usage: python bench/bench_followups.py DBNAME SCALE OUT
"""

import json
import os
import resource
import sys
import time
from datetime import date, timedelta

from odoo_env import environment

OVERDUE_SHARE = 0.10
ORM_SAMPLE = 150  # customers of each kind (overdue, not) in the naive loop
PDF_SAMPLE = 5  # reminders sent with the invoices' PDFs attached


def timed(fn):
    start = time.monotonic()
    result = fn()
    return time.monotonic() - start, result


def scalar(cr, query, params=None):
    cr.execute(query, params or [])
    return cr.fetchone()[0]


def overdue_customers(cr):
    return scalar(
        cr,
        """
        SELECT COUNT(DISTINCT commercial_partner_id) FROM account_move
         WHERE state = 'posted' AND move_type = 'out_invoice' AND amount_residual_signed > 0
           AND invoice_date_due < current_date
        """,
    )


def prepare(env):
    """Emails on the customers, overdue invoices topped up to OVERDUE_SHARE, statistics.
    Returns (customers, overdue customers before, after)."""
    cr = env.cr
    cr.execute(
        """
        UPDATE res_partner SET email = 'customer' || id || '@bench.example',
               email_normalized = 'customer' || id || '@bench.example'
         WHERE email IS NULL AND id = commercial_partner_id AND customer_rank > 0;
        UPDATE res_partner SET phone = '+1 555 ' || lpad((id % 10000000)::text, 7, '0')
         WHERE phone IS NULL AND id = commercial_partner_id AND customer_rank > 0;
        """
    )
    customers = scalar(cr, "SELECT COUNT(*) FROM res_partner WHERE customer_rank > 0")
    before = overdue_customers(cr)
    missing = int(customers * OVERDUE_SHARE) - before
    if missing > 0:
        cr.execute("SELECT setseed(0.13)")
        cr.execute(
            """
            CREATE TEMP TABLE bench_late AS
            SELECT nextval('account_move_id_seq') AS id, p.id AS partner_id,
                   round((50 + random() * 1950)::numeric, 2) AS amount,
                   current_date - (1 + floor(random() * 120))::int AS due
              FROM res_partner p
             WHERE p.customer_rank > 0
               AND NOT EXISTS (SELECT 1 FROM account_move m
                                WHERE m.commercial_partner_id = p.id AND m.state = 'posted'
                                  AND m.move_type = 'out_invoice'
                                  AND m.amount_residual_signed > 0
                                  AND m.invoice_date_due < current_date)
             ORDER BY random() LIMIT %(missing)s;
            INSERT INTO account_move (id, name, move_type, state, partner_id,
                   commercial_partner_id, company_id, journal_id, currency_id, date,
                   invoice_date, invoice_date_due, amount_untaxed, amount_tax, amount_total,
                   amount_residual, amount_untaxed_signed, amount_tax_signed,
                   amount_total_signed, amount_total_in_currency_signed,
                   amount_residual_signed, amount_untaxed_in_currency_signed, payment_state,
                   auto_post, create_date, write_date, create_uid, write_uid)
            SELECT l.id, 'BLATE/' || l.id, 'out_invoice', 'posted', l.partner_id,
                   l.partner_id, c.id,
                   (SELECT id FROM account_journal WHERE type = 'sale' AND company_id = c.id
                     ORDER BY id LIMIT 1),
                   c.currency_id, l.due - 30, l.due - 30, l.due, l.amount,
                   round(l.amount * 0.2, 2), round(l.amount * 1.2, 2), round(l.amount * 1.2, 2),
                   l.amount, round(l.amount * 0.2, 2), round(l.amount * 1.2, 2),
                   round(l.amount * 1.2, 2), round(l.amount * 1.2, 2), l.amount, 'not_paid',
                   'no', now(), now(), 1, 1
              FROM bench_late l, (SELECT id, currency_id FROM res_company ORDER BY id LIMIT 1) c;
            """,
            {"missing": missing},
        )
    cr.execute("ANALYZE account_move, res_partner")
    cr.commit()
    return customers, before, overdue_customers(cr)


def prepare_levels(env):
    """The company's shipped levels, their invoices' PDFs left out (measured apart) and
    their call activities given to the administrator (the bench customers have no
    salesperson)."""
    Level = env["pulse.followup.level"]
    Level._ensure_company_levels()
    levels = Level.search([("company_id", "=", env.company.id)])
    levels.write({"attach_invoices": False, "activity_user_id": env.ref("base.user_admin").id})
    env.cr.commit()
    return levels


def bound(env, today):
    """The bare SQL bound of the run: per customer and company, the level its oldest open
    invoice reached (the first one, as the run does for a customer found late, or the
    courtesy level before the due date), written as event rows with their amount, by one
    INSERT ... SELECT into a table of the same shape."""
    cr = env.cr
    cr.execute("CREATE TEMP TABLE bench_bound_event (LIKE pulse_followup_event INCLUDING DEFAULTS)")
    start = time.monotonic()
    cr.execute(
        """
        INSERT INTO bench_bound_event (id, partner_id, company_id, level_id, cycle, state,
               date, amount, attempts, letter_printed)
        SELECT nextval('pulse_followup_event_id_seq'), o.partner_id, o.company_id, lv.id, 1,
               'scheduled', %(today)s, o.amount, 0, FALSE
          FROM (SELECT m.commercial_partner_id AS partner_id, m.company_id,
                       MIN(m.invoice_date_due) AS oldest,
                       SUM(m.amount_residual_signed) AS amount
                  FROM account_move m
                 WHERE m.state = 'posted' AND m.move_type = 'out_invoice'
                   AND m.amount_residual_signed > 0
                 GROUP BY 1, 2) o
          JOIN LATERAL (SELECT l.id FROM pulse_followup_level l
                         WHERE l.company_id = o.company_id AND l.active
                           AND o.oldest + l.delay <= %(today)s
                           AND (l.delay >= 0 OR o.oldest >= %(today)s)
                         ORDER BY l.delay LIMIT 1) lv ON TRUE
        """,
        {"today": today},
    )
    rows = cr.rowcount
    seconds = time.monotonic() - start
    cr.rollback()
    return seconds, rows


def naive_run(env, partners, today, send):
    """The naive way, per customer: search its open invoices, pick the first level not yet
    sent that its oldest invoice reached, check the event and write it; with `send`, also
    queue the email and note it on the customer. Returns the events written."""
    Move, Event = env["account.move"], env["pulse.followup.event"]
    company = env.company
    levels = env["pulse.followup.level"].search(
        [("company_id", "=", company.id)], order="delay, id"
    )
    written = 0
    for partner in partners:
        invoices = Move.search(
            [
                ("commercial_partner_id", "=", partner.id),
                ("company_id", "=", company.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("amount_residual", ">", 0),
            ],
            order="invoice_date_due, id",
        )
        if not invoices:
            continue
        oldest = invoices[0].invoice_date_due
        late = (today - oldest).days
        for level in levels:
            if level.delay > late or (level.delay < 0 and oldest < today):
                continue
            if Event.search_count(
                [
                    ("partner_id", "=", partner.id),
                    ("company_id", "=", company.id),
                    ("level_id", "=", level.id),
                    ("cycle", "=", 1),
                ]
            ):
                continue
            cutoff = today - timedelta(days=min(level.delay, 0) or 1)
            listed = invoices.filtered(lambda m, c=cutoff: m.invoice_date_due <= c)
            event = Event.create(
                {
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "level_id": level.id,
                    "cycle": 1,
                    "state": "done",
                    "date": today,
                    "invoice_ids": [(6, 0, listed.ids)],
                    "amount": sum(listed.mapped("amount_residual_signed")),
                }
            )
            if send and level.send_email and level.mail_template_id:
                event.mail_id = level.mail_template_id.with_context(
                    pulse_followup_invoice_ids=listed.ids
                ).send_mail(partner.id)
            if send:
                partner.message_post(body=f"{level.name} sent", subtype_xmlid="mail.mt_note")
            written += 1
            break
    env.flush_all()
    return written


def sample(cr, overdue, size):
    cr.execute(
        f"""
        SELECT p.id FROM res_partner p
         WHERE p.customer_rank > 0
           AND {"" if overdue else "NOT"} EXISTS (
               SELECT 1 FROM account_move m
                WHERE m.commercial_partner_id = p.id AND m.state = 'posted'
                  AND m.move_type = 'out_invoice' AND m.amount_residual_signed > 0
                  AND m.invoice_date_due < current_date)
         ORDER BY random() LIMIT %s
        """,
        [size],
    )
    return [r[0] for r in cr.fetchall()]


def naive(env, today, customers, overdue):
    """The naive loop on a sample of overdue and of other customers, rolled back, the
    whole run extrapolated from the two per-customer times: once computing levels and
    writing events only, once queuing the messages too."""
    cr = env.cr
    late_ids, other_ids = sample(cr, True, ORM_SAMPLE), sample(cr, False, ORM_SAMPLE)
    Partner = env["res.partner"]
    result = {"sample": len(late_ids) + len(other_ids)}
    for send, key in ((False, "levels_events"), (True, "with_messages")):
        late_s, written = timed(lambda s=send: naive_run(env, Partner.browse(late_ids), today, s))
        other_s, _ = timed(lambda s=send: naive_run(env, Partner.browse(other_ids), today, s))
        cr.rollback()
        env.invalidate_all()
        per_late, per_other = late_s / len(late_ids), other_s / max(len(other_ids), 1)
        result[key] = {
            "per_overdue_customer_ms": round(per_late * 1000, 2),
            "per_other_customer_ms": round(per_other * 1000, 2),
            "events_in_sample": written,
            "extrapolated_s": round(per_late * overdue + per_other * (customers - overdue), 1),
        }
    return result


def drain(env, deadline_s=50):
    """Send the scheduled reminders as the cron does: batches with a time budget, a commit
    per batch. Returns (seconds, handled, cron calls, longest call)."""
    Event = env["pulse.followup.event"]
    handled, calls, longest, start = 0, 0, 0.0, time.monotonic()
    while True:
        call_start = time.monotonic()
        deadline = call_start + deadline_s
        done_in_call = 0
        while True:
            n = Event._process_due(deadline=deadline)
            env.cr.commit()
            done_in_call += n
            if not n or time.monotonic() > deadline:
                break
        calls += 1
        longest = max(longest, time.monotonic() - call_start)
        handled += done_in_call
        if not done_in_call:
            break
    return time.monotonic() - start, handled, calls, longest


def event_counts(cr):
    cr.execute("SELECT state, COUNT(*) FROM pulse_followup_event GROUP BY state")
    states = dict(cr.fetchall())
    duplicates = scalar(
        cr,
        """
        SELECT COUNT(*) - COUNT(DISTINCT (partner_id, company_id, level_id, cycle))
          FROM pulse_followup_event
        """,
    )
    emails = scalar(cr, "SELECT COUNT(*) FROM pulse_followup_event WHERE mail_id IS NOT NULL")
    texts = scalar(cr, "SELECT COUNT(*) FROM pulse_followup_event WHERE sms_message_id IS NOT NULL")
    activities = scalar(
        cr, "SELECT COUNT(*) FROM pulse_followup_event WHERE activity_id IS NOT NULL"
    )
    return {
        "states": states,
        "duplicates": duplicates,
        "emails": emails,
        "texts": texts,
        "activities": activities,
    }


def run_day(env, label):
    """One day: the run (levels computed, events written), then the sending."""
    cr = env.cr
    Followup = env["pulse.followup"]
    run_s, events = timed(lambda: len(Followup._run()))
    cr.commit()
    send_s, handled, calls, longest = drain(env)
    after = event_counts(cr)
    return {
        "day": label,
        "run_s": round(run_s, 2),
        "events_written": events,
        "events_written_per_s": round(events / run_s, 1) if run_s else None,
        "send_s": round(send_s, 2),
        "handled": handled,
        "handled_per_s": round(handled / send_s, 1) if send_s else None,
        "cron_calls": calls,
        "longest_call_s": round(longest, 2),
        **after,
    }


def pdf_sample(env):
    """The cost of the invoices' PDFs: PDF_SAMPLE reminders of the first level re-sent with
    them attached (one wkhtmltopdf call per invoice never printed), rolled back."""
    cr = env.cr
    Event = env["pulse.followup.event"]
    events = Event.search([("state", "=", "done"), ("mail_id", "!=", False)], limit=PDF_SAMPLE)
    if not events:
        return None
    events.level_id.attach_invoices = True
    invoices = 0
    start = time.monotonic()
    for event in events:
        listed, _disputed = event._concerned_invoices()
        invoices += len(listed)
        event.with_company(event.company_id)._send_email(listed)
    seconds = time.monotonic() - start
    cr.rollback()
    env.invalidate_all()
    return {
        "reminders": len(events),
        "invoices": invoices,
        "per_reminder_s": round(seconds / len(events), 2),
    }


def main(dbname, scale, out):
    with environment(dbname) as env:
        cr = env.cr
        customers, overdue_before, overdue = prepare(env)
        prepare_levels(env)
        today = date.today()
        bound_s, bound_rows = bound(env, today)
        baseline = naive(env, today, customers, overdue)
        # 1. the first run: every customer in reach of a level gets one
        first = run_day(env, "first run")
        # 2. the same day again: nothing new, nothing sent twice
        again = run_day(env, "same day again")
        # 3. a fortnight later (the second level for who has not paid)
        from freezegun import freeze_time

        # tick: the clock goes on from that day (the time budgets and timings need it)
        with freeze_time(today + timedelta(days=14), tick=True):
            later = run_day(env, "14 days later")
        pdf = pdf_sample(env)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results = {
            "customers": customers,
            "overdue_customers_generated": overdue_before,
            "overdue_customers": overdue,
            "overdue_share": round(overdue / customers, 3),
            "followup_rows": scalar(cr, "SELECT COUNT(*) FROM pulse_followup"),
            "bound_s": round(bound_s, 2),
            "bound_events": bound_rows,
            "naive": baseline,
            "runs": [first, again, later],
            "pdf_sample": pdf,
            "peak_rss_mb": round(peak, 1),
        }
    data = {}
    if os.path.exists(out):
        with open(out, encoding="utf-8") as f:
            data = json.load(f)
    data.setdefault(scale, {})["followups"] = results
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    print_table(scale, results)


def print_table(scale, r):
    print(
        f"\nFollow-ups, SCALE={scale}: {r['customers']:,} customers, {r['overdue_customers']:,}"
        f" overdue ({r['overdue_share']:.0%}), {r['followup_rows']:,} follow-up rows"
    )
    first, naive = r["runs"][0], r["naive"]
    run_s, send_s = first["run_s"], first["send_s"]
    bare, full = naive["levels_events"]["extrapolated_s"], naive["with_messages"]["extrapolated_s"]
    lines = [
        (
            f"first run: levels computed, {first['events_written']:,} events written",
            run_s,
            f"{first['events_written_per_s']:,} events/s, {run_s / r['bound_s']:.1f}x bound,"
            f" naive {bare / run_s:.0f}x slower",
        ),
        (f"  bound: bare INSERT ... SELECT ({r['bound_events']:,} events)", r["bound_s"], ""),
        (f"  naive ORM loop per customer (sample {naive['sample']}, extrapolated)", bare, ""),
        (
            f"first run: and their {first['handled']:,} messages queued",
            run_s + send_s,
            f"{first['handled_per_s'] or 0:,} reminders/s sent, naive"
            f" {full / (run_s + send_s):.1f}x slower",
        ),
        ("  naive ORM loop, messages too (extrapolated)", full, ""),
    ]
    for run in r["runs"][1:]:
        lines.append(
            (
                f"{run['day']}: run ({run['events_written']:,} events), sending"
                f" ({run['handled']:,})",
                run["run_s"] + run["send_s"],
                f"run {run['run_s']} s; {run['cron_calls']} cron calls, longest"
                f" {run['longest_call_s']} s",
            )
        )
    for label, secs, note in lines:
        print(f"  {label:<66} {secs:>9.2f} s   {note}")
    last = r["runs"][-1]
    print(
        f"  after all runs: {last['emails']:,} emails, {last['texts']:,} texts,"
        f" {last['activities']:,} activities queued; duplicates {last['duplicates']};"
        f" states {last['states']}"
    )
    if r.get("pdf_sample"):
        p = r["pdf_sample"]
        print(
            f"  with the invoices' PDFs attached: {p['per_reminder_s']} s per reminder"
            f" ({p['invoices']} invoices over {p['reminders']} reminders)"
        )
    print(f"  {'peak RSS of the Odoo process':<66} {r['peak_rss_mb']:>9.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
