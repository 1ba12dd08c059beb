"""Rules at scale: a win-back rule enrolling every lapsed customer, its email step run by the
engine as the scheduler runs it (throughput, calls within the cron's limits, zero duplicates,
nothing lost), activity and tag throughput, Odoo's base_automation sending the same template
to the same customers, and a fault run (two workers at once, a worker killed mid-batch).

Usage: python bench/bench_rules.py DBNAME SCALE OUT   (the facts must be refreshed: run after
bench_partner_stats.py on the same database)
       python bench/bench_rules.py worker DBNAME      (one engine worker, used by the fault run)
"""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta

from odoo_env import environment

# customers for each of the activity, tag, base_automation and fault runs (four disjoint
# slices of the customers: a quarter each at most, for the 10k scale)
SUBSET = 10_000
SLICES = 4
# cron calls after the killed worker, at most, for its runs to end
MAX_RESUMES = 10
# user and system CPU time (clock ticks) in /proc/<pid>/stat, counted after the command
CPU_USER, CPU_SYSTEM = 11, 12
TEMPLATE = "customer_pulse.mail_template_winback"


def timed(fn):
    start = time.monotonic()
    result = fn()
    return time.monotonic() - start, result


def make_rule(env, name, step, domain="[]"):
    rule = env["pulse.rule"].create(
        {
            "name": name,
            "trigger": "no_purchase",
            "trigger_days": 1,
            "marketing_hold": False,
            "exit_on_purchase": False,
            "domain": domain,
            "step_ids": [(0, 0, {"name": name, **step})],
        }
    )
    rule.action_start()
    env.cr.commit()
    return rule


def template_copy(env, subject):
    """A copy of the win-back template with its own subject, to count its emails."""
    return env.ref(TEMPLATE).copy({"subject": subject, "name": subject})


def database_cpu(env):
    """Seconds of CPU the database server process of this connection has used, when it runs
    on this machine (None otherwise)."""
    env.cr.execute("SELECT pg_backend_pid()")
    try:
        with open(f"/proc/{env.cr.fetchone()[0]}/stat", encoding="ascii") as f:
            stat = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(stat[CPU_USER]) + int(stat[CPU_SYSTEM])) / os.sysconf("SC_CLK_TCK")


def cpu_spent(env, run):
    """Call `run`; returns (its result, (CPU seconds it took in this process (Odoo), in the
    database server or None when that is not on this machine)): figures that a busy
    machine inflates less than the wall time."""
    odoo, database = time.process_time(), database_cpu(env)
    result = run()
    odoo = time.process_time() - odoo
    if database is not None:
        database = database_cpu(env) - database
    return result, (odoo, database)


def per_email(cpu, emails):
    """CPU milliseconds per email in Odoo and PostgreSQL, from cpu_spent's figures."""
    odoo, database = cpu
    figures = {"odoo_ms": round(odoo * 1000 / max(emails, 1), 3)}
    if database is not None:
        figures["database_ms"] = round(database * 1000 / max(emails, 1), 3)
    return figures


def cpu_ms(figures):
    return figures["odoo_ms"] + figures.get("database_ms", 0)


def run_engine_as_cron(env):
    """Call the engine like the scheduler does until nothing is due; returns (seconds, calls,
    longest call)."""
    Engine = env["pulse.rule.engine"]
    calls, longest, start = 0, 0.0, time.monotonic()
    while True:
        call_s, _ = timed(Engine._cron_run_engine)
        env.cr.commit()
        calls += 1
        longest = max(longest, call_s)
        env.cr.execute(
            "SELECT COUNT(*) FROM pulse_step_run WHERE state IN ('scheduled', 'processing')"
            " AND scheduled_at <= now() AT TIME ZONE 'UTC'"
        )
        if not env.cr.fetchone()[0]:
            break
    return time.monotonic() - start, calls, longest


def counts(env, rule, subject=None):
    cr = env.cr
    cr.execute("SELECT COUNT(*) FROM pulse_enrolment WHERE rule_id = %s", [rule.id])
    enrolled = cr.fetchone()[0]
    cr.execute(
        "SELECT state, COUNT(*) FROM pulse_step_run WHERE rule_id = %s GROUP BY state", [rule.id]
    )
    states = dict(cr.fetchall())
    result = {"enrolled": enrolled, "runs": states}
    if subject:
        cr.execute(
            """
            SELECT COUNT(*), COUNT(DISTINCT res_id) FROM mail_message
             WHERE model = 'res.partner' AND subject = %s
            """,
            [subject],
        )
        mails, partners = cr.fetchone()
        result.update(emails=mails, duplicates=mails - partners)
    result["lost"] = enrolled - states.get("done", 0) - states.get("skipped", 0)
    return result


def subset_size(env):
    env.cr.execute("SELECT COUNT(*) FROM pulse_partner_stats")
    return min(SUBSET, env.cr.fetchone()[0] // SLICES)


def subset_domain(env, index):
    """The index-th slice of the customers, as a partner domain."""
    size = subset_size(env)
    env.cr.execute(
        "SELECT partner_id FROM pulse_partner_stats ORDER BY partner_id OFFSET %s LIMIT %s",
        [index * size, size],
    )
    ids = [r[0] for r in env.cr.fetchall()]
    return f"[('id', '>=', {ids[0]}), ('id', '<=', {ids[-1]})]"


def bench_base_automation(env, domain, subject):
    """Odoo's own time-based automation sending the same template to the same customers:
    one transaction for every record, one server action per record."""
    if "base.automation" not in env:
        return {"skipped": "base_automation not installed"}
    template = template_copy(env, subject)
    action = env["ir.actions.server"].create(
        {
            "name": subject,
            "model_id": env["ir.model"]._get_id("res.partner"),
            "state": "mail_post",
            "mail_post_method": "email",
            "template_id": template.id,
        }
    )
    # base_automation's filters know no relative dates: the same day, written out
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    lapsed = f"[('pulse_last_order_date', '<', '{yesterday}')] + {domain}"
    env["base.automation"].create(
        {
            "name": subject,
            "model_id": env["ir.model"]._get_id("res.partner"),
            "trigger": "on_time",
            "trg_date_id": env["ir.model.fields"]._get("res.partner", "create_date").id,
            "trg_date_range": 0,
            "trg_date_range_type": "day",
            "filter_domain": lapsed,
            "action_server_ids": [(6, 0, action.ids)],
        }
    )
    env.cr.commit()
    (seconds, _), cpu = cpu_spent(
        env,
        lambda: timed(lambda: (env["base.automation"]._check(automatic=True), env.cr.commit())),
    )
    env.cr.execute(
        "SELECT COUNT(*) FROM mail_message WHERE model = 'res.partner' AND subject = %s",
        [subject],
    )
    emails = env.cr.fetchone()[0]
    return {
        "seconds": round(seconds, 2),
        "emails": emails,
        "per_s": round(emails / seconds, 1),
        "cpu_per_email": per_email(cpu, emails),
    }


def worker(dbname):
    """One engine worker: claim and run batches, commit each, until nothing is due."""
    with environment(dbname) as env:
        Engine = env["pulse.rule.engine"]
        while Engine._process_due(100):
            env.cr.commit()
        env.cr.commit()


def helper(dbname):
    """The engine's second worker, called as its cron would be until nothing is due."""
    with environment(dbname) as env:
        Engine = env["pulse.rule.engine"]
        while Engine._cron_help_engine():
            env.cr.commit()
        env.cr.commit()


def spawn_worker(dbname, kind="worker"):
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), kind, dbname],
        cwd=os.path.dirname(os.path.abspath(__file__)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def fault_run(env, dbname, domain, name):
    """Two workers at once on one rule, then a worker killed mid-batch and a new one to
    finish: emails per customer must stay one, and every run must end."""
    template = template_copy(env, name)
    rule = make_rule(env, name, {"action": "email", "mail_template_id": template.id}, domain)
    rule._enrol()
    env.cr.commit()
    two = [spawn_worker(dbname), spawn_worker(dbname)]
    for proc in two:
        proc.wait()
    two_workers = counts(env, rule, name)
    # a worker killed mid-batch
    name2 = name + " (kill)"
    template2 = template_copy(env, name2)
    rule2 = make_rule(env, name2, {"action": "email", "mail_template_id": template2.id}, domain)
    rule2._enrol()
    env.cr.commit()
    proc = spawn_worker(dbname)
    done_before_kill = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.5)
        env.cr.execute(
            "SELECT COUNT(*) FROM pulse_step_run WHERE rule_id = %s AND state = 'done'",
            [rule2.id],
        )
        done_before_kill = env.cr.fetchone()[0]
        env.cr.commit()
        if done_before_kill >= subset_size(env) // 4:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the next cron calls: a call may find the killed worker's rows still locked until its
    # database session ends (SKIP LOCKED passes them), so the cron comes back, as in production
    calls = 0
    while calls < MAX_RESUMES:
        resumed = spawn_worker(dbname)
        resumed.wait()
        calls += 1
        env.cr.execute(
            "SELECT COUNT(*) FROM pulse_step_run WHERE rule_id = %s AND state IN"
            " ('scheduled', 'processing')",
            [rule2.id],
        )
        if not env.cr.fetchone()[0]:
            break
        env.cr.commit()
        time.sleep(1)
    killed = counts(env, rule2, name2)
    killed.update(done_before_kill=done_before_kill, cron_calls_after_kill=calls)
    return {"two_workers": two_workers, "worker_killed": killed}


def bench_two_cron_threads(env, dbname):
    """The win-back email again, with Odoo's two cron threads (its default
    max_cron_threads): the engine's cron here, its second worker (which the engine wakes
    when a full batch is due) in another process, as the scheduler runs them."""
    subject = "Bench win-back, two cron threads"
    template = template_copy(env, subject)
    rule = make_rule(env, subject, {"action": "email", "mail_template_id": template.id})
    rule._enrol()
    env.cr.commit()
    second = spawn_worker(dbname, "helper")
    start = time.monotonic()
    run_engine_as_cron(env)
    second.wait()
    seconds = time.monotonic() - start
    result = counts(env, rule, subject)
    result.update(
        engine_s=round(seconds, 2), runs_per_s=round(result["runs"].get("done", 0) / seconds, 1)
    )
    return result


def main(dbname, scale, out):
    with environment(dbname) as env:
        cr = env.cr
        # the generated customers have no email: give each commercial partner one
        cr.execute(
            """
            UPDATE res_partner SET email = 'customer' || id || '@bench.example',
                   email_normalized = 'customer' || id || '@bench.example'
             WHERE email IS NULL AND id = commercial_partner_id
            """
        )
        env["ir.config_parameter"].set_param("customer_pulse.cap_touches", 0)
        cr.commit()
        # 1. every lapsed customer enters a win-back rule whose first step queues an email
        subject = "Bench win-back"
        template = template_copy(env, subject)
        rule = make_rule(env, subject, {"action": "email", "mail_template_id": template.id})
        enrol_s, enrolled = timed(lambda: (rule._enrol(), cr.commit())[0])
        (engine_s, calls, longest), cpu = cpu_spent(env, lambda: run_engine_as_cron(env))
        email = counts(env, rule, subject)
        email.update(
            enrol_s=round(enrol_s, 2),
            engine_s=round(engine_s, 2),
            cron_calls=calls,
            longest_call_s=round(longest, 2),
            runs_per_s=round(email["runs"].get("done", 0) / engine_s, 1),
            cpu_per_email=per_email(cpu, email["runs"].get("done", 0)),
        )
        assert enrolled == email["enrolled"]
        # the engine's upkeep: a call with nothing due (after the day's first call), and the
        # upkeep of every enrolment for comparison (what each call did before it looked only
        # at what changed)
        email["idle_call_s"] = round(
            timed(lambda: (env["pulse.rule.engine"]._cron_run_engine(), cr.commit()))[0], 2
        )
        email["full_upkeep_s"] = round(
            timed(lambda: (env["pulse.enrolment"]._sweep(), cr.commit()))[0], 2
        )
        email["two_cron_threads"] = bench_two_cron_threads(env, dbname)
        # 2. activity and tag throughput on a subset
        results = {"email": email}
        tag = env["res.partner.category"].create({"name": "Bench win-back"})
        call = env.ref("mail.mail_activity_data_call")
        for offset, (kind, step) in enumerate(
            (
                ("activity", {"action": "activity", "activity_type_id": call.id}),
                ("tag", {"action": "tag_add", "tag_ids": [(6, 0, tag.ids)]}),
            )
        ):
            sub = make_rule(env, f"Bench {kind}", step, subset_domain(env, offset))
            sub._enrol()
            cr.commit()
            seconds, calls, longest = run_engine_as_cron(env)
            result = counts(env, sub)
            result.update(
                engine_s=round(seconds, 2),
                runs_per_s=round(result["runs"].get("done", 0) / seconds, 1),
                longest_call_s=round(longest, 2),
            )
            results[kind] = result
        # 3. the same template to the same customers: our engine and base_automation
        domain = subset_domain(env, 2)
        ours_subject = "Bench same data (Customer Pulse)"
        ours_template = template_copy(env, ours_subject)
        ours = make_rule(
            env, ours_subject, {"action": "email", "mail_template_id": ours_template.id}, domain
        )
        (ours_s, _), cpu = cpu_spent(
            env,
            lambda: timed(lambda: (ours._enrol(), cr.commit(), run_engine_as_cron(env))),
        )
        ours_counts = counts(env, ours, ours_subject)
        results["same_data"] = {
            "customer_pulse": {
                "seconds": round(ours_s, 2),
                "emails": ours_counts["emails"],
                "per_s": round(ours_counts["emails"] / ours_s, 1),
                "cpu_per_email": per_email(cpu, ours_counts["emails"]),
            },
            "base_automation": bench_base_automation(
                env, domain, "Bench same data (base_automation)"
            ),
        }
        # 4. faults
        results["faults"] = fault_run(env, dbname, subset_domain(env, 3), "Bench fault")
    data = {}
    if os.path.exists(out):
        with open(out, encoding="utf-8") as f:
            data = json.load(f)
    data.setdefault(scale, {})["rules"] = results
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    print_table(scale, results)


def print_table(scale, r):
    e = r["email"]
    print(f"\nRules, SCALE={scale}")
    print(
        f"  win-back email to {e['enrolled']:,} customers: enrol {e['enrol_s']} s, engine"
        f" {e['engine_s']} s ({e['runs_per_s']} runs/s) in {e['cron_calls']} cron calls"
        f" (longest {e['longest_call_s']} s); emails {e['emails']:,}, duplicates"
        f" {e['duplicates']}, lost {e['lost']}"
    )
    cpu = e.get("cpu_per_email")
    if cpu:
        database = f" + {cpu['database_ms']} ms in PostgreSQL" if "database_ms" in cpu else ""
        print(
            f"  CPU per email: {cpu['odoo_ms']} ms in Odoo{database}"
            f" ({1000 / cpu_ms(cpu):.0f} emails/s for that CPU time)"
        )
    two = e.get("two_cron_threads")
    if two:
        print(
            f"  the same with two cron threads (the engine and its second worker):"
            f" {two['emails']:,} emails in {two['engine_s']} s ({two['runs_per_s']} emails/s),"
            f" duplicates {two['duplicates']}, lost {two['lost']}"
        )
    if "idle_call_s" in e:
        print(
            f"  engine call with nothing due: {e['idle_call_s']} s (upkeep of every enrolment:"
            f" {e['full_upkeep_s']} s)"
        )
    for kind in ("activity", "tag"):
        k = r[kind]
        print(f"  {kind}: {k['runs_per_s']} runs/s ({k['enrolled']:,} customers), lost {k['lost']}")
    same = r["same_data"]
    ours, base = same["customer_pulse"], same["base_automation"]
    if "per_s" in base:
        print(
            f"  same template, same {ours['emails']:,} customers: Customer Pulse"
            f" {ours['per_s']} emails/s,"
            f" base_automation {base['per_s']} emails/s ({ours['per_s'] / base['per_s']:.1f}x)"
        )
        if "cpu_per_email" in ours and "cpu_per_email" in base:
            mine, theirs = cpu_ms(ours["cpu_per_email"]), cpu_ms(base["cpu_per_email"])
            print(
                f"    CPU per email: Customer Pulse {mine:.2f} ms, base_automation"
                f" {theirs:.2f} ms ({theirs / mine:.1f}x)"
            )
    for name, f in r["faults"].items():
        print(f"  fault run, {name}: duplicates {f['duplicates']}, lost {f['lost']}")


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        worker(sys.argv[2])
    elif sys.argv[1] == "helper":
        helper(sys.argv[2])
    else:
        main(sys.argv[1], sys.argv[2], sys.argv[3])
