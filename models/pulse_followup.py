import logging
import time

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..tools.cron import batch_committer
from ..tools.params import param_key, setting
from ..tools.schema import create_missing_indexes

_logger = logging.getLogger(__name__)

FOLLOWUP_LOCK = 0x70756C7366  # advisory lock key of the follow-up refresh ("pulsf")
TIME_BUDGET = 50  # seconds a cron call works before handing over (Odoo kills a cron at 120 s)

STATES = [
    ("needs_action", "Needs action"),
    ("waiting", "Waiting"),
    ("promise", "Promise to pay"),
    ("done", "Up to date"),
]


class PulseFollowup(models.Model):
    """The accountant's workspace row: one per (commercial customer, company) that has or had
    open invoices in a company with follow-up levels. Its figures and progress are written
    by set-based SQL (_refresh) from the invoices, the reminders sent (pulse.followup.event)
    and the promises; people edit only the responsible and the note."""

    _name = "pulse.followup"
    _description = "Customer follow-up"
    _order = "next_action_date, id"
    _rec_name = "partner_id"
    _check_company_auto = True

    partner_id = fields.Many2one(
        "res.partner", "Customer", required=True, readonly=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    currency_id = fields.Many2one(related="company_id.currency_id")
    salesperson_id = fields.Many2one(related="partner_id.user_id", string="Salesperson")
    responsible_id = fields.Many2one(
        "res.users",
        "Responsible",
        help="The accountant who follows this customer up (new rows: the company's "
        "responsible accountant).",
    )
    state = fields.Selection(STATES, required=True, default="waiting", readonly=True, index=True)
    cycle = fields.Integer(
        required=True,
        default=1,
        readonly=True,
        help="Overdue episode: full payment ends it, the next overdue invoice starts the next.",
    )
    level_id = fields.Many2one(
        "pulse.followup.level", "Level reached", readonly=True, help="In this episode."
    )
    last_reminder_date = fields.Date("Last reminder", readonly=True)
    last_reminder_level_id = fields.Many2one(
        "pulse.followup.level", "Last reminder level", readonly=True
    )
    next_level_id = fields.Many2one("pulse.followup.level", "Next level", readonly=True)
    next_action_date = fields.Date("Next action", readonly=True, index=True)
    hold = fields.Boolean(
        "Marketing hold",
        readonly=True,
        help="At or above the company's hold level: rules' marketing steps and segment "
        "mailing lists leave this customer out until they pay.",
    )
    escalate = fields.Boolean(
        readonly=True, help="A promise was broken: the next run moves on a level."
    )
    amount_due = fields.Monetary(
        "Open", readonly=True, groups="account.group_account_invoice", aggregator="sum"
    )
    amount_overdue = fields.Monetary(
        "Overdue", readonly=True, groups="account.group_account_invoice", aggregator="sum"
    )
    amount_disputed = fields.Monetary(
        "Disputed", readonly=True, groups="account.group_account_invoice", aggregator="sum"
    )
    oldest_overdue_date = fields.Date(
        "Oldest overdue due date", readonly=True, groups="account.group_account_invoice"
    )
    oldest_due_date = fields.Date(
        "Oldest open due date", readonly=True, groups="account.group_account_invoice"
    )
    overdue_count = fields.Integer("Overdue invoices", readonly=True)
    promise_id = fields.Many2one("pulse.followup.promise", "Promise in force", readonly=True)
    promise_date = fields.Date(related="promise_id.date", string="Promised for")
    promise_amount = fields.Monetary(
        related="promise_id.amount", string="Promised", groups="account.group_account_invoice"
    )
    kept_count = fields.Integer("Promises kept", compute="_compute_promise_counts")
    broken_count = fields.Integer("Promises broken", compute="_compute_promise_counts")
    last_call_date = fields.Date("Last call", readonly=True)
    note = fields.Text()
    event_ids = fields.One2many("pulse.followup.event", "followup_id", string="Reminders")
    promise_ids = fields.One2many("pulse.followup.promise", "followup_id", string="Promises")
    invoice_ids = fields.Many2many(
        "account.move",
        string="Open invoices",
        compute="_compute_invoice_ids",
        groups="account.group_account_invoice",
    )
    disputed_invoice_ids = fields.Many2many(
        "account.move",
        string="Disputed invoices",
        compute="_compute_invoice_ids",
        groups="account.group_account_invoice",
    )
    email = fields.Char(related="partner_id.email")
    phone = fields.Char(related="partner_id.phone")
    message_bounce = fields.Integer(related="partner_id.message_bounce", string="Bounces")

    _sql_constraints = [
        (
            "partner_company_uniq",
            "unique(partner_id, company_id)",
            "A customer has one follow-up per company.",
        ),
    ]

    def init(self):
        # the marketing hold: rules read the customers on hold
        create_missing_indexes(
            self.env.cr,
            {"pulse_followup_hold_idx": "ON pulse_followup (partner_id, company_id) WHERE hold"},
        )

    # ------------------------------------------------------------------ computes
    def _compute_promise_counts(self):
        counts = {
            (followup.id, state): count
            # sudo: counts only, shown to whoever may read the follow-up row
            for followup, state, count in self.env["pulse.followup.promise"]
            .sudo()
            ._read_group(
                [("followup_id", "in", self.ids), ("state", "in", ("kept", "broken"))],
                ["followup_id", "state"],
                ["__count"],
            )
        }  # sudo: counts only, shown to whoever may read the follow-up
        for followup in self:
            followup.kept_count = counts.get((followup.id, "kept"), 0)
            followup.broken_count = counts.get((followup.id, "broken"), 0)

    def _compute_invoice_ids(self):
        moves = self.env["account.move"].search(
            [
                ("commercial_partner_id", "in", self.partner_id.ids),
                ("company_id", "in", self.company_id.ids),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("amount_residual", ">", 0),
            ],
            order="invoice_date_due, id",
        )
        for followup in self:
            mine = moves.filtered(
                lambda m, f=followup: m.commercial_partner_id == f.partner_id
                and m.company_id == f.company_id
            )
            followup.invoice_ids = mine
            followup.disputed_invoice_ids = mine.filtered("pulse_disputed")

    # ------------------------------------------------------------------ refresh
    @api.model
    def _refresh(self, partner_ids=None):
        """Bring the rows of these commercial partners (None: everyone) up to date, in SQL:
        open, overdue and disputed amounts per company, promises kept or broken, episodes
        ended by full payment, the level reached, the next level and its date, the state
        and the marketing hold. Returns the ids of the rows written."""
        cr = self.env.cr
        today = fields.Date.context_today(self)
        self.env["account.move"]._pulse_lapse_disputes(today, partner_ids)
        self.env.flush_all()
        # one refresh at a time: two upserting the same rows could deadlock
        cr.execute("SELECT pg_advisory_xact_lock(%s)", [FOLLOWUP_LOCK])
        ids = list(partner_ids) if partner_ids is not None else None
        if ids is not None and not ids:
            return []
        inserted = self._refresh_amounts(today, ids)
        if inserted:
            self._set_default_responsible(inserted)
        self.env["pulse.followup.promise"]._evaluate(today, ids)
        self.env.flush_all()
        self._close_episodes(today, ids)
        return self._refresh_progress(today, ids)

    def _restrict(self, ids, column):
        return SQL("AND %s = ANY(%s)", SQL(column), ids) if ids is not None else SQL("")

    @api.model
    def _refresh_amounts(self, today, ids):
        """Upsert the amounts of every (customer, company) with open invoices in a company
        that has follow-up levels; rows whose invoices were all paid get zeros. Only changed
        rows are written. Returns the ids of new rows."""
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                WITH moves AS (
                    SELECT m.partner_id, m.company_id,
                           SUM(m.residual) FILTER (WHERE NOT m.disputed) AS amount_due,
                           SUM(m.residual) FILTER (WHERE m.overdue) AS amount_overdue,
                           SUM(m.residual) FILTER (WHERE m.disputed) AS amount_disputed,
                           MIN(m.due) FILTER (WHERE m.overdue) AS oldest_overdue_date,
                           MIN(m.due) FILTER (WHERE m.invoice AND NOT m.disputed)
                               AS oldest_due_date,
                           COUNT(*) FILTER (WHERE m.overdue) AS overdue_count
                      FROM (SELECT m.commercial_partner_id AS partner_id, m.company_id,
                                   m.amount_residual_signed AS residual,
                                   m.invoice_date_due AS due,
                                   COALESCE(m.pulse_disputed, FALSE) AS disputed,
                                   m.move_type = 'out_invoice' AS invoice,
                                   (m.move_type = 'out_invoice'
                                    AND NOT COALESCE(m.pulse_disputed, FALSE)
                                    AND m.invoice_date_due < %(today)s) AS overdue
                              FROM account_move m
                             WHERE m.state = 'posted'
                               AND m.move_type IN ('out_invoice', 'out_refund')
                               AND m.amount_residual_signed <> 0
                               AND m.commercial_partner_id IS NOT NULL
                               AND m.company_id IN (SELECT company_id FROM pulse_followup_level
                                                     WHERE active)
                               %(restrict_moves)s) m
                     GROUP BY m.partner_id, m.company_id
                ), new AS (
                    SELECT COALESCE(mv.partner_id, f.partner_id) AS partner_id,
                           COALESCE(mv.company_id, f.company_id) AS company_id,
                           COALESCE(mv.amount_due, 0) AS amount_due,
                           COALESCE(mv.amount_overdue, 0) AS amount_overdue,
                           COALESCE(mv.amount_disputed, 0) AS amount_disputed,
                           mv.oldest_overdue_date, mv.oldest_due_date,
                           COALESCE(mv.overdue_count, 0) AS overdue_count
                      FROM moves mv
                      FULL JOIN (SELECT partner_id, company_id FROM pulse_followup
                                  WHERE TRUE %(restrict_rows)s) f
                        ON f.partner_id = mv.partner_id AND f.company_id = mv.company_id
                     WHERE f.partner_id IS NOT NULL OR mv.oldest_due_date IS NOT NULL
                        OR mv.amount_disputed > 0
                )
                INSERT INTO pulse_followup (partner_id, company_id, cycle, state, hold, escalate,
                       amount_due, amount_overdue, amount_disputed, oldest_overdue_date,
                       oldest_due_date, overdue_count,
                       create_uid, create_date, write_uid, write_date)
                SELECT partner_id, company_id, 1, 'waiting', FALSE, FALSE,
                       amount_due, amount_overdue, amount_disputed, oldest_overdue_date,
                       oldest_due_date, overdue_count, %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM new
                 ORDER BY partner_id, company_id
                ON CONFLICT (partner_id, company_id) DO UPDATE
                   SET amount_due = EXCLUDED.amount_due,
                       amount_overdue = EXCLUDED.amount_overdue,
                       amount_disputed = EXCLUDED.amount_disputed,
                       oldest_overdue_date = EXCLUDED.oldest_overdue_date,
                       oldest_due_date = EXCLUDED.oldest_due_date,
                       overdue_count = EXCLUDED.overdue_count,
                       write_date = EXCLUDED.write_date
                 WHERE (pulse_followup.amount_due, pulse_followup.amount_overdue,
                        pulse_followup.amount_disputed, pulse_followup.oldest_overdue_date,
                        pulse_followup.oldest_due_date, pulse_followup.overdue_count)
                       IS DISTINCT FROM
                       (EXCLUDED.amount_due, EXCLUDED.amount_overdue, EXCLUDED.amount_disputed,
                        EXCLUDED.oldest_overdue_date, EXCLUDED.oldest_due_date,
                        EXCLUDED.overdue_count)
                RETURNING id, (xmax = 0)
                """,
                today=today,
                now=now,
                uid=self.env.uid,
                restrict_moves=self._restrict(ids, "m.commercial_partner_id"),
                restrict_rows=self._restrict(ids, "partner_id"),
            )
        )
        return [row_id for row_id, new in self.env.cr.fetchall() if new]

    @api.model
    def _set_default_responsible(self, row_ids):
        """New rows get their company's responsible accountant."""
        company_field = self.env["res.company"]._fields.get("pulse_collection_user_id")
        if not company_field:
            return
        self.env.cr.execute(
            """
            UPDATE pulse_followup f SET responsible_id = c.pulse_collection_user_id
              FROM res_company c
             WHERE c.id = f.company_id AND f.id = ANY(%s) AND f.responsible_id IS NULL
               AND c.pulse_collection_user_id IS NOT NULL
            """,
            [row_ids],
        )

    @api.model
    def _close_episodes(self, today, ids):
        """End the overdue episode of customers with nothing open any more in reach of a
        level (nothing overdue, nothing due within the courtesy reminder's days): their
        next overdue invoice starts from the first level again (cycle + 1). Reminders of
        the ended episode still waiting are skipped."""
        cr = self.env.cr
        now = fields.Datetime.now()
        cr.execute(
            SQL(
                """
                WITH courtesy AS (
                    SELECT company_id, GREATEST(0, -MIN(delay)) AS days
                      FROM pulse_followup_level WHERE active GROUP BY company_id
                )
                UPDATE pulse_followup f
                   SET cycle = f.cycle + 1, escalate = FALSE, level_id = NULL,
                       next_level_id = NULL, write_date = %(now)s
                 WHERE NOT COALESCE(f.oldest_due_date <= %(today)s + COALESCE(
                           (SELECT c.days FROM courtesy c WHERE c.company_id = f.company_id),
                           0), FALSE)
                   AND EXISTS (SELECT 1 FROM pulse_followup_event e
                                WHERE e.partner_id = f.partner_id
                                  AND e.company_id = f.company_id AND e.cycle = f.cycle)
                   %(restrict)s
                RETURNING f.id
                """,
                today=today,
                now=now,
                restrict=self._restrict(ids, "f.partner_id"),
            )
        )
        closed = [r[0] for r in cr.fetchall()]
        if not closed:
            return closed
        cr.execute(
            SQL(
                """
                UPDATE pulse_followup_event e
                   SET state = 'skipped', executed_at = %(now)s, write_date = %(now)s,
                       reason = CASE WHEN f.amount_disputed > 0 THEN %(disputed)s
                                     ELSE %(paid)s END
                  FROM pulse_followup f
                 WHERE f.id = ANY(%(closed)s) AND e.partner_id = f.partner_id
                   AND e.company_id = f.company_id AND e.cycle < f.cycle
                   AND e.state IN ('scheduled', 'waiting')
                """,
                now=now,
                closed=closed,
                paid=self.env._("paid"),
                disputed=self.env._("disputed"),
            )
        )
        self.env["pulse.followup.event"].invalidate_model(["state", "reason", "executed_at"])
        return closed

    @api.model
    def _refresh_progress(self, today, ids):
        """Level reached, last reminder, next level and its date, state and hold of the rows
        of these customers, from the reminders of their current episode.

        The next level is the first one above every level of the episode (a courtesy level
        only before the due date), no earlier than its delay after the oldest open due date
        nor than the gap between the two levels after the last reminder: a customer found
        50 days late gets the first reminder, not three levels on three days. A broken
        promise brings it to today. Nothing is planned while a reminder of the episode
        waits, its last one failed (the accountant retries it with Send now once the
        address is fixed), or a promise is in force."""
        cr = self.env.cr
        cr.execute(
            SQL(
                """
                WITH rows AS (
                    SELECT f.* FROM pulse_followup f WHERE TRUE %(restrict)s
                ), courtesy AS (
                    SELECT company_id, GREATEST(0, -MIN(delay)) AS days
                      FROM pulse_followup_level WHERE active GROUP BY company_id
                ), ev AS (
                    SELECT f.id AS fid,
                           MAX(l.delay) AS top_delay,
                           (ARRAY_AGG(e.level_id ORDER BY l.delay DESC)
                               FILTER (WHERE e.state = 'done'))[1] AS reached_id,
                           MAX(l.delay) FILTER (WHERE e.state = 'done') AS reached_delay,
                           MAX(l.delay) FILTER (
                               WHERE e.state IN ('done', 'skipped', 'failed')) AS base_delay,
                           MAX(e.date) FILTER (
                               WHERE e.state IN ('done', 'skipped', 'failed')) AS base_date,
                           MIN(e.date) FILTER (
                               WHERE e.state IN ('scheduled', 'processing', 'waiting'))
                               AS pending_date,
                           (ARRAY_AGG(e.state ORDER BY l.delay DESC, e.id DESC))[1] AS top_state,
                           (ARRAY_AGG(e.date ORDER BY l.delay DESC, e.id DESC))[1] AS top_date
                      FROM rows f
                      JOIN pulse_followup_event e
                        ON e.partner_id = f.partner_id AND e.company_id = f.company_id
                       AND e.cycle = f.cycle
                      JOIN pulse_followup_level l ON l.id = e.level_id
                     GROUP BY f.id
                ), sent AS (
                    SELECT DISTINCT ON (e.partner_id, e.company_id)
                           e.partner_id, e.company_id, e.date, e.level_id
                      FROM pulse_followup_event e
                      JOIN rows f ON f.partner_id = e.partner_id AND f.company_id = e.company_id
                     WHERE e.state = 'done'
                     ORDER BY e.partner_id, e.company_id, e.date DESC, e.id DESC
                ), base AS (
                    SELECT f.id, f.escalate, ev.*, sent.date AS sent_date,
                           sent.level_id AS sent_level_id, pr.id AS promise_id,
                           pr.check_date, h.delay AS hold_delay,
                           COALESCE(f.oldest_due_date <= %(today)s + COALESCE(co.days, 0),
                                    FALSE) AS in_episode,
                           nl.id AS next_level_id,
                           CASE WHEN f.escalate THEN %(today)s
                                ELSE GREATEST(f.oldest_due_date + nl.delay,
                                              ev.base_date + (nl.delay - ev.base_delay))
                           END AS next_date
                      FROM rows f
                      LEFT JOIN ev ON ev.fid = f.id
                      LEFT JOIN sent ON sent.partner_id = f.partner_id
                                    AND sent.company_id = f.company_id
                      LEFT JOIN courtesy co ON co.company_id = f.company_id
                      LEFT JOIN res_company c ON c.id = f.company_id
                      LEFT JOIN pulse_followup_level h
                        ON h.id = c.pulse_hold_level_id AND h.active
                      LEFT JOIN LATERAL (
                           SELECT p.id, p.check_date FROM pulse_followup_promise p
                            WHERE p.followup_id = f.id AND p.state = 'open'
                            ORDER BY p.id DESC LIMIT 1) pr ON TRUE
                      LEFT JOIN LATERAL (
                           SELECT l.id, l.delay FROM pulse_followup_level l
                            WHERE l.company_id = f.company_id AND l.active
                              AND l.delay > COALESCE(ev.top_delay, -2147483647)
                              AND (l.delay >= 0 OR f.oldest_due_date >= %(today)s)
                              AND ev.pending_date IS NULL
                              AND ev.top_state IS DISTINCT FROM 'failed'
                              AND f.oldest_due_date IS NOT NULL
                            ORDER BY l.delay LIMIT 1) nl ON TRUE
                ), calc AS (
                    SELECT b.id, b.reached_id, b.sent_date, b.sent_level_id, b.promise_id,
                           CASE WHEN b.in_episode THEN b.next_level_id END AS next_level_id,
                           b.in_episode, b.pending_date,
                           CASE WHEN b.pending_date IS NOT NULL THEN b.pending_date
                                WHEN b.promise_id IS NOT NULL THEN b.check_date + 1
                                WHEN b.top_state = 'failed' THEN b.top_date
                                WHEN b.in_episode AND b.next_level_id IS NOT NULL
                                    THEN b.next_date
                           END AS next_action_date,
                           COALESCE(b.hold_delay IS NOT NULL
                                    AND b.reached_delay >= b.hold_delay, FALSE) AS hold
                      FROM base b
                ), final AS (
                    SELECT c.*,
                           CASE WHEN NOT c.in_episode AND c.pending_date IS NULL THEN 'done'
                                WHEN c.promise_id IS NOT NULL THEN 'promise'
                                WHEN c.next_action_date <= %(today)s THEN 'needs_action'
                                ELSE 'waiting'
                           END AS state
                      FROM calc c
                )
                UPDATE pulse_followup f
                   SET level_id = x.reached_id, last_reminder_date = x.sent_date,
                       last_reminder_level_id = x.sent_level_id, promise_id = x.promise_id,
                       next_level_id = x.next_level_id, next_action_date = x.next_action_date,
                       hold = x.hold, state = x.state, write_date = %(now)s
                  FROM final x
                 WHERE x.id = f.id
                   AND (f.level_id, f.last_reminder_date, f.last_reminder_level_id,
                        f.promise_id, f.next_level_id, f.next_action_date, f.hold, f.state)
                       IS DISTINCT FROM
                       (x.reached_id, x.sent_date, x.sent_level_id, x.promise_id,
                        x.next_level_id, x.next_action_date, x.hold, x.state)
                RETURNING f.id
                """,
                today=today,
                now=fields.Datetime.now(),
                restrict=self._restrict(ids, "f.partner_id"),
            )
        )
        written = [r[0] for r in cr.fetchall()]
        self.invalidate_model()
        return written

    # ------------------------------------------------------------------ the run
    @api.model
    def _run(self, partner_ids=None):
        """Refresh the rows and create the reminders that are due: returns the new events
        (those of automatic levels scheduled, the others waiting for an accountant)."""
        self.env["pulse.followup.level"]._ensure_company_levels()
        self._refresh(partner_ids)
        events = self.env["pulse.followup.event"]._schedule(partner_ids)
        if events:
            self._refresh_progress(fields.Date.context_today(self), events.partner_id.ids)
        return events

    @api.model
    def _cron_run(self):
        """Daily: refresh, create the due reminders, then send them in batches within a time
        budget, progress reported to the scheduler and a hand-over to the next call when
        the budget is spent.

        The cron is the one place commits belong: a batch commits the emails and texts it
        queued together with the reminders it marks done (Odoo's mail and SMS queues send
        them only once committed)."""
        commit = batch_committer(self.env)

        deadline = time.monotonic() + TIME_BUDGET
        # sudo: the run works for every company, whoever the cron's user is
        Followup = self.sudo()
        Event = Followup.env["pulse.followup.event"]
        today = fields.Date.to_string(fields.Date.context_today(self))
        if setting(Followup.env, "followup_run_date") != today:
            Followup._run()
            Followup.env["ir.config_parameter"].set_param(param_key("followup_run_date"), today)
            commit()
        done = 0
        while True:
            processed = Event._process_due(deadline=deadline)
            done += processed
            commit()
            if not processed:
                break
            if time.monotonic() > deadline:
                Event._wake_up()  # the budget is spent: the next call goes on
                break
        remaining = Event.search_count(
            [("state", "=", "scheduled"), ("date", "<=", fields.Date.context_today(self))]
        )
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done

    @api.model
    def _held(self, partner_ids, company_ids):
        """{(commercial partner id, company id): level name} of the customers under the
        marketing hold (see res.company.pulse_hold_level_id)."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT partner_id, company_id, level_id FROM pulse_followup
             WHERE hold AND partner_id = ANY(%s) AND company_id = ANY(%s)
            """,
            [list(partner_ids), list(company_ids)],
        )
        rows = self.env.cr.fetchall()
        # sudo: the level names of the hold reason; the rule engine reads them for anyone
        levels = self.env["pulse.followup.level"].sudo().browse({r[2] for r in rows})
        names = {level.id: level.name for level in levels}
        return {(p, c): names.get(level_id, "") for p, c, level_id in rows}

    # ------------------------------------------------------------------ actions
    def _check_accountant(self):
        self.check_access("write")
        if not self.env.user.has_group("account.group_account_invoice"):
            raise UserError(self.env._("Only accountants act on follow-ups."))

    @api.model
    def action_run_now(self):
        """Run now: the daily run, for everyone, at once (the sending goes on in the
        background when it takes longer than a moment)."""
        self._check_accountant()
        # sudo: the run writes every company's rows and sends as the company; the user's
        # right to act on follow-ups is checked above
        events = self.sudo()._run()
        # sudo: the due reminders are sent as the company, as the cron sends them
        sent = (
            self.env["pulse.followup.event"]
            .sudo()
            ._process_due(deadline=time.monotonic() + TIME_BUDGET / 5)
        )
        # sudo: whether any company's reminder is still due (a count only)
        if (
            self.env["pulse.followup.event"]
            .sudo()
            .search_count([("state", "=", "scheduled")], limit=1)
        ):
            self.env["pulse.followup.event"]._wake_up()
        waiting = len(events.filtered(lambda e: e.state == "waiting"))
        return self._notification(
            self.env._(
                "%(new)s reminders prepared, %(sent)s sent, %(waiting)s waiting for Send now.",
                new=len(events),
                sent=sent,
                waiting=waiting,
            )
        )

    def _notification(self, message, kind="success"):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": message,
                "type": kind,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_send_now(self):
        """Send now: the reminder waiting for an accountant (a manual level, or one that
        failed), else the next level ahead of its date."""
        self._check_accountant()
        # sudo: reminders are the company's, created and sent as the cron does; the
        # accountant check is above
        Event = self.env["pulse.followup.event"].sudo()
        today = fields.Date.context_today(self)
        to_send = Event.browse()
        for followup in self:
            if followup.promise_id:
                raise UserError(
                    self.env._(
                        "%(customer)s promised to pay by %(date)s: reminders wait until then "
                        "(cancel the promise first).",
                        customer=followup.partner_id.display_name,
                        date=followup.promise_date,
                    )
                )
            pending = followup.event_ids.filtered(
                lambda e, f=followup: e.cycle == f.cycle and e.state in ("waiting", "failed")
            )
            if pending:
                # sudo: sent as the company, like the reminders created below (Event)
                to_send |= pending.sudo()
                continue
            if not followup.next_level_id:
                raise UserError(
                    self.env._(
                        "%(customer)s has no further level to send in this episode: record a "
                        "promise, a dispute or a call, or print the letter.",
                        customer=followup.partner_id.display_name,
                    )
                )
            to_send |= Event._create_now(followup, followup.next_level_id, today)
        to_send.write(
            {"state": "scheduled", "date": today, "user_id": self.env.uid, "error": False}
        )
        # sudo: what a reminder produces (email, text, letter, activity) is the company's;
        # the user's right to act on follow-ups is checked above
        Event._process_due(ids=to_send.ids)
        to_send.invalidate_recordset()
        failed = to_send.filtered(lambda e: e.state in ("failed", "skipped"))
        if failed:
            return self._notification(
                self.env._(
                    "%(level)s for %(customer)s was not sent: %(reason)s",
                    level=failed[0].level_id.name,
                    customer=failed[0].partner_id.display_name,
                    reason=failed[0].reason or failed[0].error or "",
                ),
                kind="warning",
            )
        return self._notification(self.env._("%(count)s reminder(s) sent.", count=len(to_send)))

    def action_print_letter(self):
        """The customer's follow-up letter (the follow-up report of the company), or the
        open invoices when the report is not installed."""
        self.ensure_one()
        self._check_accountant()
        letters = self.event_ids.filtered(lambda e: e.letter_attachment_id and not e.letter_printed)
        # sudo: marking the company's letters printed; the accountant check is above
        letters.sudo().write({"letter_printed": True})
        report = self.env.ref("customer_pulse.action_report_followup")
        return report.with_company(self.company_id).report_action(
            self.partner_id, data={"company_id": self.company_id.id}
        )

    def action_log_call(self):
        self.ensure_one()
        self._check_accountant()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Log a call"),
            "res_model": "pulse.followup.call",
            "view_mode": "form",
            "target": "new",
            "context": {"default_followup_id": self.id},
        }

    def action_record_promise(self):
        self.ensure_one()
        self._check_accountant()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Record a promise to pay"),
            "res_model": "pulse.followup.promise",
            "view_mode": "form",
            "views": [(self.env.ref("customer_pulse.pulse_followup_promise_view_form").id, "form")],
            "target": "new",
            "context": {"default_followup_id": self.id},
        }

    def action_dispute(self):
        self.ensure_one()
        self._check_accountant()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Dispute invoices"),
            "res_model": "pulse.followup.dispute",
            "view_mode": "form",
            "target": "new",
            "context": {"default_followup_id": self.id},
        }

    def action_open_partner(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "res.partner",
            "res_id": self.partner_id.id,
            "view_mode": "form",
        }

    # ------------------------------------------------------------------ helpers
    def _promise_invoices(self):
        """The customer's open invoices of the company that are not disputed: what a
        promise to pay is measured on."""
        self.ensure_one()
        return self.env["account.move"].search(
            [
                ("commercial_partner_id", "=", self.partner_id.id),
                ("company_id", "=", self.company_id.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("amount_residual", ">", 0),
                ("pulse_disputed", "=", False),
            ]
        )

    def _record_reliability(self):
        """Feed the profile: the finance department's assessment 'Keeps payment promises'
        from the promises kept and broken in each company, recorded when it changes."""
        attribute = self.env.ref(
            "customer_pulse.attribute_promise_reliability", raise_if_not_found=False
        )
        if not attribute or not attribute.active:
            return
        finance = self.env.ref("customer_pulse.department_finance", raise_if_not_found=False)
        # sudo: a system assessment, recorded whoever's action ended the promise
        Value = self.env["pulse.attribute.value"].sudo()
        self.env.flush_all()
        self.invalidate_recordset(["kept_count", "broken_count"])
        for followup in self:
            partner = followup.partner_id
            if partner.pulse_profiling_objection:
                continue
            kept, broken = followup.kept_count, followup.broken_count
            if not kept and not broken:
                continue
            key = "keeps" if not broken else ("breaks" if broken >= kept else "mixed")
            option = attribute.option_ids.filtered(lambda o, k=key: o.key == k)[:1]
            if not option:
                continue
            current = Value.search(
                [
                    ("partner_id", "=", partner.id),
                    ("attribute_id", "=", attribute.id),
                    ("company_id", "=", followup.company_id.id),
                    ("source", "=", "rule"),
                ],
                limit=1,
            )
            if current.option_id == option:
                continue
            Value.create(
                {
                    "partner_id": partner.id,
                    "company_id": followup.company_id.id,
                    "attribute_id": attribute.id,
                    "option_id": option.id,
                    "source": "rule",
                    "department_id": finance.id if finance else False,
                    "note": self.env._(
                        "%(kept)s promise(s) to pay kept, %(broken)s broken",
                        kept=kept,
                        broken=broken,
                    ),
                }
            )

    def _accountant(self):
        """Who gets the accountant's activities of this follow-up (False: nobody set)."""
        self.ensure_one()
        company = self.company_id
        default = (
            company.pulse_collection_user_id
            if "pulse_collection_user_id" in company._fields
            else self.env["res.users"]
        )
        return self.responsible_id or default
