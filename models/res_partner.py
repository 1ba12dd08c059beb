import json

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

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
        "Last payment", compute="_compute_pulse_stats", groups="account.group_account_invoice"
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
        groups="account.group_account_invoice",
    )
    pulse_window_amount = fields.Monetary(
        "Invoiced (RFM window)",
        compute="_compute_pulse_stats",
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

    @api.depends_context("company")
    def _compute_pulse_stats(self):
        company = self.env.company
        commercial = self.commercial_partner_id
        stats = (
            self.env["pulse.partner.stats"]
            .sudo()
            .search([("partner_id", "in", commercial.ids), ("company_id", "=", company.id)])
        )  # sudo: financial columns are hidden by the partner fields' own groups
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
        rows = (
            self.env["pulse.partner.category.stats"]
            .sudo()
            ._search([("id", "in", value), ("company_id", "=", self.env.company.id)])
        )
        return [("commercial_partner_id", operator, rows.subselect("partner_id"))]

    def _search_pulse_categ_array(self, columns, operator, value):
        """Partners whose current-company facts list one of these categories (or one of
        their subcategories with child_of) in one of the array columns."""
        if operator not in ("in", "=", "child_of"):
            return NotImplemented
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
        matches: one SQL subquery, no Python loop."""
        stats = (
            self.env["pulse.partner.stats"]
            .sudo()
            ._search([(fact, operator, value), ("company_id", "=", self.env.company.id)])
        )
        return [("commercial_partner_id", "in", stats.subselect("partner_id"))]

    _search_pulse_last_order_date = _fact_searcher("last_order_date")
    _search_pulse_order_count = _fact_searcher("order_count")
    _search_pulse_first_order_date = _fact_searcher("first_order_date")
    _search_pulse_next_order_date = _fact_searcher("next_order_date")
    _search_pulse_rfm_segment = _fact_searcher("rfm_segment")
    _search_pulse_amount_due = _fact_searcher("amount_due")
    _search_pulse_amount_overdue = _fact_searcher("amount_overdue")

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
        help="Nothing is recorded on this customer's profile, not even from purchases (set "
        "when the profile is erased on request; giving consent again clears it).",
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
        if "pulse_profiling_consent" in vals:
            vals = dict(vals, pulse_consent_date=fields.Datetime.now())
            if vals["pulse_profiling_consent"]:
                vals.setdefault("pulse_profiling_objection", False)
        return super().write(vals)

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
            self.env._("Profile of %s", partner.display_name),
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
        values = (
            self.env["pulse.attribute.value"]
            .sudo()
            .with_context(active_test=False)
            .search([("partner_id", "=", partner.id)], order="date, id")
        )
        answers = (
            self.env["survey.user_input"]
            .sudo()
            .search(["|", ("pulse_partner_id", "=", partner.id), ("partner_id", "=", partner.id)])
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
        }

    def action_pulse_export_profile(self):
        """Right of access: a JSON file of the customer's whole profile."""
        self.ensure_one()
        if not self.env.user.has_group("customer_pulse.group_pulse_manager"):
            raise UserError(self.env._("Only a Customer Pulse manager exports a profile."))
        partner = self.commercial_partner_id
        data = json.dumps(self._pulse_profile_export(), indent=2, ensure_ascii=False)
        attachment = self.env["ir.attachment"].create(
            {
                "name": f"profile-{partner.id}.json",
                "raw": data.encode(),
                "mimetype": "application/json",
                "res_model": "res.partner",
                "res_id": partner.id,
            }
        )
        partner.message_post(
            body=self.env._("Profile exported on request by %s.", self.env.user.name)
        )
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{attachment.id}?download=true",
            "target": "self",
        }

    def action_pulse_erase_profile(self):
        """Right to be forgotten: every recorded value loses its content and the survey
        answers their lines; the rows stay (counts and who-did-what keep adding up)."""
        if not self.env.user.has_group("customer_pulse.group_pulse_manager"):
            raise UserError(self.env._("Only a Customer Pulse manager erases a profile."))
        for partner in self.commercial_partner_id:
            values = (
                self.env["pulse.attribute.value"]
                .sudo()
                .search([("partner_id", "=", partner.id), ("erased", "=", False)])
            )
            values.with_context(pulse_erase=True).write(
                {
                    "value_char": False,
                    "value_number": 0.0,
                    "value_date": False,
                    "value_bool": False,
                    "option_id": False,
                    "option_ids": [fields.Command.clear()],
                    "value_display": self.env._("(erased)"),
                    "value_key": False,
                    "raw": False,
                    "note": False,
                    "warning": False,
                    "erased": True,
                }
            )
            values._recompute_keys()
            answers = (
                self.env["survey.user_input"]
                .sudo()
                .search(
                    ["|", ("pulse_partner_id", "=", partner.id), ("partner_id", "=", partner.id)]
                )
            )
            answers.user_input_line_ids.unlink()
            answers.write({"email": False, "nickname": False})
            partner.write({"pulse_profiling_consent": False, "pulse_profiling_objection": True})
            partner.message_post(
                body=self.env._(
                    "Profile erased on request by %(user)s: %(values)s values and "
                    "%(answers)s survey answers emptied.",
                    user=self.env.user.name,
                    values=len(values),
                    answers=len(answers),
                )
            )
        return True
