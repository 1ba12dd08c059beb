"""Under load: 20 simulated users (salespeople, marketers and accountants, each with a session
of their own) open the screens of bench_screens.py in a loop for 60 s on Odoo's
multi-process server (4 HTTP workers and a cron worker, as production runs it), while the
rule engine sends a win-back email to a few thousand customers and the facts queue takes in
a day of orders, invoices and payments. Nothing is mocked: the rule is switched on and the
day's documents written when the users start, the engine and the queue run as their crons.

Reported: each screen's p95 under load, the errors (must be 0), and once the engine is done,
that it sent every email exactly once (one mail.mail per enrolled customer, 0 duplicates,
0 lost). No email leaves the machine: no mail server, Odoo's mail and SMS queues off,
outgoing SMTP pointed at a closed local port; the emails stay in mail.mail. The other
crons are put off to the next day for the run (the nightly work is measured apart).

Usage: python bench/bench_load.py DBNAME SCALE OUT
"""

import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter

from bench_partner_stats import simulate_day
from bench_rules import TEMPLATE
from bench_screens import PASSWORD, Screens, percentile, prepare, save
from odoo_env import environment
from webclient import Client, Server

USERS = 20
ROLE_MIX = ("salesperson", "salesperson", "marketer", "accountant")  # 10, 5 and 5 users
DURATION = 60  # seconds of load
WORKERS = 4
CRON_THREADS = 1
RULE_CUSTOMERS = 5_000  # at most; a quarter of the customers on smaller histories
QUEUE_SHARE = 0.01  # customers with a new order, invoice and payment during the run
ENGINE_TIMEOUT = 1_200  # seconds to wait for the engine to send everything
POLL = 2  # seconds between two looks at the engine's progress
ENGINE_CRON = "customer_pulse.ir_cron_pulse_rule_engine"
QUEUE_CRON = "customer_pulse.ir_cron_pulse_stats_queue"
# queues that would send: kept off (the emails are counted in mail.mail, never sent)
SENDING_CRONS = (
    "mail.ir_cron_mail_scheduler_action",
    "mass_mailing.ir_cron_mass_mailing_queue",
    "sms.ir_cron_sms_scheduler_action",
)


def prepare_load(env, scale):
    """The users and records of the screens, emails on the customers, the win-back rule (not
    switched on yet) over a slice of customers, the crons quiet until the run starts."""
    cr = env.cr
    records = prepare(env)
    cr.execute(
        """
        UPDATE res_partner SET email = 'customer' || id || '@bench.example',
               email_normalized = 'customer' || id || '@bench.example'
         WHERE email IS NULL AND id = commercial_partner_id AND customer_rank > 0
        """
    )
    env["ir.config_parameter"].set_param("customer_pulse.cap_touches", 0)
    env["ir.mail_server"].search([]).write({"active": False})
    for xmlid in SENDING_CRONS:
        cron = env.ref(xmlid, raise_if_not_found=False)
        if cron:
            cron.active = False
    # the nightly and other crons wait for tomorrow; the engine and the queue for the run
    cr.execute(
        "UPDATE ir_cron SET nextcall = (now() AT TIME ZONE 'UTC') + interval '1 day'"
        " WHERE active"
    )
    cr.execute("DELETE FROM ir_cron_trigger")
    cr.execute("SELECT COUNT(*) FROM pulse_partner_stats")
    size = min(RULE_CUSTOMERS, cr.fetchone()[0] // 4)
    cr.execute(
        """
        SELECT MIN(partner_id), MAX(partner_id) FROM (
            SELECT partner_id FROM pulse_partner_stats
             WHERE last_order_date < current_date - 1
             ORDER BY partner_id DESC LIMIT %s) s
        """,
        [size],
    )
    low, high = cr.fetchone()
    subject = f"Bench load {time.strftime('%Y-%m-%d %H:%M:%S')}"
    template = env.ref(TEMPLATE).copy({"subject": subject, "name": subject})
    rule = env["pulse.rule"].create(
        {
            "name": subject,
            "trigger": "no_purchase",
            "trigger_days": 1,
            "marketing_hold": False,
            "exit_on_purchase": False,
            "domain": f"[('id', '>=', {low}), ('id', '<=', {high})]",
            "step_ids": [
                (0, 0, {"name": subject, "action": "email", "mail_template_id": template.id})
            ],
        }
    )
    cr.commit()
    return records, rule.id, subject


def start_background_work(env, rule_id):
    """What happens when the users start: a marketer switches the rule on (the engine's cron
    is woken up) and a day of documents comes in (the facts queue fills; its cron too)."""
    env["pulse.rule"].browse(rule_id).action_start()
    env.cr.execute("DROP TABLE IF EXISTS bench_day")
    customers = simulate_day(env.cr, QUEUE_SHARE)
    env.ref(QUEUE_CRON)._trigger()
    env.cr.commit()
    env.cr.execute("SELECT COUNT(*) FROM pulse_stats_queue")
    queued = env.cr.fetchone()[0]
    env.cr.commit()
    return customers, queued


class User(threading.Thread):
    """One simulated user: logs in, opens its screens once to load their views, then opens
    them in turn until the end of the run."""

    def __init__(self, index, role, base, dbname, records, start, stop_at):
        super().__init__(daemon=True)
        self.index, self.role = index, role
        self.base, self.dbname, self.records = base, dbname, records
        self.start_barrier, self.stop_at = start, stop_at
        self.samples, self.errors = [], []
        self.setup_error = None

    def run(self):
        try:
            client = Client(self.base, self.dbname, self.records["users"][self.role], PASSWORD)
            built, _skipped = Screens(client, self.records).build(self.role)
            screens = sorted(built.items())
        except Exception as e:  # counted as an error of the run
            self.setup_error = repr(e)[:300]
            screens = []
        self.start_barrier.wait()
        i = self.index
        while screens and time.monotonic() < self.stop_at[0]:
            name, (_reference, calls) = screens[i % len(screens)]
            i += 1
            seconds = 0.0
            try:
                for call in calls:
                    seconds += client.call(call)[1]
            except Exception as e:  # every error is counted
                self.errors.append((name, repr(e)[:300]))
                continue
            self.samples.append((name, seconds))


def engine_state(cr, rule_id, subject):
    cr.execute("SELECT COUNT(*) FROM pulse_enrolment WHERE rule_id = %s", [rule_id])
    enrolled = cr.fetchone()[0]
    cr.execute(
        "SELECT state, COUNT(*) FROM pulse_step_run WHERE rule_id = %s GROUP BY state",
        [rule_id],
    )
    runs = dict(cr.fetchall())
    cr.execute(
        """
        SELECT COUNT(*), COUNT(DISTINCT msg.res_id) FROM mail_mail mail
          JOIN mail_message msg ON msg.id = mail.mail_message_id
         WHERE msg.model = 'res.partner' AND msg.subject = %s
        """,
        [subject],
    )
    emails, customers = cr.fetchone()
    cr.execute(
        """
        SELECT mail.state, COUNT(*) FROM mail_mail mail
          JOIN mail_message msg ON msg.id = mail.mail_message_id
         WHERE msg.model = 'res.partner' AND msg.subject = %s GROUP BY mail.state
        """,
        [subject],
    )
    states = dict(cr.fetchall())
    cr.execute("SELECT COUNT(*) FROM pulse_stats_queue")
    queue = cr.fetchone()[0]
    cr.commit()
    return {
        "enrolled": enrolled,
        "runs": runs,
        "emails": emails,
        "duplicates": emails - customers,
        "lost": enrolled - runs.get("done", 0) - runs.get("skipped", 0),
        "mail_states": states,
        "queue_left": queue,
    }


def wait_for_engine(cr, rule_id, subject, started):
    """Until every run of the rule ended (or the timeout); (state, seconds since start)."""
    deadline = time.monotonic() + ENGINE_TIMEOUT
    while True:
        state = engine_state(cr, rule_id, subject)
        pending = state["runs"].get("scheduled", 0) + state["runs"].get("processing", 0)
        if state["enrolled"] and not pending and not state["queue_left"]:
            return state, time.monotonic() - started
        if time.monotonic() > deadline:
            state["timed_out"] = True
            return state, time.monotonic() - started
        time.sleep(POLL)


def server_log_summary(logfile):
    """Errors and warnings of the server during the run, and its cron jobs."""
    errors, warnings, jobs = [], [], []
    with open(logfile, encoding="utf-8", errors="replace") as f:
        for line in f:
            if " ERROR " in line:
                errors.append(line.strip()[:300])
            elif " WARNING " in line:
                warnings.append(line.strip()[:300])
            elif "ir_cron: Job" in line:
                clock = line[11:19]
                jobs.append(f"{clock} {line.strip().split('ir_cron: ', 1)[-1][:200]}")
    return {
        "errors": errors[:20],
        "error_count": len(errors),
        "warnings": warnings[:10],
        "warning_count": len(warnings),
        "cron_jobs": jobs[:40],
    }


def summarise(users, duration):
    samples, errors = {}, {}
    for user in users:
        for name, seconds in user.samples:
            samples.setdefault(name, []).append(seconds)
        for name, error in user.errors:
            errors.setdefault(name, []).append(error)
        if user.setup_error:
            errors.setdefault("(log in and views)", []).append(user.setup_error)
    screens = {}
    for name in sorted(set(samples) | set(errors)):
        values = samples.get(name, [])
        screens[name] = {
            "opened": len(values),
            "median_ms": round(statistics.median(values) * 1000, 1) if values else None,
            "p95_ms": round(percentile(values, 0.95) * 1000, 1) if values else None,
            "max_ms": round(max(values) * 1000, 1) if values else None,
            "errors": len(errors.get(name, [])),
        }
    total = sum(len(v) for v in samples.values())
    return {
        "screens": screens,
        "errors": sum(len(v) for v in errors.values()),
        "error_samples": {k: v[:3] for k, v in errors.items()},
        "screens_opened": total,
        "screens_per_s": round(total / duration, 1),
    }


def run(env, server, dbname, records, rule_id, subject):
    """The users' loop while the background work runs, then the wait for the engine."""
    start = threading.Barrier(USERS + 1)
    stop_at = [float("inf")]
    users = [
        User(i, ROLE_MIX[i % len(ROLE_MIX)], server.base, dbname, records, start, stop_at)
        for i in range(USERS)
    ]
    for user in users:
        user.start()
    start.wait()
    started, clock = time.monotonic(), time.strftime("%H:%M:%S")
    stop_at[0] = started + DURATION
    customers, queued = start_background_work(env, rule_id)
    for user in users:
        user.join()
    load_s = time.monotonic() - started
    during = engine_state(env.cr, rule_id, subject)
    final, engine_s = wait_for_engine(env.cr, rule_id, subject, started)
    result = summarise(users, load_s)
    result.update(
        started_at=clock,
        users=USERS,
        roles=dict(Counter(user.role for user in users)),
        duration_s=round(load_s, 1),
        workers=WORKERS,
        cron_threads=CRON_THREADS,
        engine={
            **final,
            "at_end_of_load": {k: during[k] for k in ("enrolled", "runs", "emails")},
            "done_after_s": round(engine_s, 1),
        },
        queue={"customers_changed": customers, "rows_queued": queued},
    )
    return result


def main(dbname, scale, out):
    with (
        environment(dbname) as env,
        tempfile.TemporaryDirectory(prefix="pulse_load_") as logdir,
    ):
        records, rule_id, subject = prepare_load(env, scale)
        logfile = os.path.join(logdir, "load.log")
        with Server(
            dbname,
            logfile,
            workers=WORKERS,
            cron_threads=CRON_THREADS,
            log_handlers=["odoo.addons.base.models.ir_cron:INFO"],
        ) as server:
            result = run(env, server, dbname, records, rule_id, subject)
        result["server_log"] = server_log_summary(logfile)
    save(out, scale, "load", result)
    print_table(scale, result)


def print_table(scale, r):
    print(
        f"\nUnder load, SCALE={scale}: {r['users']} users ({r['roles']}) for {r['duration_s']} s"
        f" on {r['workers']} workers + {r['cron_threads']} cron worker:"
        f" {r['screens_opened']} screens opened ({r['screens_per_s']}/s), errors {r['errors']};"
        f" started at {r['started_at']}"
    )
    print(f"  {'screen':<34} {'opened':>6} {'median':>7} {'p95':>7} {'max':>7} {'errors':>6}")
    for name, s in r["screens"].items():
        print(
            f"  {name:<34} {s['opened']:>6} {s['median_ms'] or '-':>7} {s['p95_ms'] or '-':>7}"
            f" {s['max_ms'] or '-':>7} {s['errors']:>6}"
        )
    for name, samples in r["error_samples"].items():
        print(f"  error in {name}: {samples[0]}")
    e = r["engine"]
    print(
        f"  engine: {e['enrolled']:,} enrolled, {e['emails']:,} emails"
        f" (mail.mail states {e['mail_states']}), duplicates {e['duplicates']}, lost"
        f" {e['lost']}; all done {e['done_after_s']} s after the start"
        f" (at the end of the load: {e['at_end_of_load']['emails']:,} emails)"
        + ("  TIMED OUT" if e.get("timed_out") else "")
    )
    q = r["queue"]
    print(
        f"  facts queue: {q['customers_changed']:,} customers changed, {q['rows_queued']:,}"
        f" rows queued, {e['queue_left']} left"
    )
    log = r["server_log"]
    for line in log["cron_jobs"]:
        print(f"  cron: {line}")
    print(f"  server log: {log['error_count']} errors, {log['warning_count']} warnings")
    for line in log["errors"][:5]:
        print(f"    {line}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
