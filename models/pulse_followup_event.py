import base64
import logging
import time
from collections import defaultdict
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL, email_normalize, frozendict

from ..tools.mail_queue import queue_mails
from ..tools.schema import create_missing_indexes

_logger = logging.getLogger(__name__)

BATCH = 50  # reminders claimed per transaction (each may render PDFs)


class FollowupSkipped(Exception):
    """Nothing is sent, for this reason (paid, disputed, promise in force)."""


class FollowupFailed(Exception):
    """None of the level's channels could reach the customer, for this reason."""


class PulseFollowupEvent(models.Model):
    """One follow-up level for one customer, company and overdue episode: prepared by the
    run, then claimed and sent exactly once ((customer, company, level, cycle) is unique),
    or skipped or failed with its reason. The email and text it sends are queued in the
    transaction that marks it done: nothing leaves before that commits."""

    _name = "pulse.followup.event"
    _description = "Follow-up reminder"
    _order = "date desc, id desc"
    _rec_name = "level_id"
    _check_company_auto = True

    partner_id = fields.Many2one(
        "res.partner", "Customer", required=True, readonly=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    followup_id = fields.Many2one(
        "pulse.followup", "Follow-up", readonly=True, ondelete="cascade", index=True
    )
    level_id = fields.Many2one(
        "pulse.followup.level", "Level", required=True, readonly=True, ondelete="restrict"
    )
    cycle = fields.Integer(required=True, readonly=True, default=1)
    state = fields.Selection(
        [
            ("scheduled", "Scheduled"),
            ("waiting", "Waiting for Send now"),
            ("processing", "Processing"),
            ("done", "Sent"),
            ("skipped", "Skipped"),
            ("failed", "Failed"),
        ],
        required=True,
        default="scheduled",
        readonly=True,
        index=True,
    )
    date = fields.Date(required=True, readonly=True, default=fields.Date.context_today)
    executed_at = fields.Datetime("Sent at", readonly=True)
    user_id = fields.Many2one("res.users", "Sent by", readonly=True, help="Empty: the daily run.")
    reason = fields.Char(readonly=True, help="Why it was skipped or failed, or what it left out.")
    error = fields.Text(readonly=True)
    attempts = fields.Integer(readonly=True, default=0)
    invoice_ids = fields.Many2many(
        "account.move",
        "pulse_followup_event_move_rel",
        "event_id",
        "move_id",
        string="Invoices",
        readonly=True,
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    amount = fields.Monetary(readonly=True, groups="account.group_account_invoice")
    mail_id = fields.Many2one("mail.mail", "Email", readonly=True, ondelete="set null")
    mail_state = fields.Selection(related="mail_id.state", string="Email status")
    sms_message_id = fields.Many2one(
        "mail.message", "Text message", readonly=True, ondelete="set null"
    )
    sms_ids = fields.Many2many("sms.sms", string="Texts", readonly=True)
    letter_attachment_id = fields.Many2one(
        "ir.attachment", "Letter", readonly=True, ondelete="set null"
    )
    letter_printed = fields.Boolean(readonly=True)
    activity_id = fields.Many2one("mail.activity", "Activity", readonly=True, ondelete="set null")
    channels = fields.Char(compute="_compute_channels")

    _sql_constraints = [
        (
            "partner_level_cycle_uniq",
            "unique(partner_id, company_id, level_id, cycle)",
            "A level is sent once per customer, company and overdue episode.",
        ),
    ]

    def init(self):
        # the claim: due scheduled reminders
        create_missing_indexes(
            self.env.cr,
            {
                "pulse_followup_event_due_idx": "ON pulse_followup_event (date)"
                " WHERE state = 'scheduled'"
            },
        )

    @api.depends("mail_id", "sms_message_id", "letter_attachment_id", "activity_id")
    def _compute_channels(self):
        for event in self:
            used = []
            if event.mail_id:
                used.append(self.env._("email"))
            if event.sms_message_id:
                used.append(self.env._("text"))
            if event.letter_attachment_id:
                used.append(self.env._("letter"))
            if event.activity_id:
                used.append(self.env._("activity"))
            event.channels = ", ".join(used)

    # ------------------------------------------------------------- scheduling
    @api.model
    def _schedule(self, partner_ids=None):
        """Create the reminders that are due from the refreshed rows, in SQL: a level is
        created once per customer, company and episode (ON CONFLICT DO NOTHING on the
        unique key), however many runs or workers try. Returns the new events."""
        cr = self.env.cr
        today = fields.Date.context_today(self)
        now = fields.Datetime.now()
        self.env.flush_all()
        restrict = (
            SQL("AND f.partner_id = ANY(%s)", list(partner_ids))
            if partner_ids is not None
            else SQL("")
        )
        cr.execute(
            SQL(
                """
                INSERT INTO pulse_followup_event (partner_id, company_id, followup_id, level_id,
                       cycle, state, date, amount, attempts, letter_printed,
                       create_uid, create_date, write_uid, write_date)
                SELECT f.partner_id, f.company_id, f.id, f.next_level_id, f.cycle,
                       CASE WHEN l.auto THEN 'scheduled' ELSE 'waiting' END, %(today)s, 0, 0,
                       FALSE, %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM pulse_followup f
                  JOIN pulse_followup_level l ON l.id = f.next_level_id
                 WHERE f.next_action_date <= %(today)s AND f.promise_id IS NULL
                   AND f.state <> 'done' %(restrict)s
                 ORDER BY f.partner_id, f.company_id
                ON CONFLICT (partner_id, company_id, level_id, cycle) DO NOTHING
                RETURNING id
                """,
                today=today,
                now=now,
                uid=self.env.uid,
                restrict=restrict,
            )
        )
        new_ids = [r[0] for r in cr.fetchall()]
        if not new_ids:
            return self.browse()
        self._link_invoices(new_ids, today)
        cr.execute(
            """
            UPDATE pulse_followup SET escalate = FALSE
             WHERE escalate AND id IN (SELECT followup_id FROM pulse_followup_event
                                        WHERE id = ANY(%s))
            """,
            [new_ids],
        )
        self.env["pulse.followup"].invalidate_model(["escalate"])
        self._wake_up()
        return self.browse(new_ids)

    @api.model
    def _link_invoices(self, event_ids, today):
        """The invoices each reminder lists, and their total: the customer's open posted
        invoices of that company that are not disputed and that the level concerns (due
        before today; for a courtesy level, due within its days)."""
        cr = self.env.cr
        cr.execute(
            """
            INSERT INTO pulse_followup_event_move_rel (event_id, move_id)
            SELECT e.id, m.id FROM pulse_followup_event e
              JOIN pulse_followup_level l ON l.id = e.level_id
              JOIN account_move m ON m.commercial_partner_id = e.partner_id
                                 AND m.company_id = e.company_id
             WHERE e.id = ANY(%(ids)s) AND m.state = 'posted' AND m.move_type = 'out_invoice'
               AND m.amount_residual_signed > 0 AND NOT COALESCE(m.pulse_disputed, FALSE)
               AND m.invoice_date_due
                   <= %(today)s + CASE WHEN l.delay < 0 THEN -l.delay ELSE -1 END
            ON CONFLICT DO NOTHING;
            UPDATE pulse_followup_event e SET amount = s.total
              FROM (SELECT r.event_id, SUM(m.amount_residual_signed) AS total
                      FROM pulse_followup_event_move_rel r
                      JOIN account_move m ON m.id = r.move_id
                     WHERE r.event_id = ANY(%(ids)s)
                     GROUP BY r.event_id) s
             WHERE s.event_id = e.id;
            """,
            {"ids": list(event_ids), "today": today},
        )
        self.invalidate_model(["invoice_ids", "amount"])

    @api.model
    def _create_now(self, followup, level, today):
        """A reminder of this level created by hand (Send now ahead of its date)."""
        event = self.create(
            {
                "partner_id": followup.partner_id.id,
                "company_id": followup.company_id.id,
                "followup_id": followup.id,
                "level_id": level.id,
                "cycle": followup.cycle,
                "state": "waiting",
                "date": today,
            }
        )
        self.env.flush_all()
        self._link_invoices(event.ids, today)
        return event

    @api.model
    def _wake_up(self, at=None):
        """Ask the follow-up cron to run at `at` (now by default)."""
        cron = self.env.ref("customer_pulse.ir_cron_pulse_followup", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(at)  # sudo: crons are administrators' records

    # ------------------------------------------------------------------ engine
    @api.model
    def _claim(self, limit, ids=None):
        """Claim due scheduled reminders (FOR UPDATE SKIP LOCKED: two workers never take
        the same one); the claim commits or rolls back with what the reminder produces.
        Materialized, as the rule engine's claim (see pulse.step.run._claim)."""
        self.env.flush_all()
        now = fields.Datetime.now()
        only = SQL("AND e.id = ANY(%s)", list(ids)) if ids is not None else SQL("")
        self.env.cr.execute(
            SQL(
                """
                WITH claimed AS MATERIALIZED (
                    SELECT e.id FROM pulse_followup_event e
                     WHERE e.state = 'scheduled' AND e.date <= %(today)s %(only)s
                     ORDER BY e.date, e.id LIMIT %(limit)s
                       FOR UPDATE OF e SKIP LOCKED
                )
                UPDATE pulse_followup_event SET state = 'processing', attempts = attempts + 1,
                       write_date = %(now)s
                  FROM claimed WHERE pulse_followup_event.id = claimed.id
                RETURNING pulse_followup_event.id
                """,
                now=now,
                today=fields.Date.context_today(self),
                only=only,
                limit=limit,
            )
        )
        claimed = sorted(r[0] for r in self.env.cr.fetchall())
        self.invalidate_model(["state", "attempts", "write_date"])
        return self.browse(claimed)

    def _release(self):
        """Give back claimed reminders that did not start (time budget spent)."""
        if not self:
            return
        self.env.flush_all()
        self.env.cr.execute(
            """
            UPDATE pulse_followup_event SET state = 'scheduled',
                   attempts = GREATEST(attempts - 1, 0)
             WHERE id = ANY(%s) AND state = 'processing'
            """,
            [self.ids],
        )
        self.invalidate_recordset(["state", "attempts"])

    @api.model
    def _process_due(self, limit=BATCH, deadline=None, ids=None):
        """Claim and send up to `limit` due reminders (only `ids`, when given); past
        `deadline` (time.monotonic()) the ones not started are given back. What they need
        is read, and their emails rendered, for all of them at once (_prepare); each is
        then checked again and sent in a savepoint: one bad customer fails only its own
        reminder. Returns how many were handled."""
        events = self._claim(limit if ids is None else len(ids), ids)
        batch = events._prepare()
        left = events
        for event in events:
            if deadline is not None and left != events and time.monotonic() > deadline:
                break
            event._guarded(batch)
            left -= event
        left._release()
        if events:
            self.env["pulse.followup"]._refresh(events.partner_id.ids)
        return len(events) - len(left)

    def _guarded(self, batch=None):
        now = fields.Datetime.now()
        try:
            with self.env.cr.savepoint():
                self._act(batch)
        except FollowupSkipped as skip:
            self.write({"state": "skipped", "reason": str(skip), "executed_at": now})
        except FollowupFailed as failure:
            self.write({"state": "failed", "reason": str(failure), "executed_at": now})
        except Exception as e:
            _logger.info("pulse follow-up %s failed: %s", self.id, e)
            self.write(
                {
                    "state": "failed",
                    "reason": self.env._("could not be sent (see the error)"),
                    "error": str(e) or repr(e),
                    "executed_at": now,
                }
            )

    # ---------------------------------------------------------------- the batch
    def _prepare(self):
        """What these claimed reminders need, read for all of them at once: the promises
        in force, the invoices each lists, and their emails rendered once per level and
        company for all its customers (levels that attach the invoices' PDFs send each
        alone). {"promises": {(customer, company): promise}, "invoices": {reminder:
        (listed, disputed)}, "emails": {reminder: mail values, or the error rendering them
        raised}}."""
        batch = {"promises": self._promises_in_force(), "invoices": self._invoices_listed()}
        batch["emails"] = self._render_emails(batch)
        return batch

    def _cutoff(self):
        """The due date up to which this reminder's level lists invoices."""
        today = fields.Date.context_today(self)
        delay = self.level_id.delay
        return today + timedelta(days=-delay) if delay < 0 else today - timedelta(days=1)

    def _open_invoices(self, cutoff):
        """Open posted invoices of these reminders' customers and companies due by
        `cutoff`, oldest due first."""
        return self.env["account.move"].search(
            [
                ("commercial_partner_id", "in", self.partner_id.ids),
                ("company_id", "in", self.company_id.ids),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("amount_residual", ">", 0),
                ("invoice_date_due", "<=", cutoff),
            ],
            order="invoice_date_due, id",
        )

    def _invoices_listed(self):
        """{reminder: (invoices to list, disputed invoices left out)}, read together."""
        if not self:
            return {}
        cutoffs = {event: event._cutoff() for event in self}
        moves = self._open_invoices(max(cutoffs.values()))
        by_customer = defaultdict(list)  # in the search's order
        for move in moves:
            by_customer[move.commercial_partner_id, move.company_id].append(move.id)
        listed = {}
        for event, cutoff in cutoffs.items():
            invoices = moves.browse(by_customer[event.partner_id, event.company_id]).filtered(
                lambda m, c=cutoff: m.invoice_date_due <= c
            )
            disputed = invoices.filtered("pulse_disputed")
            listed[event] = (invoices - disputed, disputed)
        return listed

    def _promises_in_force(self):
        """{(customer, company): the promise in force} of these reminders."""
        promises = self.env["pulse.followup.promise"].search(
            [
                ("partner_id", "in", self.partner_id.ids),
                ("company_id", "in", self.company_id.ids),
                ("state", "=", "open"),
                ("check_date", ">=", fields.Date.context_today(self)),
            ]
        )
        in_force = {}
        for promise in promises:
            in_force.setdefault((promise.partner_id.id, promise.company_id.id), promise)
        return in_force

    def _render_emails(self, batch):
        """{reminder: mail values, or the error rendering them raised} of the reminders
        whose level sends an email without the invoices' PDFs: one rendering of the
        level's template per level and company for all their customers, each listing its
        own invoices."""
        groups = defaultdict(list)
        for event in self:
            level, (listed, _disputed) = event.level_id, batch["invoices"][event]
            sends = level.send_email and level.mail_template_id and not level.attach_invoices
            promised = (event.partner_id.id, event.company_id.id) in batch["promises"]
            if sends and listed and not promised:
                groups[level, event.company_id].append(event)
        Email = self.env["pulse.action.email"]
        rendered = {}
        for (level, company), events in groups.items():
            customers = [event.partner_id.id for event in events]
            if len(set(customers)) < len(customers):
                continue  # one customer twice (two episodes): each renders alone
            listing = frozendict(
                {event.partner_id.id: tuple(batch["invoices"][event][0].ids) for event in events}
            )
            # sudo: the company sends its reminders, whoever runs them
            template = (
                level.mail_template_id.sudo()
                .with_company(company)
                .with_context(pulse_followup_invoice_ids=listing)
            )
            values = Email._render(template, customers)
            rendered.update({event: values[event.partner_id.id] for event in events})
        return rendered

    # ------------------------------------------------------------------ sending
    def _concerned_invoices(self):
        """(invoices to list, disputed invoices left out) as they are now."""
        self.ensure_one()
        return self._invoices_listed()[self]

    def _promise_in_force(self):
        self.ensure_one()
        return self._promises_in_force().get(
            (self.partner_id.id, self.company_id.id), self.env["pulse.followup.promise"]
        )

    def _act(self, batch=None):
        """Check again, then send through each channel of the level and mark done (with
        what `batch` read and rendered for it, see _prepare; alone without)."""
        self.ensure_one()
        batch = batch or self._prepare()
        promise = batch["promises"].get((self.partner_id.id, self.company_id.id))
        if promise:
            raise FollowupSkipped(self.env._("promise until %(date)s", date=promise.check_date))
        invoices, disputed = batch["invoices"][self]
        if not invoices:
            if disputed:
                raise FollowupSkipped(self.env._("disputed"))
            raise FollowupSkipped(self.env._("paid"))
        level = self.level_id
        vals = {}
        problems = []
        attempted = False
        if level.send_email:
            attempted = True

            def send_email(invoices):
                return self._send_email(invoices, batch["emails"].get(self))

            self._channel(problems, self.env._("email"), send_email, invoices, vals)
        if level.send_sms:
            attempted = True
            self._channel(problems, self.env._("text"), self._send_sms, invoices, vals)
        if level.send_letter:
            attempted = True
            self._channel(problems, self.env._("letter"), self._make_letter, invoices, vals)
        reached = {key for key in vals if key != "sms_ids"}
        if attempted and not reached:
            raise FollowupFailed("; ".join(problems))
        if level.create_activity:
            self._channel(problems, self.env._("activity"), self._make_activity, invoices, vals)
        self.write(
            {
                **vals,
                "state": "done",
                "executed_at": fields.Datetime.now(),
                "invoice_ids": [fields.Command.set(invoices.ids)],
                "amount": sum(invoices.mapped("amount_residual_signed")),
                "reason": "; ".join(problems) or False,
                "error": False,
            }
        )
        self._log_on_customer(invoices, disputed)

    def _channel(self, problems, label, method, invoices, vals):
        """Run one channel; a channel that cannot reach the customer says why, the others
        go on."""
        try:
            with self.env.cr.savepoint():
                vals.update(method(invoices))
        except FollowupFailed as failure:
            problems.append(self.env._("%(channel)s not sent: %(why)s", channel=label, why=failure))

    def _recipient(self):
        """The customer's invoicing contact with an email, else the customer."""
        partner = self.partner_id
        contacts = partner.child_ids.filtered(
            lambda c: c.type == "invoice" and c.active and c.email
        )
        return contacts[:1] or partner

    def _send_email(self, invoices, rendered=None):
        """Queue one email listing these invoices, from the company, with its header and
        the invoices' PDFs. A blacklisted address still gets it (a reminder of a debt is
        not marketing); an address that bounced does not. `rendered`: its values, rendered
        with the batch's (see _render_emails); rendered here when None."""
        level, partner, company = self.level_id, self.partner_id, self.company_id
        recipient = self._recipient()
        email = email_normalize(recipient.email or "")
        if not email:
            raise FollowupFailed(
                self.env._("%(contact)s has no valid email address", contact=recipient.name)
            )
        if recipient.message_bounce > 0:
            raise FollowupFailed(
                self.env._(
                    "the address %(email)s bounced (%(count)s times): correct it, then Send now",
                    email=email,
                    count=recipient.message_bounce,
                )
            )
        values = {
            "recipient_ids": [fields.Command.set(recipient.ids)],
            "partner_ids": [fields.Command.set(recipient.ids)],
        }
        if rendered is not None:
            return {"mail_id": self._queue_rendered(rendered, values).id}
        if level.attach_invoices:
            values["attachments"] = self._invoice_pdfs(invoices)
        # sudo: the company sends its reminder, whoever runs it
        template = (
            level.mail_template_id.sudo()
            .with_company(company)
            .with_context(pulse_followup_invoice_ids=invoices.ids)
        )
        mail_id = template.send_mail(
            partner.id, force_send=False, raise_exception=True, email_values=values
        )
        return {"mail_id": mail_id}

    def _queue_rendered(self, rendered, values):
        """The email made from its `rendered` values (see _render_emails) and these
        `values` on top, as template.send_mail makes it (tools/mail_queue.py)."""
        if isinstance(rendered, Exception):
            raise rendered
        vals = dict(rendered)
        vals.pop("partner_ids", None)
        if not vals.get("email_from"):
            vals.pop("email_from", None)
        vals.update(body=vals["body_html"], **values)
        return queue_mails(self.env, [vals])

    def _invoice_pdfs(self, invoices):
        """(file name, base64 content) of each invoice's PDF, generated now and kept on the
        invoice when it was never printed (Odoo attaches only existing ones)."""
        # sudo: the invoice documents are the company's; the reminder sends them
        invoices = invoices.sudo()
        missing = invoices.filtered(lambda m: not m.invoice_pdf_report_id)
        if missing:
            Send = self.env["account.move.send"].sudo().with_company(self.company_id)
            data = {
                move: Send._get_default_sending_settings(
                    move, sending_methods={"manual"}, invoice_edi_format=None, extra_edis={}
                )
                for move in missing
            }
            Send._generate_invoice_documents(data, allow_fallback_pdf=True)
            errors = [move.name for move, values in data.items() if values.get("error")]
            if errors:
                _logger.info("pulse follow-up %s: no PDF for %s", self.id, errors)
            missing.invalidate_recordset(["invoice_pdf_report_id", "invoice_pdf_report_file"])
        return [
            (move.invoice_pdf_report_id.name, base64.b64encode(move.invoice_pdf_report_id.raw))
            for move in invoices
            if move.invoice_pdf_report_id
        ]

    def _send_sms(self, invoices):
        """Queue a text (Odoo's SMS queue sends it once this transaction commits)."""
        partner, company = self.partner_id, self.company_id
        recipient = self._recipient()
        if not (recipient.mobile or recipient.phone):
            recipient = partner
        if not (recipient.mobile or recipient.phone or "").strip():
            raise FollowupFailed(self.env._("no phone number"))
        # sudo: the level's text is rendered for the company, whoever runs the reminder
        template = (
            self.level_id.sms_template_id.sudo()
            .with_company(company)
            .with_context(pulse_followup_invoice_ids=invoices.ids)
        )
        # sudo: the note of the text is the company's, on the customer
        message = (
            partner.sudo()
            .with_company(company)
            ._message_sms_with_template(
                template=template, partner_ids=recipient.ids, put_in_queue=True
            )
        )
        # sudo: the queued texts of the message just posted, to link them to the reminder
        sms = self.env["sms.sms"].sudo().search([("mail_message_id", "=", message.id)])
        return {"sms_message_id": message.id, "sms_ids": [fields.Command.set(sms.ids)]}

    def _make_letter(self, invoices):
        """The letter to post: the customer's follow-up report of the company."""
        partner, company = self.partner_id, self.company_id
        # sudo: the letter is printed for the company, whoever runs the reminder
        Report = self.env["ir.actions.report"].sudo().with_company(company)
        content, _kind = Report._render_qweb_pdf(
            "customer_pulse.report_followup", partner.ids, data={"company_id": company.id}
        )
        # sudo: the letter is filed on the reminder for the company, whoever runs it
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": f"{self.level_id.name} - {partner.name}.pdf",
                    "raw": content,
                    "mimetype": "application/pdf",
                    "res_model": self._name,
                    "res_id": self.id,
                }
            )
        )
        return {"letter_attachment_id": attachment.id, "letter_printed": False}

    def _make_activity(self, invoices):
        level, partner = self.level_id, self.partner_id
        followup = self.followup_id
        user = {
            "salesperson": partner.user_id or invoices[:1].invoice_user_id,
            "accountant": followup._accountant() if followup else self.env["res.users"],
            "user": level.activity_user_id,
        }.get(level.activity_assign) or level.activity_user_id
        if not user:
            raise FollowupFailed(
                self.env._(
                    "nobody to give it to (no %(who)s; set a user on the level)",
                    who=dict(self.level_id._fields["activity_assign"].selection).get(
                        level.activity_assign
                    ),
                )
            )
        note = level.activity_note or ""
        listing = ", ".join(invoices.mapped("name"))
        # sudo: the reminder gives the activity, whoever runs it
        activity = (
            self.env["mail.activity"]
            .sudo()
            .create(
                {
                    "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                    "res_id": partner.id,
                    "activity_type_id": level.activity_type_id.id,
                    "summary": level.activity_summary or level.name,
                    "note": f"{note}<p>{self.company_id.name}: {listing}</p>",
                    "date_deadline": fields.Date.context_today(self)
                    + timedelta(days=level.activity_deadline_days),
                    "user_id": user.id,
                }
            )
        )
        return {"activity_id": activity.id}

    def _log_on_customer(self, invoices, disputed):
        """A note on the customer: which level went out, how, for which invoices (no
        amounts: the chatter is read beyond finance)."""
        values = {
            "company": self.company_id.name,
            "level": self.level_id.name,
            "channels": self.channels or self.env._("recorded"),
            "invoices": ", ".join(invoices.mapped("name")),
            "disputed": ", ".join(disputed.mapped("name")),
        }
        if disputed:
            body = self.env._(
                "%(company)s: %(level)s sent (%(channels)s) for %(invoices)s. Left out, "
                "disputed: %(disputed)s.",
                **values,
            )
        else:
            body = self.env._(
                "%(company)s: %(level)s sent (%(channels)s) for %(invoices)s.", **values
            )
        if self.reason:
            body += " " + self.reason
        # sudo: the note records what the follow-up sent, whoever reads the customer; a note
        # notifies no one: logged without message_post's notification round
        self.partner_id.sudo()._message_log_batch({self.partner_id.id: body})

    # ------------------------------------------------------------------ actions
    def action_send_now(self):
        return self.followup_id.action_send_now()

    def action_download_letter(self):
        self.ensure_one()
        if not self.letter_attachment_id:
            return False
        self.sudo().letter_printed = True  # sudo: marking printed is part of printing
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{self.letter_attachment_id.id}?download=true",
            "target": "self",
        }
