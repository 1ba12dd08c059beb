import json
from collections.abc import Mapping

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, email_normalize, format_amount, format_date

from .pulse_followup import STATES as FOLLOWUP_STATES
from .pulse_partner_stats import RFM_SEGMENTS

# partner field -> customer fact it shows (current company, commercial partner's row)
PULSE_FIELDS = {
    "pulse_last_order_date": "last_order_date",
    "pulse_first_order_date": "first_order_date",
    "pulse_order_count": "order_count",
    "pulse_avg_days_between_orders": "avg_days_between_orders",
    "pulse_next_order_date": "next_order_date",
    "pulse_rfm_segment": "rfm_segment",
    "pulse_last_payment_date": "last_payment_date",
    "pulse_amount_due": "amount_due",
    "pulse_amount_overdue": "amount_overdue",
    "pulse_oldest_overdue_date": "oldest_overdue_date",
    "pulse_window_amount": "rfm_window_amount",
    "pulse_invoiced_amount": "invoiced_amount",
}


def _fact_searcher(fact):
    """The search method of a partner field that shows the customer fact `fact`."""

    def search(self, operator, value):
        return self._search_pulse_fact(fact, operator, value)

    return search


class ResPartner(models.Model):
    _inherit = "res.partner"

    pulse_stats_id = fields.Many2one(
        "pulse.partner.stats", compute="_compute_pulse_stats", string="Customer facts"
    )
    pulse_last_order_date = fields.Date(
        "Last order", compute="_compute_pulse_stats", search="_search_pulse_last_order_date"
    )
    pulse_first_order_date = fields.Date(
        "First order", compute="_compute_pulse_stats", search="_search_pulse_first_order_date"
    )
    pulse_order_count = fields.Integer(
        "Confirmed orders", compute="_compute_pulse_stats", search="_search_pulse_order_count"
    )
    pulse_avg_days_between_orders = fields.Float(
        "Rhythm (days)", compute="_compute_pulse_stats", digits=(16, 0)
    )
    pulse_next_order_date = fields.Date(
        "Expected next order",
        compute="_compute_pulse_stats",
        search="_search_pulse_next_order_date",
    )
    pulse_rfm_segment = fields.Selection(
        RFM_SEGMENTS,
        "RFM segment",
        compute="_compute_pulse_stats",
        search="_search_pulse_rfm_segment",
    )
    pulse_last_payment_date = fields.Date(
        "Last payment",
        compute="_compute_pulse_stats",
        search="_search_pulse_last_payment_date",
        groups="account.group_account_invoice",
    )
    pulse_amount_due = fields.Monetary(
        "Due",
        compute="_compute_pulse_stats",
        search="_search_pulse_amount_due",
        currency_field="pulse_currency_id",
        groups="account.group_account_invoice",
    )
    pulse_amount_overdue = fields.Monetary(
        "Overdue",
        compute="_compute_pulse_stats",
        search="_search_pulse_amount_overdue",
        currency_field="pulse_currency_id",
        groups="account.group_account_invoice",
    )
    pulse_oldest_overdue_date = fields.Date(
        "Oldest overdue due date",
        compute="_compute_pulse_stats",
        search="_search_pulse_oldest_overdue_date",
        groups="account.group_account_invoice",
    )
    pulse_window_amount = fields.Monetary(
        "Invoiced (RFM window)",
        compute="_compute_pulse_stats",
        search="_search_pulse_window_amount",
        currency_field="pulse_currency_id",
        groups="account.group_account_invoice",
    )
    pulse_invoiced_amount = fields.Monetary(
        "Invoiced (net of refunds)",
        compute="_compute_pulse_stats",
        search="_search_pulse_invoiced_amount",
        currency_field="pulse_currency_id",
        groups="account.group_account_invoice",
    )
    pulse_currency_id = fields.Many2one("res.currency", compute="_compute_pulse_stats")
    pulse_segment_ids = fields.Many2many(
        "pulse.segment",
        string="Segments",
        compute="_compute_pulse_segment_ids",
        search="_search_pulse_segment_ids",
        help="Segments the customer is a member of now.",
    )
    pulse_category_ids = fields.Many2many(
        "product.category",
        string="Categories bought",
        compute="_compute_pulse_categories",
        search="_search_pulse_category_ids",
        help="Product categories this customer bought, biggest amount first.",
    )
    pulse_recommended_categ_ids = fields.Many2many(
        "product.category",
        string="Recommended categories",
        compute="_compute_pulse_categories",
        search="_search_pulse_recommended_categ_ids",
        help="Categories this customer has not bought that customers who buy what they buy "
        "buy most (best first).",
    )
    pulse_interest_categ_ids = fields.Many2many(
        "product.category",
        string="Interested in category",
        compute="_compute_pulse_categories",
        search="_search_pulse_interest_categ_ids",
        help="Categories bought or recommended.",
    )
    pulse_category_stat_ids = fields.One2many(
        "pulse.partner.category.stats",
        string="Category facts",
        compute="_compute_pulse_category_stat_ids",
        search="_search_pulse_category_stat_ids",
        help="What the customer bought per product category (first and last date, orders, "
        "quantity, amount): filter with 'matches any of' to find, e.g., customers who "
        "bought a category in the last year.",
    )
    pulse_days_since_last_order = fields.Integer(
        "Days since last order", compute="_compute_pulse_stats"
    )
    # The payment follow-up of the current company (its row is read with the reader's
    # rights: a salesperson sees their own customers' only)
    pulse_followup_id = fields.Many2one(
        "pulse.followup",
        compute="_compute_pulse_followup_id",
        search="_search_pulse_followup_id",
        string="Follow-up",
    )
    pulse_followup_state = fields.Selection(
        FOLLOWUP_STATES,
        "Follow-up status",
        compute="_compute_pulse_followup_id",
    )
    pulse_followup_level_id = fields.Many2one(
        "pulse.followup.level", "Follow-up level", compute="_compute_pulse_followup_id"
    )
    pulse_followup_next_date = fields.Date(
        "Follow-up next action", compute="_compute_pulse_followup_id"
    )
    pulse_followup_promise_date = fields.Date(
        "Promised to pay by", compute="_compute_pulse_followup_id"
    )
    pulse_followup_hold = fields.Boolean(
        "Held from marketing", compute="_compute_pulse_followup_id"
    )

    @api.depends_context("company")
    def _compute_pulse_stats(self):
        company = self.env.company
        commercial = self.commercial_partner_id
        # sudo: financial columns are hidden by the partner fields' own groups
        stats = (
            self.env["pulse.partner.stats"]
            .sudo()
            .search([("partner_id", "in", commercial.ids), ("company_id", "=", company.id)])
        )
        by_partner = {s.partner_id.id: s for s in stats}
        today = fields.Date.context_today(self)
        for partner in self:
            row = by_partner.get(partner.commercial_partner_id.id)
            partner.pulse_stats_id = row.with_env(self.env) if row else False
            partner.pulse_currency_id = company.currency_id
            for fname, fact in PULSE_FIELDS.items():
                partner[fname] = row[fact] if row else False
            partner.pulse_days_since_last_order = (
                (today - row.last_order_date).days if row and row.last_order_date else 0
            )

    @api.depends(
        "pulse_followup_id.state",
        "pulse_followup_id.level_id",
        "pulse_followup_id.next_action_date",
        "pulse_followup_id.promise_date",
        "pulse_followup_id.hold",
    )
    @api.depends_context("company", "uid")
    def _compute_pulse_followup_id(self):
        Followup = self.env["pulse.followup"]
        rows = (
            Followup.search(
                [
                    ("partner_id", "in", self.commercial_partner_id.ids),
                    ("company_id", "=", self.env.company.id),
                ]
            )
            if Followup.has_access("read")
            else Followup
        )
        by_partner = {row.partner_id.id: row for row in rows}
        for partner in self:
            row = by_partner.get(partner.commercial_partner_id.id, Followup)
            partner.pulse_followup_id = row
            partner.pulse_followup_state = row.state
            partner.pulse_followup_level_id = row.level_id
            partner.pulse_followup_next_date = row.next_action_date
            partner.pulse_followup_promise_date = row.promise_date
            partner.pulse_followup_hold = row.hold

    def _search_pulse_followup_id(self, operator, value):
        """Partners whose commercial entity has one of these follow-ups (of any company):
        how Odoo finds the partners whose follow-up fields to recompute when one changes."""
        if operator not in ("in", "="):
            return NotImplemented
        followups = self.env["pulse.followup"]._search([("id", operator, value)])
        return [("commercial_partner_id", "in", followups.subselect("partner_id"))]

    @api.depends_context("company")
    def _compute_pulse_categories(self):
        # one query for all partners; category ids and their order only, no amount is shown
        self.env.cr.execute(
            "SELECT partner_id, categ_ids, recommended_categ_ids FROM pulse_partner_stats"
            " WHERE partner_id = ANY(%s) AND company_id = %s",
            [self.commercial_partner_id.ids, self.env.company.id],
        )
        by_partner = {r[0]: r[1:] for r in self.env.cr.fetchall()}
        for partner in self:
            bought, recommended = by_partner.get(partner.commercial_partner_id.id) or ([], [])
            partner.pulse_category_ids = bought or []
            partner.pulse_recommended_categ_ids = recommended or []
            partner.pulse_interest_categ_ids = (bought or []) + (recommended or [])

    @api.depends_context("company")
    def _compute_pulse_category_stat_ids(self):
        rows = self.env["pulse.partner.category.stats"].search(
            [
                ("partner_id", "in", self.commercial_partner_id.ids),
                ("company_id", "=", self.env.company.id),
            ]
        )
        for partner in self:
            partner.pulse_category_stat_ids = rows.filtered(
                lambda r, p=partner: r.partner_id == p.commercial_partner_id
            )

    def _search_pulse_category_stat_ids(self, operator, value):
        # "matches any of" arrives here as ("in", query of the matching rows)
        if operator not in ("in", "not in"):
            return NotImplemented
        # the reader's rights: the category facts' own rules and field groups apply
        rows = self.env["pulse.partner.category.stats"]._search(
            [("id", "in", value), ("company_id", "=", self.env.company.id)]
        )
        return [("commercial_partner_id", operator, rows.subselect("partner_id"))]

    def _search_pulse_categ_array(self, columns, operator, value):
        """Partners whose current-company facts list one of these categories (or one of
        their subcategories with child_of) in one of the array columns."""
        if operator not in ("in", "=", "child_of"):
            return NotImplemented
        # the arrays are read in SQL below: the reader must be allowed to read the facts
        self.env["pulse.partner.stats"].check_access("read")
        if isinstance(value, int | str):
            value = [value]
        categories = self.env["product.category"]
        if operator == "child_of":
            ids = categories.search([("id", "child_of", value)]).ids
        elif all(isinstance(v, int) for v in value):
            ids = list(value)
        else:  # names typed in the search bar
            ids = categories.search([("complete_name", "ilike", value[0])]).ids
        matches = SQL(" OR ").join(
            SQL("%s && %s::integer[]", SQL.identifier(c), ids) for c in columns
        )
        return [
            (
                "commercial_partner_id",
                "in",
                SQL(
                    "(SELECT partner_id FROM pulse_partner_stats WHERE company_id = %s AND (%s))",
                    self.env.company.id,
                    matches,
                ),
            )
        ]

    def _search_pulse_category_ids(self, operator, value):
        return self._search_pulse_categ_array(("categ_ids",), operator, value)

    def _search_pulse_recommended_categ_ids(self, operator, value):
        return self._search_pulse_categ_array(("recommended_categ_ids",), operator, value)

    def _search_pulse_interest_categ_ids(self, operator, value):
        return self._search_pulse_categ_array(
            ("categ_ids", "recommended_categ_ids"), operator, value
        )

    def _compute_pulse_segment_ids(self):
        members = self.env["pulse.segment.member"].search(
            [("partner_id", "in", self.commercial_partner_id.ids), ("date_left", "=", False)]
        )
        by_partner = {}
        for member in members:
            by_partner.setdefault(member.partner_id.id, []).append(member.segment_id.id)
        for partner in self:
            partner.pulse_segment_ids = by_partner.get(partner.commercial_partner_id.id, [])

    def _search_pulse_segment_ids(self, operator, value):
        if operator not in ("in", "="):
            return NotImplemented
        members = self.env["pulse.segment.member"]._search(
            [("segment_id", operator, value), ("date_left", "=", False)]
        )
        return [("commercial_partner_id", "in", members.subselect("partner_id"))]

    def _search_pulse_fact(self, fact, operator, value):
        """Partners (contacts included) whose commercial partner's current-company fact
        matches: one SQL subquery, no Python loop. Built with the reader's rights: the
        facts' access rules, company rule and field groups apply (a search by an amount
        due is an accountant's, as reading it is), which Odoo does not check by itself for
        a computed partner field."""
        Stats = self.env["pulse.partner.stats"]
        if not self.env.su and not Stats._fields[fact].is_accessible(self.env):
            raise AccessError(
                self.env._(
                    "You cannot filter customers by “%(field)s”: only users who may see "
                    "invoices can.",
                    field=Stats._fields[fact].string,
                )
            )
        stats = Stats._search([(fact, operator, value), ("company_id", "=", self.env.company.id)])
        return [("commercial_partner_id", "in", stats.subselect("partner_id"))]

    _search_pulse_last_order_date = _fact_searcher("last_order_date")
    _search_pulse_order_count = _fact_searcher("order_count")
    _search_pulse_first_order_date = _fact_searcher("first_order_date")
    _search_pulse_next_order_date = _fact_searcher("next_order_date")
    _search_pulse_rfm_segment = _fact_searcher("rfm_segment")
    _search_pulse_amount_due = _fact_searcher("amount_due")
    _search_pulse_amount_overdue = _fact_searcher("amount_overdue")
    _search_pulse_last_payment_date = _fact_searcher("last_payment_date")
    _search_pulse_oldest_overdue_date = _fact_searcher("oldest_overdue_date")
    _search_pulse_window_amount = _fact_searcher("rfm_window_amount")
    _search_pulse_invoiced_amount = _fact_searcher("invoiced_amount")

    def action_pulse_orders(self):
        action = self.env["ir.actions.actions"]._for_xml_id("sale.action_orders")
        action["domain"] = [
            ("partner_id", "child_of", self.commercial_partner_id.ids),
            ("state", "=", "sale"),
        ]
        action["context"] = {"create": False}
        return action

    def action_pulse_invoices(self):
        action = self.env["ir.actions.actions"]._for_xml_id("account.action_move_out_invoice_type")
        action["domain"] = [
            ("partner_id", "child_of", self.commercial_partner_id.ids),
            ("move_type", "in", ("out_invoice", "out_refund")),
            ("state", "=", "posted"),
        ]
        action["context"] = {"create": False, "default_move_type": "out_invoice"}
        return action

    # ------------------------------------------------------------------ profile
    pulse_profiling_consent = fields.Boolean(
        "Consents to profiling",
        tracking=True,
        help="Personal-data attributes and surveys are recorded for customers who consented "
        "only.",
    )
    pulse_consent_date = fields.Datetime("Consent given or withdrawn on", readonly=True)
    pulse_profiling_objection = fields.Boolean(
        "Objects to profiling",
        tracking=True,
        help="Nothing is recorded on this customer's profile, not even from purchases (set "
        "when the profile is erased on request). Only a manager lifts it, with a reason.",
    )
    pulse_profile_ids = fields.One2many(
        "pulse.attribute.value",
        "partner_id",
        string="Profile",
        domain=[("is_effective", "=", True)],
        help="The effective value of each attribute known about the customer. Search it as "
        "“Profile > Attribute / Value”.",
    )
    pulse_profile_completeness = fields.Integer(
        "Profile completeness (%)",
        compute="_compute_pulse_profile",
        help="Share of the attributes you can see that are known for this customer.",
    )
    pulse_profile_conflict_count = fields.Integer(compute="_compute_pulse_profile")

    def _compute_pulse_profile(self):
        Attribute = self.env["pulse.attribute"]
        visible = Attribute.search_count(
            [
                "|",
                ("visibility", "=", "shared"),
                ("department_id", "in", self.env.user.pulse_department_ids.ids),
            ]
        )
        commercial = self.commercial_partner_id
        known = dict(
            self.env["pulse.attribute.value"]._read_group(
                [
                    ("partner_id", "in", commercial.ids),
                    ("is_effective", "=", True),
                    ("company_id", "=", self.env.company.id),
                    ("attribute_id.active", "=", True),
                ],
                ["partner_id"],
                ["attribute_id:count_distinct"],
            )
        )
        conflicts = dict(
            self.env["pulse.attribute.conflict"]._read_group(
                [("partner_id", "in", commercial.ids)], ["partner_id"], ["__count"]
            )
        )
        for partner in self:
            count = known.get(partner.commercial_partner_id, 0)
            partner.pulse_profile_completeness = round(100 * count / visible) if visible else 0
            partner.pulse_profile_conflict_count = conflicts.get(partner.commercial_partner_id, 0)

    def _pulse_set_consent(self, consent):
        for partner in self.commercial_partner_id:
            if partner.pulse_profiling_consent != bool(consent):
                partner.write({"pulse_profiling_consent": bool(consent)})

    def write(self, vals):
        if vals.get("email") and "message_bounce" not in vals:
            # a new address has not bounced: the follow-up's reminders go to it again
            changed = self.filtered(
                lambda p: p.message_bounce and p.email_normalized != email_normalize(vals["email"])
            )
            if changed:
                super(ResPartner, changed).write({"message_bounce": 0})
        if "pulse_profiling_consent" in vals:
            vals = dict(vals, pulse_consent_date=fields.Datetime.now())
        if (
            "pulse_profiling_objection" in vals
            and not vals["pulse_profiling_objection"]
            and not self.env.su
            and self.filtered("pulse_profiling_objection")
        ):
            # consent (a form, a survey, an import) never lifts an objection: a manager
            # does, with a reason, through _pulse_lift_objection
            raise AccessError(
                self.env._(
                    "%(customer)s objects to profiling: only a Customer Pulse manager lifts "
                    "the objection, with a reason (Lift the objection).",
                    customer=self.filtered("pulse_profiling_objection")[0].display_name,
                )
            )
        return super().write(vals)

    def action_pulse_lift_objection(self):
        self.ensure_one()
        if not self.env.user.has_group("customer_pulse.group_pulse_manager"):
            raise AccessError(
                self.env._("Only a Customer Pulse manager lifts an objection to profiling.")
            )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Lift the objection to profiling"),
            "res_model": "pulse.objection.lift",
            "view_mode": "form",
            "target": "new",
            "context": {"default_partner_id": self.commercial_partner_id.id},
        }

    def _pulse_lift_objection(self, reason, consent=False):
        """A manager lifts the customer's objection, with the reason, in the chatter.
        Private: the only path that unticks it (write() refuses it otherwise)."""
        if not self.env.user.has_group("customer_pulse.group_pulse_manager"):
            raise AccessError(
                self.env._("Only a Customer Pulse manager lifts an objection to profiling.")
            )
        if not (reason or "").strip():
            raise UserError(self.env._("Give the reason why profiling may resume."))
        partners = self.commercial_partner_id
        partners.check_access("write")
        vals = {"pulse_profiling_objection": False}
        if consent:
            vals["pulse_profiling_consent"] = True
        # sudo: write() lets no one untick the objection but this manager's act
        partners.sudo().write(vals)
        for partner in partners:
            partner.message_post(
                body=self.env._(
                    "Objection to profiling lifted by %(user)s: %(reason)s",
                    user=self.env.user.name,
                    reason=reason,
                ),
                subtype_xmlid="mail.mt_note",
            )
        return True

    def _pulse_values_action(self, name, domain, context=None):
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "customer_pulse.action_pulse_attribute_value"
        )
        action.update(name=name, domain=domain, context=context or {})
        return action

    def action_pulse_profile(self):
        """The whole profile, grouped by dimension (effective values; history one filter
        away)."""
        self.ensure_one()
        partner = self.commercial_partner_id
        return self._pulse_values_action(
            self.env._("Profile of %(customer)s", customer=partner.display_name),
            [("partner_id", "=", partner.id)],
            {
                "search_default_effective": 1,
                "search_default_group_dimension": 1,
                "default_partner_id": partner.id,
            },
        )

    def action_pulse_add_value(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Record an assessment"),
            "res_model": "pulse.attribute.value",
            "view_mode": "form",
            "views": [(self.env.ref("customer_pulse.pulse_attribute_value_view_form").id, "form")],
            "target": "new",
            "context": {"default_partner_id": self.commercial_partner_id.id},
        }

    def action_pulse_interview(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Interview with a survey"),
            "res_model": "pulse.survey.interview",
            "view_mode": "form",
            "target": "new",
            "context": {"default_partner_id": self.commercial_partner_id.id},
        }

    def _pulse_profile_export(self):
        """Everything the profile holds about the customer, every company and department."""
        self.ensure_one()
        partner = self.commercial_partner_id
        # sudo: every company's and department's values, private ones too: the file is
        # for the manager who asked (action_pulse_export_profile)
        values = (
            self.env["pulse.attribute.value"]
            .sudo()
            .with_context(active_test=False)
            .search([("partner_id", "=", partner.id)], order="date, id")
        )
        # sudo: the customer's own participations: linked to them, or matched to them by staff
        # (an answer that only suggests them by a typed email may be someone else's)
        answers = (
            self.env["survey.user_input"]
            .sudo()
            .search(
                [
                    "|",
                    ("partner_id", "=", partner.id),
                    "&",
                    ("pulse_partner_id", "=", partner.id),
                    ("pulse_profile_state", "!=", "unmatched"),
                ]
            )
        )
        # sudo: the right of access covers every company and department; the file goes to
        # the manager who asked only (pulse.profile.export)
        facts = self.env["pulse.partner.stats"].sudo().search([("partner_id", "=", partner.id)])
        # sudo: every company's segment memberships, for the same file
        memberships = (
            self.env["pulse.segment.member"]
            .sudo()
            .with_context(active_test=False)
            .search([("partner_id", "=", partner.id)], order="date_entered, id")
        )
        # sudo: every company's rule enrolments, for the same file
        enrolments = (
            self.env["pulse.enrolment"]
            .sudo()
            .search([("partner_id", "=", partner.id)], order="date_enrolled, id")
        )
        # sudo: every company's step runs, for the same file
        runs = (
            self.env["pulse.step.run"]
            .sudo()
            .search([("partner_id", "=", partner.id)], order="scheduled_at, id")
        )
        return {
            "customer": partner.display_name,
            "email": partner.email or None,
            "consents_to_profiling": partner.pulse_profiling_consent,
            "consent_date": fields.Datetime.to_string(partner.pulse_consent_date)
            if partner.pulse_consent_date
            else None,
            "values": [
                {
                    "attribute": v.attribute_id.key,
                    "label": v.attribute_id.name,
                    "dimension": v.dimension_id.name,
                    "value": v.value_display,
                    "answer_as_given": v.raw or None,
                    "source": v.source,
                    "department": v.department_id.name or None,
                    "recorded_by": v.user_id.name or None,
                    "date": fields.Datetime.to_string(v.date),
                    "company": v.company_id.name,
                    "note": v.note or None,
                    "current": v.is_current,
                    "effective": v.is_effective,
                    "erased": v.erased,
                }
                for v in values
            ],
            "survey_answers": [
                {
                    "survey": a.survey_id.title,
                    "completed": fields.Datetime.to_string(a.end_datetime)
                    if a.end_datetime
                    else None,
                    "answers": [
                        {"question": line.question_id.title, "answer": line.display_name}
                        for line in a.user_input_line_ids
                        if not line.skipped
                    ],
                }
                for a in answers
            ],
            "facts": self._pulse_export_rows(facts),
            "segment_history": self._pulse_export_rows(memberships),
            "enrolments": self._pulse_export_rows(enrolments),
            "step_runs": self._pulse_export_rows(runs),
        }

    @api.model
    def _pulse_export_rows(self, records):
        """Stored fields of records as JSON-ready dicts (names for links, ISO dates)."""
        skip = {"id", "partner_id", "create_uid", "create_date", "write_uid", "write_date"}
        fnames = [
            name
            for name, field in records._fields.items()
            if field.store
            and name not in skip
            and field.type not in ("one2many", "many2many", "binary", "html")
        ]
        rows = []
        for record in records:
            row = {}
            for name in fnames:
                field, value = record._fields[name], record[name]
                if field.type == "many2one":
                    value = value.display_name or None
                elif field.type in ("date", "datetime"):
                    value = field.to_string(value) if value else None
                elif value is False and field.type != "boolean":
                    value = None
                row[name] = value
            rows.append(row)
        return rows

    def action_pulse_export_profile(self):
        """Right of access: a JSON file of the customer's whole profile."""
        self.ensure_one()
        if not self.env.user.has_group("customer_pulse.group_pulse_manager"):
            raise UserError(self.env._("Only a Customer Pulse manager exports a profile."))
        partner = self.commercial_partner_id
        data = json.dumps(self._pulse_profile_export(), indent=2, ensure_ascii=False, default=str)
        # a download for this manager only, not an attachment on the customer that everyone
        # who sees the customer could open
        export = self.env["pulse.profile.export"]._create_for(partner, data)
        partner.message_post(
            body=self.env._("Profile exported on request by %(user)s.", user=self.env.user.name)
        )
        return export._download_action()

    def action_pulse_erase_profile(self):
        """Right to be forgotten: every recorded value loses its content and the survey
        answers their lines; the rows stay (counts and who-did-what keep adding up). Also
        gone: earlier exports, answers waiting for a customer that carry their email, the
        decision notes and SMS texts logged in their chatter, and the mailing contacts
        their segments made. From then on they object to profiling."""
        if not self.env.user.has_group("customer_pulse.group_pulse_manager"):
            raise UserError(self.env._("Only a Customer Pulse manager erases a profile."))
        for partner in self.commercial_partner_id:
            # sudo (here and below): erasure reaches every company, department and record
            # the customer left, whoever may read them
            values = (
                self.env["pulse.attribute.value"]
                .sudo()
                .search([("partner_id", "=", partner.id), ("erased", "=", False)])
            )
            values._pulse_erase()
            # sudo: the emails of every contact of the customer, archived ones too
            emails = set(
                self.env["res.partner"]
                .sudo()
                .with_context(active_test=False)
                .search([("id", "child_of", partner.id)])
                .mapped("email_normalized")
            ) - {False}
            answers, removed = self.env["survey.user_input"]._pulse_erase_customer(partner, emails)
            partner._pulse_erase_exports()
            partner._pulse_erase_sms()
            contacts = partner._pulse_erase_mailing_contacts(emails)
            partner.write({"pulse_profiling_consent": False, "pulse_profiling_objection": True})
            partner.message_post(
                body=self.env._(
                    "Profile erased on request by %(user)s: %(values)s values and "
                    "%(answers)s survey answers emptied, %(waiting)s unconfirmed answers and "
                    "%(contacts)s mailing contacts removed.",
                    user=self.env.user.name,
                    values=len(values),
                    answers=len(answers),
                    waiting=removed,
                    contacts=contacts,
                )
            )
        return True

    def _pulse_erase_exports(self):
        """Earlier exports of the customer's profile, every manager's (and the attachments
        earlier versions put on the customer)."""
        self.ensure_one()
        # sudo: every manager's exports of the customer go, and the files earlier
        # versions attached
        self.env["pulse.profile.export"].sudo().search([("partner_id", "=", self.id)]).unlink()
        self.env["ir.attachment"].sudo().search(
            [
                ("res_model", "=", "res.partner"),
                ("res_id", "=", self.id),
                ("name", "=like", f"profile-{self.id}%.json"),
            ]
        ).unlink()

    def _pulse_erase_sms(self):
        """The texts rules sent the customer, as logged in the chatter and in the SMS
        queue: bodies emptied, the traces of the sending stay."""
        self.ensure_one()
        # sudo: the texts rules sent the customer, in every company
        runs = (
            self.env["pulse.step.run"]
            .sudo()
            .search(
                [
                    ("partner_id", "=", self.id),
                    ("action", "=", "sms"),
                    ("res_model", "in", ("mail.message", "sms.sms")),
                ]
            )
        )
        # sudo: the chatter notes of those texts, whoever may read them
        messages = (
            self.env["mail.message"]
            .sudo()
            .browse([run.res_id for run in runs if run.res_model == "mail.message" and run.res_id])
            .exists()
        )
        sms_ids = [run.res_id for run in runs if run.res_model == "sms.sms" and run.res_id]
        # sudo: the texts in the SMS queue (administrators' records)
        texts = (
            self.env["sms.sms"]
            .sudo()
            .search(["|", ("id", "in", sms_ids), ("mail_message_id", "in", messages.ids)])
        )
        messages |= texts.mail_message_id
        messages.write({"body": ""})
        texts.write({"body": ""})

    def _pulse_erase_mailing_contacts(self, emails):
        """Mailing contacts with the customer's emails that segments' list syncs made: a
        contact subscribed to segments' lists only goes; one also on other lists loses its
        segments' subscriptions. Returns the number of contacts removed."""
        self.ensure_one()
        if not emails:
            return 0
        # sudo: the lists of every segment, archived or another company's
        segment_lists = (
            self.env["pulse.segment"]
            .sudo()
            .with_context(active_test=False)
            .search([("mailing_list_id", "!=", False)])
            .mailing_list_id
        )
        # sudo: every mailing contact the segments made with the customer's emails
        contacts = (
            self.env["mailing.contact"]
            .sudo()
            .with_context(active_test=False)
            .search(
                [("email_normalized", "in", list(emails)), ("list_ids", "in", segment_lists.ids)]
            )
        )
        made = contacts.filtered(
            lambda c: c.subscription_ids and c.subscription_ids.list_id <= segment_lists
        )
        (contacts - made).subscription_ids.filtered(lambda s: s.list_id in segment_lists).unlink()
        made.unlink()
        return len(made)

    # ------------------------------------------------------------ follow-up templates
    def _pulse_followup_company(self):
        """The company a follow-up message is sent from (templates: its name, email)."""
        return self.env.company

    def _pulse_followup_invoices(self):
        """The invoices a follow-up message lists: those the reminder chose (context), or,
        when a template is previewed, the open overdue undisputed invoices of the customer
        in the active company."""
        self.ensure_one()
        ids = self.env.context.get("pulse_followup_invoice_ids")
        if isinstance(ids, Mapping):  # reminders rendered together: {customer: invoices}
            ids = ids.get(self.id, ())
        # sudo: a reminder lists the company's invoices of this customer
        Move = self.env["account.move"].sudo()
        if ids is not None:
            return Move.browse(ids).sorted(lambda m: (m.invoice_date_due, m.id))
        return Move.search(
            [
                ("commercial_partner_id", "=", self.commercial_partner_id.id),
                ("company_id", "=", self.env.company.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("amount_residual", ">", 0),
                ("pulse_disputed", "=", False),
                ("invoice_date_due", "<", fields.Date.context_today(self)),
            ],
            order="invoice_date_due, id",
        )

    def _pulse_followup_total(self):
        """What the listed invoices leave to pay, per currency ("1,200.00 € + $ 80.00")."""
        invoices = self._pulse_followup_invoices()
        lang = self.lang or self.env.lang
        return " + ".join(
            format_amount(self.env, sum(moves.mapped("amount_residual")), currency, lang)
            for currency, moves in invoices.grouped("currency_id").items()
        )

    def _pulse_followup_table(self):
        """The listed invoices as an HTML table (number, date, due date, left to pay)."""
        invoices = self._pulse_followup_invoices()
        lang = self.lang or self.env.lang
        today = fields.Date.context_today(self)
        cell = "padding: 4px 8px; border-bottom: 1px solid #ddd;"
        head = Markup(
            "<tr><th style='{s}'>{}</th><th style='{s}'>{}</th><th style='{s}'>{}</th>"
            "<th style='{s} text-align: right;'>{}</th></tr>"
        ).format(
            self.env._("Invoice"),
            self.env._("Date"),
            self.env._("Due date"),
            self.env._("Left to pay"),
            s=cell,
        )
        rows = Markup("").join(
            Markup(
                "<tr><td style='{s}'>{}</td><td style='{s}'>{}</td><td style='{s}'>{}{}</td>"
                "<td style='{s} text-align: right;'>{}</td></tr>"
            ).format(
                move.name,
                format_date(self.env, move.invoice_date, lang_code=lang),
                format_date(self.env, move.invoice_date_due, lang_code=lang),
                " " + self.env._("(%(days)s days late)", days=(today - move.invoice_date_due).days)
                if move.invoice_date_due < today
                else "",
                format_amount(self.env, move.amount_residual, move.currency_id, lang),
                s=cell,
            )
            for move in invoices
        )
        total = Markup(
            "<tr><td colspan='3' style='{s} font-weight: bold;'>{}</td>"
            "<td style='{s} text-align: right; font-weight: bold;'>{}</td></tr>"
        ).format(self.env._("Total"), self._pulse_followup_total(), s=cell)
        return Markup(
            "<table style='border-collapse: collapse; margin: 12px 0;'>{}{}{}</table>"
        ).format(head, rows, total)

    def action_pulse_followup(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "pulse.followup",
            "res_id": self.pulse_followup_id.id,
            "view_mode": "form",
        }
