"""Three years of pipeline for the demo: opportunities of every salesperson created over the
last three years and moved through the stages, won, lost and now and then restored, so
that the stage history, its reports and the daily pipeline snapshots show something real.

Not addon data: ``make run`` calls :func:`generate` after the demo history (it uses the
demo's sales teams and salespeople when they are there). The moves go through the ORM
with the clock set to each day (freezegun), and Odoo's tracking is flushed after each
day: the tracking messages and the stage history agree, as they would had the deals been
worked day by day. Only the creation dates are set by SQL afterwards (Odoo stamps them
with the database's clock), on the leads, their creation message and their first history
row alike. Deterministic for a given seed and day.
"""

import logging
import random
from collections import defaultdict
from datetime import datetime, time, timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tools import SQL

from .demo_history import DEAL_NAMES, TEAMS

_logger = logging.getLogger(__name__)

HISTORY_DAYS = 3 * 365
LEADS_PER_SALESPERSON = 40
# days a deal waits in a stage before its next move
STAY_DAYS = (2, 35)
# what happens when a deal leaves a stage (weights): the next stage, a step back, a loss,
# or nothing more (still open today in that stage)
OUTCOME_WEIGHTS = {"forward": 60, "back": 8, "lost": 22, "stays": 10}
# a lost deal that comes back to the pipeline later
RESTORE_SHARE = 0.08
REVENUES = (2500, 6000, 12000, 25000, 60000)
KEY_ACCOUNT_FACTOR = 4
# probability given by hand in each open stage, in the order of the stages
STAGE_PROBABILITIES = (10, 30, 60, 80)
CREATE_HOUR, MOVE_HOUR = 9, 15


def _salespeople(env):
    """The demo's salespeople with their team, else every member of a sales team of the
    company, else the current user without a team."""
    teams = env["crm.team"].search(
        [("name", "in", list(TEAMS)), ("company_id", "in", (env.company.id, False))]
    ) or env["crm.team"].search([("company_id", "in", (env.company.id, False))])
    pairs = [(user, team) for team in teams for user in team.member_ids if not user.share]
    return pairs or [(env.user, env["crm.team"])]


def _plan(rng, stages, won, today):
    """The life of one deal: its creation day and its moves [(day, action, stage)]."""
    created = today - timedelta(days=rng.randint(1, HISTORY_DAYS))
    day, index, events = created, 0, []
    while True:
        day = day + timedelta(days=rng.randint(*STAY_DAYS))
        if day >= today:
            break
        outcome = rng.choices(list(OUTCOME_WEIGHTS), weights=OUTCOME_WEIGHTS.values())[0]
        if outcome == "stays":
            break
        if outcome == "lost":
            events.append((day, "lost", stages[index]))
            restored = day + timedelta(days=rng.randint(*STAY_DAYS))
            if rng.random() >= RESTORE_SHARE or restored >= today:
                break
            day = restored
            events.append((day, "restored", stages[index]))
            continue
        if outcome == "back":
            if not index:
                continue
            index -= 1
        elif index + 1 < len(stages):
            index += 1
        else:
            events.append((day, "won", won))
            break
        events.append((day, "move", stages[index]))
    return created, events


def generate(env, seed=42, leads_per_salesperson=LEADS_PER_SALESPERSON, today=None):
    """Create the deals and replay their moves; rebuild the pipeline snapshots. Returns
    counts of what was made."""
    rng = random.Random(seed)
    today = today or fields.Date.today()
    env = env(context=dict(env.context, mail_create_nosubscribe=True, tracking_disable=False))
    all_stages = env["crm.stage"].search([("team_id", "=", False)], order="sequence, id")
    stages = all_stages.filtered(lambda s: not s.is_won)
    won = all_stages.filtered("is_won")[:1]
    partners = env["res.partner"].search([("customer_rank", ">", 0)], limit=200)
    plans, vals_list = [], []
    for user, team in _salespeople(env):
        key_account = team.name == "Key Accounts"
        for _n in range(leads_per_salesperson):
            created, events = _plan(rng, stages, won, today)
            partner = rng.choice(partners) if partners else env["res.partner"]
            revenue = rng.choice(REVENUES) * (KEY_ACCOUNT_FACTOR if key_account else 1)
            plans.append((created, events))
            vals_list.append(
                {
                    "name": f"{rng.choice(DEAL_NAMES)} – {partner.name or user.name}",
                    "type": "opportunity",
                    "partner_id": partner.id,
                    "user_id": user.id,
                    "team_id": team.id,
                    "stage_id": stages[0].id,
                    "expected_revenue": revenue,
                    "probability": STAGE_PROBABILITIES[0],
                }
            )
    leads = env["crm.lead"].create(vals_list)
    # the creation's transaction ends (Odoo tracks nothing of a lead in it), then the
    # creation dates go back in time
    env.flush_all()
    env.cr.flush()
    _backdate_creations(env, leads, [created for created, _events in plans])
    # the moves, day by day: leads doing the same thing on the same day in one write
    by_day = defaultdict(lambda: defaultdict(list))
    for lead, (_created, events) in zip(leads, plans, strict=True):
        for day, action, stage in events:
            by_day[day][(action, stage.id)].append(lead.id)
    probability_of = {stage.id: p for stage, p in zip(stages, STAGE_PROBABILITIES, strict=False)}
    moves = 0
    for day in sorted(by_day):
        with freeze_time(datetime.combine(day, time(MOVE_HOUR))):
            for (action, stage_id), lead_ids in by_day[day].items():
                batch = env["crm.lead"].with_context(active_test=False).browse(lead_ids)
                if action == "lost":
                    batch.action_set_lost()
                elif action == "restored":
                    batch.action_unarchive()
                elif action == "won":
                    batch.write({"stage_id": stage_id})
                else:
                    batch.write(
                        {"stage_id": stage_id, "probability": probability_of.get(stage_id, 50)}
                    )
                moves += len(lead_ids)
            env.flush_all()
            env.cr.flush()
    env["pulse.pipeline.snapshot"]._backfill()
    counts = {"pipeline_leads": len(leads), "pipeline_moves": moves}
    _logger.info("demo pipeline: %s", counts)
    return counts


def _backdate_creations(env, leads, days):
    """Creation at CREATE_HOUR of each day: the lead, its creation message and its first
    history row (the tracking messages of later moves keep their own dates)."""
    moments = [datetime.combine(day, time(CREATE_HOUR)) for day in days]
    env.cr.execute(
        SQL(
            """
            WITH v AS (SELECT * FROM UNNEST(%(ids)s::int[], %(moments)s::timestamp[])
                                  AS v(id, moment))
            , leads AS (
                UPDATE crm_lead l SET create_date = v.moment, date_open = v.moment,
                       date_last_stage_update = v.moment
                  FROM v WHERE l.id = v.id)
            , history AS (
                UPDATE pulse_lead_stage_change h SET date = v.moment
                  FROM v WHERE h.lead_id = v.id AND h.kind = 'created')
            UPDATE mail_message m SET date = v.moment
              FROM v WHERE m.model = 'crm.lead' AND m.res_id = v.id
            """,
            ids=leads.ids,
            moments=moments,
        )
    )
    leads.invalidate_recordset(["create_date", "date_open", "date_last_stage_update"])
