import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from ..tools.analyze import analyze_if_large

_logger = logging.getLogger(__name__)

TRIGGERS = [
    ("segment_enter", "Enters a segment"),
    ("no_purchase", "No purchase for N days"),
    ("rhythm_overdue", "Rhythm overdue"),
    ("order_confirmed", "Order confirmed"),
    ("invoice_posted", "Invoice posted"),
    ("invoice_overdue", "Invoice overdue by N days"),
    ("invoice_paid", "Invoice paid"),
    ("survey_done", "Survey completed"),
    ("partner_date", "Anniversary of a date"),
]
# triggers fired by a document: only documents dated from the rule's start count
EVENT_TRIGGERS = ("order_confirmed", "invoice_posted", "invoice_paid", "survey_done")
# triggers that enrol by invoices or debts: their author and responsible must see invoices
FINANCIAL_TRIGGERS = ("invoice_posted", "invoice_overdue", "invoice_paid")
# an anniversary the scheduler missed (it was down) is caught up this long after
ANNIVERSARY_CATCH_UP = timedelta(days=7)
PERCENT = 100.0


class PulseRule(models.Model):
    """A re-engagement rule: who enters (trigger, audience), what happens to them (a chain
    of steps), and the policies that keep it polite (re-entry, exit, exclusions, cap)."""

    _name = "pulse.rule"
    _description = "Re-engagement rule"
    _inherit = ["mail.thread"]
    _order = "sequence, name, id"

    name = fields.Char(required=True, tracking=True, translate=True)
    description = fields.Text(translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    state = fields.Selection(
        [("draft", "Draft"), ("running", "Running"), ("paused", "Paused")],
        default="draft",
        required=True,
        tracking=True,
        copy=False,
    )
    is_builtin = fields.Boolean("Shipped", readonly=True, copy=False)
    user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        default=lambda self: self.env["pulse.segment"]._default_responsible(),
        required=True,
        tracking=True,
        help="Gets the activities of customers without a salesperson, and the test emails. "
        "The rule's filters (audience, exit, step conditions) and its preview run with this "
        "user's access rights and companies. Only a Customer Pulse manager can make someone "
        "else responsible.",
    )
    date_start = fields.Datetime(
        "Running since",
        readonly=True,
        copy=False,
        help="Orders, invoices and surveys from this moment on trigger the rule.",
    )
    # trigger
    trigger = fields.Selection(TRIGGERS, required=True, default="segment_enter", tracking=True)
    trigger_segment_id = fields.Many2one(
        "pulse.segment", string="Segment", ondelete="restrict", index=True
    )
    trigger_days = fields.Integer(
        "Days", default=365, help="No purchase for, or invoice overdue by, this many days."
    )
    trigger_factor = fields.Float(
        "Overdue factor",
        default=1.5,
        help="Rhythm overdue: no order for this many times the customer's usual rhythm.",
    )
    trigger_survey_id = fields.Many2one("survey.survey", string="Survey", ondelete="restrict")
    trigger_date_field_id = fields.Many2one(
        "ir.model.fields",
        string="Date field",
        domain="[('model', '=', 'res.partner'), ('ttype', 'in', ('date', 'datetime')),"
        " ('store', '=', True)]",
        ondelete="cascade",
        help="Anniversary: customers enter on the anniversary of this date (caught up to a "
        "week later if the scheduler was down).",
    )
    domain = fields.Char(
        "Audience",
        default="[]",
        help="Only customers matching this filter enter (on top of the trigger).",
    )
    # policies
    reentry = fields.Selection(
        [("once", "Once per customer"), ("cooldown", "Again, after a cooldown")],
        default="cooldown",
        required=True,
        help="A customer who lapses again after buying can enter again, as a new cycle, "
        "once the cooldown has passed since their last entry.",
    )
    cooldown_days = fields.Integer(default=90)
    exit_on_purchase = fields.Boolean(
        "Exit when they buy",
        default=True,
        help="A confirmed order after entering ends the enrolment as converted: the "
        "remaining steps are cancelled.",
    )
    exit_domain = fields.Char(
        "Exit when", help="Customers who come to match this filter leave the rule."
    )
    marketing_hold = fields.Boolean(
        "Hold marketing to overdue debtors",
        default=True,
        help="Emails and texts are skipped for customers with overdue invoices.",
    )
    attribution_days = fields.Integer(
        "Attribution window (days)",
        default=30,
        help="Invoices posted within this many days after a touch count as revenue of the " "rule.",
    )
    test_mode = fields.Boolean(
        help="Runs every step, but emails go to the test address only, activities to the "
        "responsible, no text leaves and webhooks are called only on this machine (a test "
        "receiver on localhost, which may then use http://)."
    )
    test_email = fields.Char("Test address")
    step_ids = fields.One2many("pulse.rule.step", "rule_id", string="Steps", copy=True)
    enrolment_ids = fields.One2many("pulse.enrolment", "rule_id")
    error = fields.Text(readonly=True, copy=False)
    # results
    enrolled_count = fields.Integer("Enrolled", compute="_compute_results")
    running_count = fields.Integer("In progress", compute="_compute_results")
    converted_count = fields.Integer("Converted", compute="_compute_results")
    run_done_count = fields.Integer("Steps done", compute="_compute_results")
    run_skipped_count = fields.Integer("Steps skipped", compute="_compute_results")
    run_failed_count = fields.Integer("Steps failed", compute="_compute_results")
    revenue = fields.Monetary(
        "Attributed revenue", compute="_compute_results", groups="account.group_account_invoice"
    )
    # return (report/pulse_rule_return.py: the same figures per step and month)
    fixed_cost = fields.Monetary(
        "Fixed cost (total)",
        help="What the rule costs once, whatever the number of customers it reaches (writing "
        "the messages, setting it up, a fee), in the company's currency: counted once in its "
        "return, in the month it started running. What each email, text or activity costs "
        "is on its step.",
    )
    cost = fields.Monetary(
        compute="_compute_results",
        help="Fixed cost + each step's runs done (not in test mode) × its cost per run.",
    )
    touch_converted_count = fields.Integer(
        "Converted after a touch",
        compute="_compute_results",
        help="Enrolments invoiced within the attribution window after a touch (email, text, "
        "survey invitation): their revenue goes to the step whose touch came last before "
        "the first invoice.",
    )
    conversion_rate = fields.Float(
        "Conversion rate (%)",
        compute="_compute_results",
        digits=(16, 1),
        help="Converted after a touch / enrolled.",
    )
    return_amount = fields.Monetary(
        "Return",
        compute="_compute_results",
        groups="account.group_account_invoice",
        help="Attributed revenue − cost.",
    )
    roi = fields.Float(
        "ROI",
        compute="_compute_results",
        digits=(16, 2),
        groups="account.group_account_invoice",
        help="Return / cost: 2.00 means the rule brought back twice what it cost, on top of "
        "its cost; 0 when nothing was spent.",
    )

    _sql_constraints = [
        ("cooldown_positive", "CHECK (cooldown_days >= 0)", "The cooldown cannot be negative."),
        ("attribution_positive", "CHECK (attribution_days >= 0)", "The window cannot be negative."),
    ]

    @api.constrains("fixed_cost")
    def _check_fixed_cost(self):
        for rule in self:
            if rule.fixed_cost < 0:
                raise ValidationError(
                    self.env._(
                        "Rule %(name)s: the fixed cost cannot be negative (%(cost)s).",
                        name=rule.name,
                        cost=rule.fixed_cost,
                    )
                )

    def _compute_results(self):
        Enrolment = self.env["pulse.enrolment"]
        states = {
            (rule, state): count
            for rule, state, count in Enrolment._read_group(
                [("rule_id", "in", self.ids)], ["rule_id", "state"], ["__count"]
            )
        }
        revenue = {}
        if Enrolment._fields["attributed_revenue"].is_accessible(self.env):
            revenue = dict(
                Enrolment._read_group(
                    [("rule_id", "in", self.ids)], ["rule_id"], ["attributed_revenue:sum"]
                )
            )
        runs = self.env["pulse.step.run.tally"]._counts(
            [("rule_id", "in", self.ids)], ["rule_id", "state"]
        )
        for rule in self:
            rule.enrolled_count = sum(c for (r, _s), c in states.items() if r == rule)
            rule.running_count = states.get((rule, "running"), 0)
            rule.converted_count = states.get((rule, "converted"), 0)
            rule.run_done_count = runs.get((rule, "done"), 0)
            rule.run_skipped_count = runs.get((rule, "skipped"), 0)
            rule.run_failed_count = runs.get((rule, "failed"), 0)
            rule.revenue = revenue.get(rule, 0)
        self._compute_return(revenue)

    def _compute_return(self, revenue):
        """Cost, conversion and return of each rule (revenue: {rule: attributed revenue});
        return and ROI only for who may see the revenue."""
        with_revenue = (
            self.env["pulse.enrolment"]._fields["attributed_revenue"].is_accessible(self.env)
        )
        run_counts = self.env["pulse.step.run.tally"]._counts(
            [("rule_id", "in", self.ids), ("state", "=", "done"), ("test_mode", "=", False)],
            ["rule_id", "step_id"],
        )
        run_cost = {}
        for (rule, step), count in run_counts.items():
            run_cost[rule] = run_cost.get(rule, 0) + count * step.cost_per_run
        converted = dict(
            self.env["pulse.enrolment"]._read_group(
                [("rule_id", "in", self.ids), ("converting_step_id", "!=", False)],
                ["rule_id"],
                ["__count"],
            )
        )
        for rule in self:
            rule.cost = rule.fixed_cost + run_cost.get(rule, 0)
            rule.touch_converted_count = converted.get(rule, 0)
            rule.conversion_rate = (
                PERCENT * rule.touch_converted_count / rule.enrolled_count
                if rule.enrolled_count
                else 0
            )
            rule.return_amount = revenue.get(rule, 0) - rule.cost if with_revenue else 0
            rule.roi = rule.return_amount / rule.cost if with_revenue and rule.cost else 0

    # ---------------------------------------------------------------- checks
    @api.constrains("domain", "exit_domain", "user_id", "company_id")
    def _check_domains(self):
        Segment = self.env["pulse.segment"]
        for rule in self:
            for fname in ("domain", "exit_domain"):
                text = (rule[fname] or "").strip()
                if text and text != "[]":
                    Segment._check_filter(
                        text,
                        rule.company_id,
                        rule.user_id,
                        self.env._(
                            "The %(field)s filter of rule %(name)s",
                            field=self._fields[fname].string,
                            name=rule.name,
                        ),
                    )

    @api.constrains("trigger", "user_id")
    def _check_financial_trigger(self):
        """Invoice triggers enrol by invoices and debts: for people who may see them."""
        for rule in self.filtered(lambda r: r.trigger in FINANCIAL_TRIGGERS):
            for user in (self.env.user | rule.user_id).filtered(lambda u: not u._is_superuser()):
                if not user.has_group("account.group_account_invoice"):
                    raise ValidationError(
                        self.env._(
                            "The trigger “%(trigger)s” of rule %(name)s reads invoices: "
                            "%(user)s may not see invoices.",
                            trigger=dict(TRIGGERS)[rule.trigger],
                            name=rule.name,
                            user=user.name,
                        )
                    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self.env["pulse.segment"]._check_responsible(vals)
        return super().create(vals_list)

    def write(self, vals):
        self.env["pulse.segment"]._check_responsible(vals)
        return super().write(vals)

    def _configuration_errors(self):
        """What prevents this rule from running, in words (empty: it can run)."""
        self.ensure_one()
        errors = []
        needs = {
            "segment_enter": ("trigger_segment_id", self.env._("choose the segment")),
            "survey_done": ("trigger_survey_id", self.env._("choose the survey")),
            "partner_date": ("trigger_date_field_id", self.env._("choose the date field")),
        }
        if self.trigger in needs and not self[needs[self.trigger][0]]:
            errors.append(needs[self.trigger][1])
        if self.trigger in ("no_purchase", "invoice_overdue") and self.trigger_days <= 0:
            errors.append(self.env._("the number of days must be positive"))
        if self.trigger == "rhythm_overdue" and self.trigger_factor <= 0:
            errors.append(self.env._("the overdue factor must be positive"))
        if self.trigger_segment_id and not self.trigger_segment_id.active:
            errors.append(self.env._("its segment is archived"))
        if not self.step_ids:
            errors.append(self.env._("add at least one step"))
        if self.test_mode and not self.test_email:
            errors.append(self.env._("test mode needs a test address"))
        for step in self.step_ids:
            errors += [f"{step.display_name}: {e}" for e in step._configuration_errors()]
        return errors

    # ------------------------------------------------------------- switching
    def action_start(self):
        for rule in self:
            errors = rule._configuration_errors()
            if errors:
                raise UserError(
                    self.env._(
                        "%(name)s cannot run yet: %(errors)s.",
                        name=rule.name,
                        errors="; ".join(errors),
                    )
                )
        now = fields.Datetime.now()
        for rule in self:
            rule.write({"state": "running", "error": False, "date_start": rule.date_start or now})
        self.env["pulse.rule.engine"]._wake_up()
        return True

    def action_pause(self):
        """Pause: nobody enters and the steps already scheduled wait until it runs again."""
        self.write({"state": "paused"})
        return True

    def action_preview(self):
        self.ensure_one()
        preview = self.env["pulse.rule.preview"].create({"rule_id": self.id})
        return {
            "type": "ir.actions.act_window",
            "res_model": "pulse.rule.preview",
            "res_id": preview.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "name": self.env._("Preview of %(name)s", name=self.name),
        }

    def action_open_enrolments(self):
        self.ensure_one()
        action = self.env["ir.actions.actions"]._for_xml_id("customer_pulse.action_pulse_enrolment")
        action["domain"] = [("rule_id", "=", self.id)]
        action["context"] = {"create": False}
        return action

    def action_open_return(self):
        self.ensure_one()
        action = self.env["ir.actions.actions"]._for_xml_id(
            "customer_pulse.action_pulse_rule_return"
        )
        action["domain"] = [("rule_id", "=", self.id)]
        action["context"] = {"pivot_row_groupby": ["step_id"]}
        return action

    def action_open_runs(self):
        self.ensure_one()
        action = self.env["ir.actions.actions"]._for_xml_id("customer_pulse.action_pulse_step_run")
        action["domain"] = [("rule_id", "=", self.id)]
        action["context"] = {"create": False, "search_default_group_step": 1}
        return action

    @api.ondelete(at_uninstall=False)
    def _unlink_except_builtin_or_used(self):
        if any(self.mapped("is_builtin")):
            raise UserError(self.env._("Shipped rules cannot be deleted: archive them instead."))
        if self.env["pulse.enrolment"].search_count([("rule_id", "in", self.ids)], limit=1):
            raise UserError(
                self.env._(
                    "This rule has already enrolled customers: archive it to keep its history."
                )
            )

    # ---------------------------------------------------------------- engine
    def _pause_broken(self, error):
        """Pause this rule because it cannot run any more (a filter that no longer
        evaluates, a trigger that fails…): the reason is kept on the rule and posted in its
        chatter, its scheduled steps wait, and the other rules go on."""
        for rule in self:
            rule.write({"state": "paused", "error": error})
            rule.message_post(
                body=self.env._("Paused by the engine: %(error)s", error=error),
                subtype_xmlid="mail.mt_note",
            )

    # --------------------------------------------------------------- audience
    def _partner_query(self, domain_text):
        """SQL of the commercial partners matching a filter of this rule (None: no filter)."""
        self.ensure_one()
        text = (domain_text or "").strip()
        if not text or text == "[]":
            return None
        # the responsible's rights and companies, never the superuser's
        return self.env["pulse.segment"]._customers_query(text, self.company_id, self.user_id)

    def _candidates_sql(self):
        """SELECT partner_id, trigger_key, trigger_date of the customers the trigger fires
        for now (policies not applied). Time-based triggers use a key per episode (the
        last order of a lapse, the membership, the invoice, the year of an anniversary), so
        a scheduler that was down catches up without missing or repeating anyone."""
        self.ensure_one()
        today = fields.Date.context_today(self)
        company = self.company_id.id
        since = self.date_start or fields.Datetime.now()
        trigger = self.trigger
        if trigger == "segment_enter":
            return SQL(
                "SELECT m.partner_id, 'member,' || m.id AS trigger_key,"
                " m.date_entered AS trigger_date FROM pulse_segment_member m"
                " WHERE m.segment_id = %s AND m.date_left IS NULL",
                self.trigger_segment_id.id,
            )
        if trigger == "no_purchase":
            return SQL(
                "SELECT s.partner_id, 'lapse,' || s.last_order_date AS trigger_key,"
                " (s.last_order_date + %s)::timestamp AS trigger_date"
                " FROM pulse_partner_stats s"
                " WHERE s.company_id = %s AND s.last_order_date < %s",
                self.trigger_days,
                company,
                today - timedelta(days=self.trigger_days),
            )
        if trigger == "rhythm_overdue":
            return SQL(
                "SELECT s.partner_id, 'rhythm,' || s.last_order_date AS trigger_key,"
                " s.next_order_date::timestamp AS trigger_date"
                " FROM pulse_partner_stats s"
                " WHERE s.company_id = %s AND s.avg_days_between_orders > 0"
                " AND s.last_order_date + (s.avg_days_between_orders * %s)::integer < %s",
                company,
                self.trigger_factor,
                today,
            )
        if trigger == "order_confirmed":
            return SQL(
                "SELECT COALESCE(p.commercial_partner_id, p.id), 'order,' || so.id,"
                " so.date_order FROM sale_order so JOIN res_partner p ON p.id = so.partner_id"
                " WHERE so.state = 'sale' AND so.company_id = %s AND so.date_order >= %s",
                company,
                since,
            )
        if trigger in ("invoice_posted", "invoice_paid", "invoice_overdue"):
            where = {
                "invoice_posted": SQL("m.create_date >= %s", since),
                "invoice_paid": SQL(
                    "m.payment_state IN ('paid', 'in_payment') AND m.write_date >= %s", since
                ),
                "invoice_overdue": SQL(
                    "m.amount_residual > 0 AND m.invoice_date_due < %s",
                    today - timedelta(days=self.trigger_days),
                ),
            }[trigger]
            key = {"invoice_posted": "invoice,", "invoice_paid": "paid,"}.get(trigger, "overdue,")
            return SQL(
                "SELECT m.commercial_partner_id, %s || m.id, m.create_date FROM account_move m"
                " WHERE m.move_type = 'out_invoice' AND m.state = 'posted'"
                " AND m.company_id = %s AND %s",
                key,
                company,
                where,
            )
        if trigger == "survey_done":
            return SQL(
                "SELECT COALESCE(p.commercial_partner_id, p.id), 'survey,' || a.id,"
                " a.write_date FROM survey_user_input a JOIN res_partner p ON p.id = a.partner_id"
                " WHERE a.survey_id = %s AND a.state = 'done' AND a.write_date >= %s",
                self.trigger_survey_id.id,
                since,
            )
        if trigger == "partner_date":
            column = SQL.identifier("p", self.trigger_date_field_id.name)
            anniversary = SQL(
                "(%s::date + (DATE_PART('year', AGE(%s::date, %s::date)) || ' years')::interval)",
                column,
                today,
                column,
            )
            return SQL(
                "SELECT p.id, 'date,' || DATE_PART('year', %s), %s FROM res_partner p"
                " WHERE p.active AND p.id = COALESCE(p.commercial_partner_id, p.id)"
                " AND %s IS NOT NULL AND %s::date < %s AND %s >= %s",
                anniversary,
                anniversary,
                column,
                column,
                today,
                anniversary,
                today - ANNIVERSARY_CATCH_UP,
            )
        raise UserError(self.env._("Unknown trigger %(trigger)s", trigger=trigger))

    def _eligible_sql(self):
        """The candidates the rule's policies let in now: audience, one enrolment at a
        time, never twice for one episode, once or after the cooldown. Past enrolments are
        read once into hashed sets (a per-candidate probe planned from stale statistics
        took minutes for 100,000 candidates)."""
        self.ensure_one()
        audience = self._partner_query(self.domain)
        audience_sql = SQL("AND c.partner_id IN (%s)", audience) if audience else SQL("")
        if self.reentry == "once":
            blocking = SQL("TRUE")
        else:
            blocking = SQL(
                "e.state = 'running' OR e.date_enrolled > %s",
                fields.Datetime.now() - timedelta(days=self.cooldown_days),
            )
        return SQL(
            """
            WITH past AS MATERIALIZED (
                SELECT partner_id, trigger_key, state, date_enrolled
                  FROM pulse_enrolment WHERE rule_id = %(rule)s
            ), blocked AS MATERIALIZED (
                SELECT DISTINCT partner_id FROM past e WHERE %(blocking)s
            ), cycles AS MATERIALIZED (
                SELECT partner_id, COUNT(*) AS n FROM past GROUP BY partner_id
            )
            SELECT DISTINCT ON (c.partner_id) c.partner_id, c.trigger_key, c.trigger_date,
                   1 + COALESCE(cy.n, 0) AS cycle
              FROM (%(candidates)s) AS c(partner_id, trigger_key, trigger_date)
              JOIN res_partner p ON p.id = c.partner_id AND p.active
              LEFT JOIN blocked b ON b.partner_id = c.partner_id
              LEFT JOIN past seen
                ON seen.partner_id = c.partner_id AND seen.trigger_key = c.trigger_key
              LEFT JOIN cycles cy ON cy.partner_id = c.partner_id
             WHERE b.partner_id IS NULL AND seen.partner_id IS NULL %(audience)s
             ORDER BY c.partner_id, c.trigger_date
            """,
            rule=self.id,
            blocking=blocking,
            candidates=self._candidates_sql(),
            audience=audience_sql,
        )

    def _enrol(self):
        """Enrol the eligible customers (one INSERT … SELECT) and schedule their first
        steps. Returns the number enrolled."""
        self.ensure_one()
        cr = self.env.cr
        self.env.flush_all()  # the trigger and the audience read many models
        now = fields.Datetime.now()
        cr.execute(
            SQL(
                """
                WITH eligible AS (%(eligible)s)
                INSERT INTO pulse_enrolment (rule_id, partner_id, company_id, cycle, state,
                       trigger_key, date_enrolled, create_uid, write_uid, create_date,
                       write_date)
                SELECT %(rule)s, el.partner_id, %(company)s, el.cycle,
                       'running', el.trigger_key, %(now)s, %(uid)s, %(uid)s, %(now)s, %(now)s
                  FROM eligible el
                ON CONFLICT DO NOTHING
                RETURNING id
                """,
                eligible=self._eligible_sql(),
                rule=self.id,
                company=self.company_id.id,
                now=now,
                uid=self.env.uid,
            )
        )
        enrolment_ids = [r[0] for r in cr.fetchall()]
        if enrolment_ids:
            self.env["pulse.step.run"]._schedule_roots(enrolment_ids, self, now)
            # a large enrolment (a rule's first, over every lapsed customer) leaves the
            # planner with statistics that show none of it: the engine's claims and
            # upkeep would then be planned as scans of every run or enrolment
            analyze_if_large(cr, "pulse_enrolment", len(enrolment_ids))
            analyze_if_large(cr, "pulse_step_run", len(enrolment_ids))
        return len(enrolment_ids)
