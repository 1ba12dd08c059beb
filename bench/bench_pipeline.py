"""Stage history and pipeline snapshots at scale: LEADS[scale] opportunities with about
MOVES_PER_LEAD tracked stage changes each (a million at 100k), written by SQL as Odoo's
tracking writes them (one message per change, its tracking value on stage_id; losses on
`active`; a fifth of the leads reassigned once, salesperson and revenue tracked), then:

- the backfill of the stage history from the tracking (one INSERT ... SELECT);
- the pipeline snapshots of a year rebuilt from the history (one INSERT ... SELECT), and of
  the whole install horizon;
- one day's snapshot from the leads (the daily job) and one past day rebuilt from the
  history alone (`_pipeline_on`);
- the cost the history adds to a stage change (single-lead writes, with and without it);
- the naive way: an ORM loop per lead reading its messages' tracking values and creating
  its history rows, on a sample, extrapolated; and a past day's pipeline read that way.

The leads are generated once (kept in the database, marked by their name); every run
empties the history and the snapshots first.

Usage: python bench/bench_pipeline.py DBNAME SCALE OUT
"""

import json
import os
import resource
import sys
import time
from datetime import date, timedelta
from unittest.mock import patch

from odoo_env import environment

LEADS = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
MOVES_PER_LEAD = (5, 15)  # uniform: ten on average
HISTORY_DAYS = 3 * 365
WON_SHARE, LOST_SHARE, REASSIGNED_SHARE = 0.25, 0.25, 0.2
SALESPEOPLE, TEAMS = 20, 4
NAIVE_SAMPLE = 300
WRITE_SAMPLE = 200
NAME_PREFIX = "BENCH PIPELINE "
SNAPSHOT_YEAR = 365


def timed(fn):
    start = time.monotonic()
    result = fn()
    return time.monotonic() - start, result


def scalar(cr, query, params=None):
    cr.execute(query, params or [])
    return cr.fetchone()[0]


def prepare_people(env):
    """SALESPEOPLE users in TEAMS teams, each team led by its first member."""
    Users, Team = env["res.users"], env["crm.team"]
    salesman = env.ref("sales_team.group_sale_salesman")
    users = Users.search([("login", "=like", "bench.seller.%")])
    if len(users) < SALESPEOPLE:
        users |= Users.with_context(no_reset_password=True).create(
            [
                {
                    "name": f"Bench Seller {n}",
                    "login": f"bench.seller.{n}",
                    "groups_id": [(4, salesman.id)],
                }
                for n in range(len(users), SALESPEOPLE)
            ]
        )
    teams = Team.search([("name", "=like", "Bench Team %")])
    for n in range(len(teams), TEAMS):
        teams |= Team.create({"name": f"Bench Team {n}"})
    for n, team in enumerate(teams):
        members = users[n::TEAMS]
        team.write({"member_ids": [(6, 0, members.ids)], "user_id": members[0].id})
    env.cr.commit()
    return users, teams


def generate(env, count):
    """The leads, their creation messages, and their tracked changes, by SQL."""
    cr = env.cr
    if scalar(cr, "SELECT COUNT(*) FROM crm_lead WHERE name LIKE %s", [NAME_PREFIX + "%"]):
        return
    users, teams = prepare_people(env)
    team_of = [teams[n % TEAMS].id for n in range(len(users))]
    stages = env["crm.stage"].search([("team_id", "=", False), ("is_won", "=", False)])
    won = env["crm.stage"].search([("is_won", "=", True)], limit=1)
    fields_of = {
        f.name: f.id
        for f in env["ir.model.fields"].search(
            [
                ("model", "=", "crm.lead"),
                ("name", "in", ("stage_id", "active", "user_id", "expected_revenue")),
            ]
        )
    }
    params = {
        "n": count,
        "users": users.ids,
        "teams": team_of,
        "stages": stages.ids,
        "won": won.id,
        "days": HISTORY_DAYS,
        "min_moves": MOVES_PER_LEAD[0],
        "spread": MOVES_PER_LEAD[1] - MOVES_PER_LEAD[0] + 1,
        "won_share": WON_SHARE,
        "lost_share": LOST_SHARE,
        "reassigned": REASSIGNED_SHARE,
        "company": env.company.id,
        "author": env.ref("base.partner_root").id,
        "f_stage": fields_of["stage_id"],
        "f_active": fields_of["active"],
        "f_user": fields_of["user_id"],
        "f_revenue": fields_of["expected_revenue"],
        "prefix": NAME_PREFIX,
    }
    cr.execute("SELECT setseed(0.42)")
    cr.execute(
        """
        CREATE TEMP TABLE bench_lead AS
        SELECT nextval('crm_lead_id_seq') AS id, g AS k,
               (now() AT TIME ZONE 'UTC') - random() * %(days)s * INTERVAL '1 day' AS created,
               %(min_moves)s + floor(random() * %(spread)s)::int AS moves,
               random() AS fate, random() AS reassign,
               (ARRAY[2500, 6000, 12000, 25000, 60000])[1 + floor(random() * 5)::int] AS revenue
          FROM generate_series(1, %(n)s) g;
        ALTER TABLE bench_lead ADD COLUMN u int, ADD COLUMN u2 int;
        UPDATE bench_lead SET u = 1 + k %% array_length(%(users)s::int[], 1),
                              u2 = 1 + (k + 7) %% array_length(%(users)s::int[], 1);
        -- one message per stage change, at even steps of the lead's life
        CREATE TEMP TABLE bench_step AS
        SELECT l.id AS lead_id, i, nextval('mail_message_id_seq') AS message_id,
               l.created + ((now() AT TIME ZONE 'UTC') - l.created) * i / (l.moves + 2)
                   AS date,
               (%(stages)s::int[])[1 + (i - 1) %% array_length(%(stages)s::int[], 1)]
                   AS old_stage,
               CASE WHEN i = l.moves AND l.fate < %(won_share)s THEN %(won)s
                    ELSE (%(stages)s::int[])[1 + i %% array_length(%(stages)s::int[], 1)]
               END AS new_stage
          FROM bench_lead l, generate_series(1, l.moves) i;
        INSERT INTO crm_lead (id, name, type, stage_id, user_id, team_id, company_id, active,
               expected_revenue, probability, automated_probability, priority,
               create_date, write_date, create_uid, write_uid, date_last_stage_update,
               date_open)
        SELECT l.id, %(prefix)s || l.k, 'opportunity', s.new_stage,
               CASE WHEN l.reassign < %(reassigned)s THEN (%(users)s::int[])[l.u2]
                    ELSE (%(users)s::int[])[l.u] END,
               (%(teams)s::int[])[l.u], %(company)s,
               NOT (l.fate >= %(won_share)s AND l.fate < %(won_share)s + %(lost_share)s),
               CASE WHEN l.reassign < %(reassigned)s THEN l.revenue * 2 ELSE l.revenue END,
               CASE WHEN s.new_stage = %(won)s THEN 100 ELSE 20 + (l.k %% 6) * 10 END,
               0, '0', l.created, l.created, 1, 1, s.date, l.created
          FROM bench_lead l
          JOIN bench_step s ON s.lead_id = l.id AND s.i = l.moves;
        -- the creation messages
        INSERT INTO mail_message (id, model, res_id, message_type, body, date, author_id,
               create_date, write_date, create_uid, write_uid)
        SELECT nextval('mail_message_id_seq'), 'crm.lead', l.id, 'notification',
               '<p>Opportunity created</p>', l.created, %(author)s, l.created, l.created, 1, 1
          FROM bench_lead l;
        -- the stage changes
        INSERT INTO mail_message (id, model, res_id, message_type, body, date, author_id,
               create_date, write_date, create_uid, write_uid)
        SELECT s.message_id, 'crm.lead', s.lead_id, 'notification', '', s.date, %(author)s,
               s.date, s.date, 1, 1
          FROM bench_step s;
        INSERT INTO mail_tracking_value (id, field_id, mail_message_id, old_value_integer,
               new_value_integer, create_date, write_date, create_uid, write_uid)
        SELECT nextval('mail_tracking_value_id_seq'), %(f_stage)s, s.message_id, s.old_stage,
               s.new_stage, s.date, s.date, 1, 1
          FROM bench_step s;
        -- the losses, halfway between the last change and now
        CREATE TEMP TABLE bench_lost AS
        SELECT l.id AS lead_id, nextval('mail_message_id_seq') AS message_id,
               s.date + ((now() AT TIME ZONE 'UTC') - s.date) / 2 AS date
          FROM bench_lead l JOIN bench_step s ON s.lead_id = l.id AND s.i = l.moves
         WHERE l.fate >= %(won_share)s AND l.fate < %(won_share)s + %(lost_share)s;
        INSERT INTO mail_message (id, model, res_id, message_type, body, date, author_id,
               create_date, write_date, create_uid, write_uid)
        SELECT message_id, 'crm.lead', lead_id, 'notification', '', date, %(author)s,
               date, date, 1, 1
          FROM bench_lost;
        INSERT INTO mail_tracking_value (id, field_id, mail_message_id, old_value_integer,
               new_value_integer, create_date, write_date, create_uid, write_uid)
        SELECT nextval('mail_tracking_value_id_seq'), %(f_active)s, message_id, 1, 0, date,
               date, 1, 1
          FROM bench_lost;
        -- a fifth reassigned (salesperson and revenue) after their second change
        CREATE TEMP TABLE bench_reassigned AS
        SELECT l.id AS lead_id, l.u, l.u2, l.revenue, nextval('mail_message_id_seq') AS message_id,
               s.date + INTERVAL '1 hour' AS date
          FROM bench_lead l JOIN bench_step s ON s.lead_id = l.id AND s.i = 2
         WHERE l.reassign < %(reassigned)s;
        INSERT INTO mail_message (id, model, res_id, message_type, body, date, author_id,
               create_date, write_date, create_uid, write_uid)
        SELECT message_id, 'crm.lead', lead_id, 'notification', '', date, %(author)s,
               date, date, 1, 1
          FROM bench_reassigned;
        INSERT INTO mail_tracking_value (id, field_id, mail_message_id, old_value_integer,
               new_value_integer, old_value_float, new_value_float, create_date, write_date,
               create_uid, write_uid)
        SELECT nextval('mail_tracking_value_id_seq'), %(f_user)s, message_id,
               (%(users)s::int[])[u], (%(users)s::int[])[u2], NULL, NULL, date, date, 1, 1
          FROM bench_reassigned
         UNION ALL
        SELECT nextval('mail_tracking_value_id_seq'), %(f_revenue)s, message_id, NULL, NULL,
               revenue, revenue * 2, date, date, 1, 1
          FROM bench_reassigned;
        DROP TABLE bench_lead, bench_step, bench_lost, bench_reassigned;
        """,
        params,
    )
    cr.execute("ANALYZE crm_lead, mail_message, mail_tracking_value")
    cr.commit()


def reset(env):
    env.cr.execute("TRUNCATE pulse_lead_stage_change, pulse_pipeline_snapshot")
    env.cr.commit()
    env.invalidate_all()


def naive_history(env, lead_ids, day):
    """Per lead: its messages, their tracking values on the stage, its history rows
    created one lead at a time; and its stage at the end of `day` from the same reads.
    Returns the rows created and the leads open on that day."""
    Lead, Change = env["crm.lead"], env["pulse.lead.stage.change"]
    stage_field = env["ir.model.fields"]._get("crm.lead", "stage_id")
    rows = open_on_day = 0
    for lead in Lead.with_context(active_test=False).browse(lead_ids):
        trackings = (
            lead.message_ids.sudo()
            .tracking_value_ids.filtered(lambda t: t.field_id == stage_field)
            .sorted(lambda t: (t.mail_message_id.date, t.id))
        )
        first = trackings[:1].old_value_integer or lead.stage_id.id
        vals = [
            {
                "lead_id": lead.id,
                "kind": "created",
                "to_stage_id": first,
                "date": lead.create_date,
                "lead_active": True,
                "user_id": lead.user_id.id,
                "team_id": lead.team_id.id,
                "company_id": lead.company_id.id,
            }
        ]
        stage_on_day = first if lead.create_date.date() <= day else None
        for tracking in trackings:
            vals.append(
                {
                    "lead_id": lead.id,
                    "kind": "moved",
                    "from_stage_id": tracking.old_value_integer or False,
                    "to_stage_id": tracking.new_value_integer or False,
                    "date": tracking.mail_message_id.date,
                    "lead_active": True,
                    "user_id": lead.user_id.id,
                    "team_id": lead.team_id.id,
                    "company_id": lead.company_id.id,
                }
            )
            if tracking.mail_message_id.date.date() <= day:
                stage_on_day = tracking.new_value_integer
        Change.sudo().create(vals)
        rows += len(vals)
        open_on_day += bool(stage_on_day)
    env.flush_all()
    return rows, open_on_day


def writes(env, lead_ids, record):
    """Single-lead stage changes, one write each, rolled back; `record`: with the history
    kept, else with its recording switched off."""
    Lead = env["crm.lead"]
    stages = env["crm.stage"].search([("team_id", "=", False), ("is_won", "=", False)])
    leads = Lead.browse(lead_ids)

    def run():
        for n, lead in enumerate(leads):
            lead.write({"stage_id": stages[n % len(stages)].id})
            env.flush_all()

    if record:
        seconds, _ = timed(run)
    else:
        with patch.object(type(env["pulse.lead.stage.change"]), "_record", lambda self, c: None):
            seconds, _ = timed(run)
    env.cr.rollback()
    env.invalidate_all()
    return seconds / len(leads)


def main(dbname, scale, out):
    count = LEADS[scale]
    with environment(dbname) as env:
        cr = env.cr
        gen_s, _ = timed(lambda: generate(env, count))
        reset(env)
        Change, Snapshot = env["pulse.lead.stage.change"], env["pulse.pipeline.snapshot"]
        leads = scalar(cr, "SELECT COUNT(*) FROM crm_lead")
        tracked = scalar(
            cr,
            """
            SELECT COUNT(*) FROM mail_tracking_value v
              JOIN ir_model_fields f ON f.id = v.field_id
             WHERE f.model = 'crm.lead' AND f.name = 'stage_id'
            """,
        )
        # keys checked per row (as a small backfill does), then as the install does it
        checked_s, _rows = timed(Change._backfill)
        cr.rollback()
        backfill_s, history_rows = timed(lambda: Change._backfill(bulk=True))
        cr.commit()
        today = date.today()
        year = (today - timedelta(days=SNAPSHOT_YEAR), today - timedelta(days=1))
        year_checked_s, _rows = timed(lambda: Snapshot._rebuild(*year))
        cr.rollback()
        year_s, year_rows = timed(lambda: Snapshot._rebuild(*year, bulk=True))
        cr.commit()
        horizon_s, horizon_rows = timed(lambda: Snapshot._backfill(bulk=True))
        cr.commit()
        day_s, day_rows = timed(Snapshot._take_snapshot)
        cr.commit()
        past_day = today - timedelta(days=180)
        past_s, past = timed(lambda: Snapshot._pipeline_on(past_day))
        past_ok = past == Snapshot._snapshot_of(past_day)
        cr.execute(
            "SELECT id FROM crm_lead WHERE name LIKE %s ORDER BY random() LIMIT %s",
            [NAME_PREFIX + "%", max(NAIVE_SAMPLE, WRITE_SAMPLE)],
        )
        sample = [row[0] for row in cr.fetchall()]
        # the naive way on leads without history (the rows it creates are rolled back)
        cr.execute("DELETE FROM pulse_lead_stage_change WHERE lead_id = ANY(%s)", [sample])
        env.invalidate_all()
        naive_s, (naive_rows, _open) = timed(
            lambda: naive_history(env, sample[:NAIVE_SAMPLE], past_day)
        )
        cr.rollback()
        env.invalidate_all()
        per_lead = naive_s / NAIVE_SAMPLE
        with_history = writes(env, sample[:WRITE_SAMPLE], True)
        without_history = writes(env, sample[:WRITE_SAMPLE], False)
        results = {
            "leads": leads,
            "tracked_stage_changes": tracked,
            "generate_s": round(gen_s, 1),
            "backfill_s": round(backfill_s, 2),
            "backfill_keys_per_row_s": round(checked_s, 2),
            "history_rows": history_rows,
            "snapshots_year_s": round(year_s, 2),
            "snapshots_year_keys_per_row_s": round(year_checked_s, 2),
            "snapshots_year_rows": year_rows,
            "snapshots_horizon_s": round(horizon_s, 2),
            "snapshots_horizon_rows": horizon_rows,
            "snapshot_today_s": round(day_s, 3),
            "snapshot_today_rows": day_rows,
            "pipeline_on_past_day_s": round(past_s, 3),
            "pipeline_on_equals_snapshot": past_ok,
            "naive": {
                "sample": NAIVE_SAMPLE,
                "rows_in_sample": naive_rows,
                "per_lead_ms": round(per_lead * 1000, 2),
                "backfill_extrapolated_s": round(per_lead * leads, 1),
                # a past day read the naive way reads every lead's tracking again
                "one_day_extrapolated_s": round(per_lead * leads, 1),
                "year_of_days_extrapolated_s": round(per_lead * leads * SNAPSHOT_YEAR, 1),
            },
            "stage_write_ms": {
                "with_history": round(with_history * 1000, 2),
                "without_history": round(without_history * 1000, 2),
            },
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    data = {}
    if os.path.exists(out):
        with open(out, encoding="utf-8") as f:
            data = json.load(f)
    data.setdefault(scale, {})["pipeline"] = results
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    print_table(scale, results)


def print_table(scale, r):
    naive = r["naive"]
    print(
        f"\nStage history and pipeline, SCALE={scale}: {r['leads']:,} leads,"
        f" {r['tracked_stage_changes']:,} tracked stage changes"
    )
    lines = [
        (
            f"history from the tracking ({r['history_rows']:,} rows, keys checked once)",
            r["backfill_s"],
            f"naive {naive['backfill_extrapolated_s'] / r['backfill_s']:.0f}x slower",
        ),
        ("  the same, foreign keys checked per row", r["backfill_keys_per_row_s"], ""),
        (
            f"  naive ORM loop per lead (sample {naive['sample']}, extrapolated)",
            naive["backfill_extrapolated_s"],
            f"{naive['per_lead_ms']} ms per lead",
        ),
        (
            f"snapshots of a year from the history ({r['snapshots_year_rows']:,} rows)",
            r["snapshots_year_s"],
            f"naive {naive['year_of_days_extrapolated_s'] / r['snapshots_year_s']:.0f}x slower",
        ),
        ("  the same, foreign keys checked per row", r["snapshots_year_keys_per_row_s"], ""),
        (
            "  naive: a year of days, each reading every lead's tracking",
            naive["year_of_days_extrapolated_s"],
            "",
        ),
        (
            f"snapshots of the install horizon ({r['snapshots_horizon_rows']:,} rows)",
            r["snapshots_horizon_s"],
            "",
        ),
        (
            f"today's snapshot from the leads ({r['snapshot_today_rows']:,} rows)",
            r["snapshot_today_s"],
            "",
        ),
        (
            "one past day rebuilt from the history (_pipeline_on)",
            r["pipeline_on_past_day_s"],
            "equals its snapshot" if r["pipeline_on_equals_snapshot"] else "DIFFERS",
        ),
        ("  naive: one past day from every lead's tracking", naive["one_day_extrapolated_s"], ""),
    ]
    for label, secs, note in lines:
        print(f"  {label:<64} {secs:>10.3f} s   {note}")
    w = r["stage_write_ms"]
    print(
        f"  {'a stage change (one lead, one write), history kept / not':<64}"
        f" {w['with_history']:>7.2f} / {w['without_history']:.2f} ms"
    )
    print(f"  {'peak RSS of the Odoo process':<64} {r['peak_rss_mb']:>10.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
