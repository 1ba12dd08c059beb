import logging

from odoo import api, fields, models
from odoo.tools import SQL, sql

from ..tools.analyze import analyze_if_large
from ..tools.bulk import foreign_keys_checked_once

_logger = logging.getLogger(__name__)

# the reads of the pipeline on a day: a lead's last change before a moment
LEAD_DATE_INDEX = "pulse_lead_stage_change_lead_date_idx"

CHANGE_KINDS = [
    ("created", "Created"),
    ("moved", "Moved"),
    ("lost", "Lost"),
    ("restored", "Restored"),
]

# The lead fields whose value at the time of each change the backfill reads from Odoo's
# tracking (all tracked by crm): name -> (column of the lead, tracking column kind).
# Within one tracking message the other fields come first, then `active`, then the stage:
# a lead restored and moved by one write is restored into its old stage, then moved.
TRACKED_FIELDS = {
    "user_id": ("user_id", "integer"),
    "team_id": ("team_id", "integer"),
    "expected_revenue": ("expected_revenue", "float"),
    "active": ("active", "integer"),
    "stage_id": ("stage_id", "integer"),
}
FIELD_ORDER = {"user_id": 0, "team_id": 0, "expected_revenue": 0, "active": 1, "stage_id": 2}
SECONDS_PER_DAY = 86400
WON_PROBABILITY = 100


class PulseLeadStageChange(models.Model):
    """One change of a lead's place in the pipeline: its creation (entry into its first
    stage), a move from a stage to another (a won stage is a stage), its loss (archived)
    or its restoration. Each row keeps the lead's salesperson, team, team leader, company,
    expected revenue and probability as they were right after the change, and the days
    since the lead's previous change (the time spent in the stage it leaves).

    Filled on install from Odoo's tracking values (`_backfill`), then kept by crm.lead's
    create and write. Odoo does not track the probability: rows filled from the tracking
    carry the lead's current one (100 in a won stage, 0 once lost)."""

    _name = "pulse.lead.stage.change"
    _description = "Stage change of a lead"
    _order = "date desc, id desc"
    _rec_name = "lead_id"
    # written in bulk by SQL (install, every stage change): the date is the row's history
    _log_access = False

    lead_id = fields.Many2one(
        "crm.lead", "Opportunity", required=True, ondelete="cascade", readonly=True
    )
    kind = fields.Selection(CHANGE_KINDS, required=True, readonly=True)
    from_stage_id = fields.Many2one("crm.stage", "From stage", ondelete="set null", readonly=True)
    to_stage_id = fields.Many2one("crm.stage", "To stage", ondelete="set null", readonly=True)
    date = fields.Datetime(required=True, index=True, readonly=True)
    lead_active = fields.Boolean(
        "Open after", readonly=True, help="The lead was active (not lost) after this change."
    )
    user_id = fields.Many2one("res.users", "Salesperson", readonly=True)
    team_id = fields.Many2one("crm.team", "Sales Team", readonly=True)
    team_leader_id = fields.Many2one("res.users", "Team Leader", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    # the company's (not stored: one foreign-key check less per row written)
    currency_id = fields.Many2one(related="company_id.currency_id", string="Currency")
    days_in_previous = fields.Float(
        "Days in previous stage",
        digits=(16, 2),
        aggregator="avg",
        readonly=True,
        help="Days since the lead's previous change: the time spent in the stage it leaves.",
    )
    expected_revenue = fields.Monetary(currency_field="currency_id", readonly=True)
    probability = fields.Float(aggregator="avg", readonly=True)

    def init(self):
        # only what is missing: a module update runs in one transaction
        if not sql.index_exists(self.env.cr, LEAD_DATE_INDEX):
            self.env.cr.execute(
                SQL(
                    "CREATE INDEX %s ON %s (lead_id, date, id)",
                    SQL.identifier(LEAD_DATE_INDEX),
                    SQL.identifier(self._table),
                )
            )

    # ------------------------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------------------------
    def action_open_lead(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "crm.lead",
            "res_id": self.lead_id.id,
            "views": [(False, "form")],
            "target": "current",
        }

    # ------------------------------------------------------------------------------------
    # Live recording
    # ------------------------------------------------------------------------------------
    @api.model
    def _record(self, changes):
        """Write `changes`, a list of (lead id, kind, from stage id, to stage id) in the
        order they happened, in one INSERT: each with the lead's values as they are now
        (its creation date for a creation, now for the others) and the days since the
        lead's previous change (none between changes of one call)."""
        if not changes:
            return
        self.env["crm.lead"].flush_model(
            [
                "active",
                "stage_id",
                "user_id",
                "team_id",
                "company_id",
                "expected_revenue",
                "probability",
            ]
        )
        self.env["crm.team"].flush_model(["user_id"])
        lead_ids, kinds, from_ids, to_ids = (list(column) for column in zip(*changes, strict=False))
        now = fields.Datetime.now()
        # plain SQL, whoever moved the lead: users only read the history
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO pulse_lead_stage_change (lead_id, kind, from_stage_id,
                       to_stage_id, date, lead_active, user_id, team_id, team_leader_id,
                       company_id, expected_revenue, probability, days_in_previous)
                SELECT l.id, v.kind, v.from_stage, v.to_stage, s.date, l.active, l.user_id,
                       l.team_id, t.user_id, l.company_id,
                       COALESCE(l.expected_revenue, 0),
                       CASE WHEN v.kind = 'lost' THEN 0 ELSE l.probability END,
                       CASE WHEN v.kind = 'created' THEN NULL
                            WHEN ROW_NUMBER() OVER (PARTITION BY v.lead_id ORDER BY v.seq) > 1
                            THEN 0
                            ELSE EXTRACT(EPOCH FROM s.date - prev.date) / %(day)s
                       END
                  FROM UNNEST(%(leads)s::int[], %(kinds)s::varchar[], %(froms)s::int[],
                              %(tos)s::int[]) WITH ORDINALITY
                       AS v(lead_id, kind, from_stage, to_stage, seq)
                  JOIN crm_lead l ON l.id = v.lead_id
                  LEFT JOIN crm_team t ON t.id = l.team_id
                 CROSS JOIN LATERAL (
                       SELECT CASE WHEN v.kind = 'created' THEN l.create_date
                                   ELSE %(now)s::timestamp END AS date) s
                  LEFT JOIN LATERAL (
                       SELECT MAX(h.date) AS date FROM pulse_lead_stage_change h
                        WHERE h.lead_id = v.lead_id) prev ON TRUE
                 ORDER BY v.seq
                """,
                leads=lead_ids,
                kinds=kinds,
                froms=from_ids,
                tos=to_ids,
                now=now,
                day=SECONDS_PER_DAY,
            )
        )

    # ------------------------------------------------------------------------------------
    # Backfill from Odoo's tracking
    # ------------------------------------------------------------------------------------
    @api.model
    def _backfill(self, bulk=False):
        """The history of every lead that has none yet, from Odoo's tracking values, in one
        INSERT ... SELECT: its creation (entry into its first stage, the value before its
        first tracked stage change, else its stage now), each tracked stage change, each
        loss and restoration (the `active` field). The salesperson, team, expected revenue
        and active flag at the time of each change are the last tracked value at or before
        it (else the value before the first tracked change, else the lead's value now); the
        company and team leader are today's. `bulk` (install, upgrade): the foreign keys
        are checked once after the insert (tools/bulk.py). Returns the number of rows
        written."""
        self.env.flush_all()
        if bulk:
            with foreign_keys_checked_once(self.env.cr, self._table):
                self.env.cr.execute(self._backfill_query())
                written = self.env.cr.rowcount
        else:
            self.env.cr.execute(self._backfill_query())
            written = self.env.cr.rowcount
        analyze_if_large(self.env.cr, self._table, written)
        _logger.info("stage history: %d changes read from the tracking", written)
        return written

    @api.model
    def _backfill_query(self):
        """The INSERT ... SELECT of _backfill(). The events of each lead (its creation, then
        every tracking value of the watched fields) are numbered in the order they happened;
        the value of a field at an event is the new value of its last change up to there
        (the largest [number, value] pair so far), else the old value of its first change
        (the smallest pair of the lead), else the lead's value now: one sort, whatever the
        number of fields."""

        def pair(name, column):
            kind = "bigint" if TRACKED_FIELDS[name][1] == "integer" else "float8"
            return SQL("ARRAY[n.rn::%s, n.%s::%s]", SQL(kind), SQL.identifier(column), SQL(kind))

        carried = SQL(", ").join(
            SQL(
                "MAX(%s) FILTER (WHERE n.field = %s) OVER upto AS %s, "
                "MIN(%s) FILTER (WHERE n.field = %s) OVER whole AS %s",
                pair(name, "new_int" if kind == "integer" else "new_float"),
                name,
                SQL.identifier(f"last_{name}"),
                pair(name, "old_int" if kind == "integer" else "old_float"),
                name,
                SQL.identifier(f"first_{name}"),
            )
            for name, (_column, kind) in TRACKED_FIELDS.items()
        )

        def at_time(name):
            column, kind = TRACKED_FIELDS[name]
            now = SQL("l.active::int") if name == "active" else SQL.identifier("l", column)
            last, first = SQL.identifier(f"last_{name}"), SQL.identifier(f"first_{name}")
            return SQL(
                "CASE WHEN c.%s IS NOT NULL THEN c.%s[2] WHEN c.%s IS NOT NULL THEN c.%s[2]"
                " ELSE %s::%s END",
                last,
                last,
                first,
                first,
                now,
                SQL("bigint" if kind == "integer" else "float8"),
            )

        order = SQL(
            "CASE e.field WHEN %s THEN %s WHEN %s THEN %s ELSE 0 END",
            "active",
            FIELD_ORDER["active"],
            "stage_id",
            FIELD_ORDER["stage_id"],
        )
        return SQL(
            """
            WITH watched AS (
                SELECT id, name FROM ir_model_fields
                 WHERE model = 'crm.lead' AND name IN %(names)s
            ), todo AS (
                SELECT l.id FROM crm_lead l
                 WHERE NOT EXISTS (SELECT 1 FROM pulse_lead_stage_change h
                                    WHERE h.lead_id = l.id)
            ), events AS (
                SELECT m.res_id AS lead_id, 1 AS phase, m.date, m.id AS message_id,
                       v.id AS value_id, w.name AS field, v.old_value_integer AS old_int,
                       v.new_value_integer AS new_int, v.old_value_float AS old_float,
                       v.new_value_float AS new_float
                  FROM mail_tracking_value v
                  JOIN watched w ON w.id = v.field_id
                  JOIN mail_message m ON m.id = v.mail_message_id AND m.model = 'crm.lead'
                  JOIN todo ON todo.id = m.res_id
                 UNION ALL
                SELECT l.id, 0, l.create_date, 0, 0, 'created', NULL, NULL, NULL, NULL
                  FROM crm_lead l JOIN todo ON todo.id = l.id
            ), numbered AS (
                SELECT e.*, ROW_NUMBER() OVER (
                           PARTITION BY e.lead_id
                           ORDER BY e.phase, e.date, e.message_id, %(order)s, e.value_id) AS rn
                  FROM events e
            ), carried AS (
                SELECT n.*, %(carried)s
                  FROM numbered n
                WINDOW upto AS (PARTITION BY n.lead_id ORDER BY n.rn ROWS UNBOUNDED PRECEDING),
                       whole AS (PARTITION BY n.lead_id)
            ), states AS (
                SELECT c.lead_id, c.rn, c.date, c.field, c.old_int, c.new_int,
                       %(stage)s AS stage_id, %(active)s AS active, %(user)s AS user_id,
                       %(team)s AS team_id, %(revenue)s AS revenue
                  FROM carried c
                  JOIN crm_lead l ON l.id = c.lead_id
                 WHERE c.field IN ('created', 'stage_id', 'active')
            ), changes AS (
                SELECT s.*,
                       CASE WHEN s.field = 'created' THEN 'created'
                            WHEN s.field = 'stage_id' THEN 'moved'
                            WHEN s.new_int = 0 THEN 'lost'
                            ELSE 'restored' END AS kind,
                       CASE WHEN s.field = 'stage_id' THEN NULLIF(s.old_int, 0)
                            WHEN s.field = 'active' AND s.new_int = 0 THEN NULLIF(s.stage_id, 0)
                       END AS from_stage,
                       CASE WHEN s.field = 'stage_id' THEN NULLIF(s.new_int, 0)
                            WHEN s.field = 'active' AND s.new_int = 0 THEN NULL
                            ELSE NULLIF(s.stage_id, 0) END AS to_stage,
                       LAG(s.date) OVER (PARTITION BY s.lead_id ORDER BY s.rn) AS previous_date
                  FROM states s
            )
            INSERT INTO pulse_lead_stage_change (lead_id, kind, from_stage_id, to_stage_id,
                   date, lead_active, user_id, team_id, team_leader_id, company_id,
                   expected_revenue, probability, days_in_previous)
            SELECT ch.lead_id, ch.kind, ch.from_stage, ch.to_stage, ch.date,
                   ch.active::int::boolean, NULLIF(ch.user_id, 0), NULLIF(ch.team_id, 0),
                   tm.user_id, l.company_id, COALESCE(ch.revenue, 0),
                   CASE WHEN ch.kind = 'lost' THEN 0
                        WHEN st.is_won THEN %(won)s
                        ELSE l.probability END,
                   CASE WHEN ch.kind <> 'created'
                        THEN EXTRACT(EPOCH FROM ch.date - ch.previous_date) / %(day)s END
              FROM changes ch
              JOIN crm_lead l ON l.id = ch.lead_id
              LEFT JOIN crm_stage st ON st.id = ch.to_stage
              LEFT JOIN crm_team tm ON tm.id = NULLIF(ch.team_id, 0)
             -- in the order they happened: the id breaks ties between changes of one moment
             ORDER BY ch.lead_id, ch.rn
            """,
            names=tuple(TRACKED_FIELDS),
            order=order,
            carried=carried,
            stage=at_time("stage_id"),
            active=at_time("active"),
            user=at_time("user_id"),
            team=at_time("team_id"),
            revenue=at_time("expected_revenue"),
            won=WON_PROBABILITY,
            day=SECONDS_PER_DAY,
        )
