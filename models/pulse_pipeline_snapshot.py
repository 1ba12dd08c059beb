import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..tools.analyze import analyze_if_large
from ..tools.bulk import foreign_keys_checked_once

_logger = logging.getLogger(__name__)

# days of pipeline rebuilt from the stage history on install (and at most when the daily
# snapshot finds days missing)
SNAPSHOT_HORIZON_DAYS = 3 * 365
PERCENT = 100

# the dimensions of a snapshot row, in the order _pipeline_on() keys its rows
SNAPSHOT_KEYS = ("stage_id", "team_id", "user_id", "team_leader_id", "company_id")


class PulsePipelineSnapshot(models.Model):
    """The pipeline as it stood at the end of a day (UTC): the open leads (active, in a
    stage) per stage, team, salesperson, team leader and company, their number, expected
    revenue and weighted revenue. The daily job takes today's from the leads themselves;
    the days before the install, and any day the job missed, are rebuilt from the stage
    history (each lead as its last change before the end of the day left it)."""

    _name = "pulse.pipeline.snapshot"
    _description = "Pipeline on a day"
    _order = "day desc, stage_id"
    _rec_name = "day"
    _log_access = False

    day = fields.Date(required=True, index=True, readonly=True)
    stage_id = fields.Many2one("crm.stage", "Stage", ondelete="cascade", readonly=True)
    team_id = fields.Many2one("crm.team", "Sales Team", ondelete="set null", readonly=True)
    user_id = fields.Many2one("res.users", "Salesperson", ondelete="set null", readonly=True)
    team_leader_id = fields.Many2one("res.users", "Team Leader", ondelete="set null", readonly=True)
    company_id = fields.Many2one("res.company", ondelete="cascade", readonly=True)
    # the company's (not stored: one foreign-key check less per row written)
    currency_id = fields.Many2one(related="company_id.currency_id", string="Currency")
    lead_count = fields.Integer("Open deals", readonly=True)
    expected_revenue = fields.Monetary(currency_field="currency_id", readonly=True)
    weighted_revenue = fields.Monetary(
        currency_field="currency_id",
        readonly=True,
        help="Expected revenue times the probability of each deal.",
    )

    # ------------------------------------------------------------------------------------
    # Snapshots
    # ------------------------------------------------------------------------------------
    @api.model
    def _take_snapshot(self):
        """Today's snapshot from the leads as they are now (replacing one taken earlier
        today), in one INSERT ... SELECT. Returns the number of rows written."""
        day = fields.Date.today()
        self.env["crm.lead"].flush_model(
            [
                "active",
                "stage_id",
                "team_id",
                "user_id",
                "company_id",
                "expected_revenue",
                "probability",
            ]
        )
        self.env["crm.team"].flush_model(["user_id"])
        cr = self.env.cr
        cr.execute(SQL("DELETE FROM pulse_pipeline_snapshot WHERE day = %s", day))
        cr.execute(
            SQL(
                """
                INSERT INTO pulse_pipeline_snapshot (day, stage_id, team_id, user_id,
                       team_leader_id, company_id, lead_count, expected_revenue,
                       weighted_revenue)
                SELECT %(day)s, l.stage_id, l.team_id, l.user_id, t.user_id, l.company_id,
                       COUNT(*), SUM(COALESCE(l.expected_revenue, 0)),
                       SUM(ROUND((COALESCE(l.expected_revenue, 0)
                                  * COALESCE(l.probability, 0) / %(percent)s)::numeric, 2))
                  FROM crm_lead l
                  LEFT JOIN crm_team t ON t.id = l.team_id
                 WHERE l.active AND l.stage_id IS NOT NULL
                 GROUP BY l.stage_id, l.team_id, l.user_id, t.user_id, l.company_id
                """,
                day=day,
                percent=PERCENT,
            )
        )
        written = cr.rowcount
        self.invalidate_model()
        return written

    @api.model
    def _rebuild(self, date_from, date_to, bulk=False):
        """The snapshots of the days from `date_from` to `date_to` (included) rebuilt from
        the stage history, replacing those there, in one INSERT ... SELECT: each change
        holds its lead's state from the end of its day to the end of the day before the
        lead's next change; the pipeline of a day adds up the open states holding then
        (+1 on the first day, -1 on the day after the last, summed day by day). `bulk`
        (install, upgrade): the foreign keys are checked once after the insert
        (tools/bulk.py). Returns the number of rows written."""
        if date_from > date_to:
            return 0
        self.env["pulse.lead.stage.change"].flush_model()
        cr = self.env.cr
        cr.execute(
            SQL(
                "DELETE FROM pulse_pipeline_snapshot WHERE day BETWEEN %s AND %s",
                date_from,
                date_to,
            )
        )
        keys = SQL("stage_id, team_id, user_id, team_leader_id, company_id")
        query = SQL(
            """
            WITH spans AS (
                SELECT h.lead_id, h.to_stage_id AS stage_id, h.team_id, h.user_id,
                       h.team_leader_id, h.company_id,
                       h.lead_active AND h.to_stage_id IS NOT NULL AS is_open,
                       COALESCE(h.expected_revenue, 0) AS revenue,
                       ROUND((COALESCE(h.expected_revenue, 0)
                              * COALESCE(h.probability, 0) / %(percent)s)::numeric, 2)
                           AS weighted,
                       h.date::date AS first_day,
                       LEAD(h.date::date) OVER (PARTITION BY h.lead_id
                                                ORDER BY h.date, h.id) AS until_day
                  FROM pulse_lead_stage_change h
                 WHERE h.date < %(date_to)s::date + 1
            ), held AS (
                -- open states holding at the end of at least one day of the range
                SELECT * FROM spans
                 WHERE is_open
                   AND (until_day IS NULL
                        OR (until_day > first_day AND until_day > %(date_from)s))
            ), deltas AS (
                SELECT %(keys)s, GREATEST(first_day, %(date_from)s) AS day, 1 AS n,
                       revenue AS r, weighted AS w
                  FROM held
                 UNION ALL
                SELECT %(keys)s, until_day, -1, -revenue, -weighted
                  FROM held
                 WHERE until_day <= %(date_to)s
            ), per_day AS (
                SELECT %(keys)s, day, SUM(n) AS n, SUM(r) AS r, SUM(w) AS w
                  FROM deltas
                 GROUP BY %(keys)s, day
            ), running AS (
                SELECT %(keys)s, day, SUM(n) OVER k AS n, SUM(r) OVER k AS r,
                       SUM(w) OVER k AS w,
                       LEAD(day) OVER (PARTITION BY %(keys)s ORDER BY day) AS next_day
                  FROM per_day
                WINDOW k AS (PARTITION BY %(keys)s ORDER BY day)
            )
            INSERT INTO pulse_pipeline_snapshot (day, stage_id, team_id, user_id,
                   team_leader_id, company_id, lead_count, expected_revenue,
                   weighted_revenue)
            SELECT d.day::date, r.stage_id, r.team_id, r.user_id, r.team_leader_id,
                   r.company_id, r.n, r.r, r.w
              FROM running r
             CROSS JOIN LATERAL GENERATE_SERIES(
                   r.day, COALESCE(r.next_day - 1, %(date_to)s::date), INTERVAL '1 day')
                   AS d(day)
             WHERE r.n > 0
            """,
            keys=keys,
            date_from=date_from,
            date_to=date_to,
            percent=PERCENT,
        )
        if bulk:
            with foreign_keys_checked_once(cr, self._table):
                cr.execute(query)
                written = cr.rowcount
        else:
            cr.execute(query)
            written = cr.rowcount
        self.invalidate_model()
        analyze_if_large(cr, self._table, written)
        return written

    @api.model
    def _backfill(self, days=SNAPSHOT_HORIZON_DAYS, bulk=False):
        """The past `days` days up to yesterday rebuilt from the stage history (from the
        first change if later), then today's snapshot. Returns the rows written."""
        today = fields.Date.today()
        self.env.cr.execute("SELECT MIN(date)::date FROM pulse_lead_stage_change")
        first = self.env.cr.fetchone()[0]
        written = 0
        if first:
            start = max(first, today - timedelta(days=days))
            written = self._rebuild(start, today - timedelta(days=1), bulk=bulk)
        written += self._take_snapshot()
        _logger.info("pipeline snapshots: %d rows written", written)
        return written

    @api.model
    def _cron_snapshot(self):
        """The daily job: today's snapshot, after the days missed since the last one
        (the job did not run) rebuilt from the stage history."""
        today = fields.Date.today()
        self.env.cr.execute(
            SQL("SELECT MAX(day) FROM pulse_pipeline_snapshot WHERE day < %s", today)
        )
        last = self.env.cr.fetchone()[0]
        yesterday = today - timedelta(days=1)
        if last and last < yesterday:
            start = max(last + timedelta(days=1), today - timedelta(days=SNAPSHOT_HORIZON_DAYS))
            self._rebuild(start, yesterday)
        return self._take_snapshot()

    @api.model
    def _install_history(self):
        """On install (data/pulse_pipeline_data.xml) and upgrade: the stage history from
        Odoo's tracking, then the snapshots of the past from it."""
        self.env["pulse.lead.stage.change"]._backfill(bulk=True)
        self._backfill(bulk=True)

    # ------------------------------------------------------------------------------------
    # Reading a day
    # ------------------------------------------------------------------------------------
    @api.model
    def _pipeline_on(self, day):
        """The pipeline at the end of `day` rebuilt from the stage history alone: each lead
        as its last change before the end of that day left it, the open ones added up.
        Returns {(stage, team, salesperson, team leader, company): (deals, expected
        revenue, weighted revenue)} (ids, False when empty). A day after today is refused:
        its pipeline is not known yet."""
        day = fields.Date.to_date(day)
        if not day:
            raise UserError(self.env._("Give the day whose pipeline to rebuild."))
        if day > fields.Date.today():
            raise UserError(
                self.env._(
                    "The pipeline of %(day)s cannot be rebuilt: that day has not come yet.",
                    day=day,
                )
            )
        self.env["pulse.lead.stage.change"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT s.to_stage_id, s.team_id, s.user_id, s.team_leader_id, s.company_id,
                       COUNT(*), SUM(COALESCE(s.expected_revenue, 0)),
                       SUM(ROUND((COALESCE(s.expected_revenue, 0)
                                  * COALESCE(s.probability, 0) / %(percent)s)::numeric, 2))
                  FROM (SELECT DISTINCT ON (h.lead_id) h.*
                          FROM pulse_lead_stage_change h
                         WHERE h.date < %(day)s::date + 1
                         ORDER BY h.lead_id, h.date DESC, h.id DESC) s
                 WHERE s.lead_active AND s.to_stage_id IS NOT NULL
                 GROUP BY 1, 2, 3, 4, 5
                """,
                day=day,
                percent=PERCENT,
            )
        )
        return self._keyed(self.env.cr.fetchall())

    @api.model
    def _snapshot_of(self, day):
        """The stored snapshot of `day`, shaped as _pipeline_on() returns it."""
        self.flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT stage_id, team_id, user_id, team_leader_id, company_id, lead_count,
                       expected_revenue, weighted_revenue
                  FROM pulse_pipeline_snapshot WHERE day = %s
                """,
                fields.Date.to_date(day),
            )
        )
        return self._keyed(self.env.cr.fetchall())

    @api.model
    def _keyed(self, rows):
        width = len(SNAPSHOT_KEYS)
        return {
            tuple(value or False for value in row[:width]): (
                row[width],
                float(row[width + 1] or 0),
                float(row[width + 2] or 0),
            )
            for row in rows
        }
