from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from ..tools.analyze import analyze_if_large
from ..tools.params import param_key, setting
from ..tools.schema import create_missing_indexes
from .pulse_facts_engine import MAX_ROLL_DAYS

SOURCES = [
    ("survey", "Survey"),
    ("manual", "Manual"),
    ("purchase", "Purchases"),
    ("import", "Import"),
    ("rule", "Rule"),
]
TYPED_FIELDS = ("value_char", "value_number", "value_date", "value_bool", "option_id", "option_ids")
# set by a manager's act only (a decision, an erasure, a value kept to one department)
MANAGER_FIELDS = ("is_resolution", "erased", "private_department_id")
# what a person may still change on a recorded value: the rest is history
EDITABLE_FIELDS = {"note"}
INT_MAX = 2147483647

# Purchase habits (derived attributes): their thresholds
FAVOURITE_CATEGORIES = 3  # the customer's first categories, as the facts rank them
# average days between orders, at most -> rhythm; beyond the last: RHYTHM_RARE
RHYTHM_BANDS = (("weekly", 10), ("monthly", 45), ("quarterly", 120), ("yearly", 400))
RHYTHM_RARE = "rare"
BASKET_BANDS = ("small", "medium", "large")  # thirds of the company's average baskets
# a weekday or season is preferred when it holds this share of the orders, and there are
# at least so many orders
PREFERRED_SHARE = 0.4
PREFERRED_WEEKDAY_MIN_ORDERS = 3
PREFERRED_SEASON_MIN_ORDERS = 4
SEASON_MONTHS = (("winter", (12, 1, 2)), ("spring", (3, 4, 5)), ("summer", (6, 7, 8)))
SEASON_OTHER = "autumn"
# average days paid after the due date, at most -> behaviour; beyond: PAYMENT_VERY_LATE
PAYMENT_BANDS = (("on_time", 3), ("late", 30))
PAYMENT_VERY_LATE = "very_late"
PAYMENT_WINDOW = relativedelta(years=1)  # invoices due in the last year


def _band_case(expr, bands, otherwise):
    """CASE expression: the key of the first (key, limit) band with expr <= limit."""
    whens = SQL(" ").join(SQL("WHEN %s <= %s THEN %s", expr, limit, key) for key, limit in bands)
    return SQL("(CASE %s ELSE %s END)", whens, otherwise)


def _season_case(month):
    """CASE expression: the season of a month number."""
    whens = SQL(" ").join(
        SQL("WHEN %s IN %s THEN %s", month, months, key) for key, months in SEASON_MONTHS
    )
    return SQL("(CASE %s ELSE %s END)", whens, SEASON_OTHER)


class PulseAttributeValue(models.Model):
    """One assessment of one customer attribute: who said what, when, from where. Rows are
    history and never edited; the newest row of a department is its current value, and one
    row per customer and attribute is the effective value (chosen by the attribute's
    policy)."""

    _name = "pulse.attribute.value"
    _description = "Customer attribute value"
    _order = "date desc, id desc"
    _rec_name = "value_display"
    _check_company_auto = True

    partner_id = fields.Many2one(
        "res.partner",
        "Customer",
        required=True,
        ondelete="cascade",  # searched through pulse_attribute_value_key_idx
        domain=[("is_company", "=", True)],
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    attribute_id = fields.Many2one(
        "pulse.attribute", required=True, index=True, ondelete="restrict"
    )
    dimension_id = fields.Many2one(related="attribute_id.dimension_id", store=True)
    value_type = fields.Selection(related="attribute_id.value_type")
    value_char = fields.Char("Text")
    value_number = fields.Float("Number")
    value_date = fields.Date("Date value")
    value_bool = fields.Boolean("Yes / no")
    option_id = fields.Many2one(
        "pulse.attribute.option",
        "Option",
        ondelete="set null",
        domain="[('attribute_id', '=', attribute_id)]",
    )
    option_ids = fields.Many2many(
        "pulse.attribute.option",
        "pulse_attribute_value_option_rel",
        "value_id",
        "option_id",
        string="Options",
        domain="[('attribute_id', '=', attribute_id)]",
    )
    value_display = fields.Char(
        "Value", readonly=True, help="The value as recorded (kept when an option is removed)."
    )
    value_key = fields.Char(readonly=True, help="Normalised value: equal keys agree.")
    raw = fields.Char("Answer as given", readonly=True)
    parse_state = fields.Selection(
        [("ok", "Recorded"), ("unparsed", "Did not fit")],
        "Parsing",
        default="ok",
        required=True,
        readonly=True,
    )
    warning = fields.Char(readonly=True)
    source = fields.Selection(SOURCES, required=True, default="manual")
    department_id = fields.Many2one("pulse.department", index="btree_not_null", ondelete="restrict")
    user_id = fields.Many2one("res.users", "Recorded by", default=lambda self: self.env.user)
    date = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    user_input_id = fields.Many2one(
        "survey.user_input", "Survey answer", ondelete="set null", index="btree_not_null"
    )
    survey_id = fields.Many2one(related="user_input_id.survey_id", string="Survey")
    note = fields.Text()
    is_current = fields.Boolean(
        "Current",
        readonly=True,
        default=False,
        help="The newest value of its department (or source).",
    )
    is_effective = fields.Boolean(
        "Effective",
        readonly=True,
        default=False,
        index=True,
        help="The value that counts for the customer.",
    )
    is_resolution = fields.Boolean(
        "Manager's decision",
        readonly=True,
        default=False,
        help="Set by a manager resolving a conflict.",
    )
    private_department_id = fields.Many2one(
        "pulse.department",
        "Private to",
        readonly=True,
        index="btree_not_null",
        ondelete="restrict",
        help="Only the members of this department see this value.",
    )
    erased = fields.Boolean(readonly=True, default=False, help="Erased at the customer's request.")
    resolution_message_id = fields.Many2one(
        "mail.message",
        "Decision note",
        readonly=True,
        ondelete="set null",
        help="The chatter note a manager's decision posted on the customer (emptied on erasure).",
    )
    age_days = fields.Integer("Age (days)", compute="_compute_age_days")
    effective_reason = fields.Char("Why this value", compute="_compute_effective_reason")

    def init(self):
        # the effective value per customer and attribute; indexes of earlier versions are
        # dropped by migrations/18.0.1.1.0/pre-40-profiles.py
        create_missing_indexes(
            self.env.cr,
            {
                "pulse_attribute_value_key_idx": "ON pulse_attribute_value"
                " (partner_id, attribute_id, company_id)",
                # the current purchase habits, which their refresh compares with the fresh
                # ones: read from the index alone, not among every customer's history rows
                "pulse_attribute_value_purchase_idx": "ON pulse_attribute_value"
                " (partner_id, attribute_id, company_id) INCLUDE (id, value_key)"
                " WHERE is_current AND source = 'purchase'",
            },
        )

    # ------------------------------------------------------------------ computes
    @api.depends("value_display", "department_id")
    def _compute_display_name(self):
        for value in self:
            text = value.value_display or ""
            value.display_name = (
                f"{text} ({value.department_id.name})" if value.department_id else text
            )

    def _compute_age_days(self):
        now = fields.Datetime.now()
        for value in self:
            value.age_days = (now - value.date).days if value.date else 0

    @api.depends("is_effective", "is_resolution", "attribute_id.policy", "department_id", "source")
    def _compute_effective_reason(self):
        for value in self:
            policy = value.attribute_id.policy
            if not value.is_effective:
                value.effective_reason = False
            elif value.is_resolution:
                value.effective_reason = self.env._(
                    "Decided by %(user)s: %(reason)s",
                    user=value.user_id.name or "",
                    reason=value.note or "",
                )
            elif value.source == "purchase":
                value.effective_reason = self.env._("From purchases, kept up to date as they buy")
            elif policy == "priority" and value.department_id:
                value.effective_reason = self.env._(
                    "%(department)s comes first in the priority order",
                    department=value.department_id.name,
                )
            elif policy == "manual":
                value.effective_reason = self.env._("Latest assessment, until a manager decides")
            else:
                value.effective_reason = self.env._("Latest assessment")

    # ------------------------------------------------------------------ create
    @api.model
    def _display_and_key(self, attribute, vals):
        """(text shown, normalised key) of typed values vals for attribute."""
        kind = attribute.value_type
        if kind == "selection":
            option = self.env["pulse.attribute.option"].browse(vals.get("option_id"))
            return option.name, option.key
        if kind == "multi":
            ids = []
            for command in vals.get("option_ids") or []:
                if command[0] == fields.Command.SET:
                    ids = list(command[2])
                elif command[0] == fields.Command.LINK:
                    ids.append(command[1])
            options = (
                self.env["pulse.attribute.option"].browse(ids).sorted(lambda o: (o.sequence, o.id))
            )
            return ", ".join(options.mapped("name")), "|".join(sorted(options.mapped("key")))
        if kind == "number":
            number = vals.get("value_number")
            if number is None or number is False:
                return False, False
            text = f"{number:g}"
            return text, text
        if kind == "boolean":
            flag = bool(vals.get("value_bool"))
            return (self.env._("Yes") if flag else self.env._("No")), ("1" if flag else "0")
        if kind == "date":
            day = vals.get("value_date")
            text = fields.Date.to_string(fields.Date.to_date(day)) if day else False
            return text, text
        text = (vals.get("value_char") or "").strip()
        return text or False, " ".join(text.lower().split()) or False

    @api.model_create_multi
    def create(self, vals_list):
        partners = self.env["res.partner"]
        attributes = self.env["pulse.attribute"]
        user_departments = self.env.user.pulse_department_ids
        is_manager = self._pulse_is_manager()
        for vals in vals_list:
            partner = partners.browse(vals.get("partner_id")).commercial_partner_id
            if partner:
                vals["partner_id"] = partner.id
            attribute = attributes.browse(vals["attribute_id"])
            vals.setdefault("source", "manual")
            if not is_manager:
                self._check_manager_fields(attribute, vals)
            if (
                vals["source"] in ("manual", "import")
                and "department_id" not in vals
                and user_departments
            ):
                vals["department_id"] = user_departments[0].id
            if attribute.visibility == "private":
                vals["private_department_id"] = attribute.department_id.id
                if not self.env.su and attribute.department_id not in user_departments:
                    raise UserError(
                        self.env._(
                            "%(attribute)s is private to %(department)s: only its members "
                            "record it.",
                            attribute=attribute.name,
                            department=attribute.department_id.name,
                        )
                    )
            if attribute.derived and vals["source"] != "purchase":
                raise ValidationError(
                    self.env._(
                        "%(attribute)s is maintained from purchases: it is not entered by hand.",
                        attribute=attribute.name,
                    )
                )
            if partner.pulse_profiling_objection and not vals.get("erased"):
                raise ValidationError(
                    self.env._(
                        "%(customer)s objects to profiling: nothing is recorded on their"
                        " profile.",
                        customer=partner.display_name,
                    )
                )
            if (
                attribute.personal_data
                and vals["source"] in ("manual", "import")
                and not partner.pulse_profiling_consent
            ):
                raise ValidationError(
                    self.env._(
                        "%(attribute)s is personal data and %(partner)s has not consented to "
                        "profiling: record their consent first.",
                        attribute=attribute.name,
                        partner=partner.display_name,
                    )
                )
            if (
                vals.get("parse_state", "ok") == "ok"
                and vals.get("raw")
                and not any(vals.get(name) for name in TYPED_FIELDS)
            ):
                # an import (or an API call) gives the value as text: typed like a survey
                # answer, refused with the reason when it does not fit
                try:
                    vals.update(attribute._parse(vals["raw"]))
                except ValueError as error:
                    raise ValidationError(
                        self.env._(
                            "%(attribute)s: %(error)s", attribute=attribute.name, error=error
                        )
                    ) from None
            if vals.get("parse_state", "ok") == "ok":
                display, key = self._display_and_key(attribute, vals)
                if not display and not vals.get("is_resolution"):
                    raise ValidationError(
                        self.env._("Enter a value for %(attribute)s.", attribute=attribute.name)
                    )
                vals["value_display"], vals["value_key"] = display, key
            else:
                vals["value_display"] = vals.get("raw")
        records = super().create(vals_list)
        records._recompute_keys()
        return records

    @api.model
    def _pulse_is_manager(self):
        return self.env.su or self.env.user.has_group("customer_pulse.group_pulse_manager")

    @api.model
    def _check_manager_fields(self, attribute, vals):
        """A decision, an erasure or a value kept private to a department is a manager's
        act: refused from anyone else, whatever the form or the API sends."""
        forbidden = [name for name in ("is_resolution", "erased") if vals.get(name)]
        department = vals.get("private_department_id")
        if department and not (
            attribute.visibility == "private" and department == attribute.department_id.id
        ):
            forbidden.append("private_department_id")
        # an assessment is the author's own, for one of their departments, entered or
        # imported by hand: surveys, purchases and rules record theirs by their own paths
        if vals.get("user_id") and vals["user_id"] != self.env.uid:
            forbidden.append("user_id")
        if (
            vals.get("department_id")
            and vals["department_id"] not in self.env.user.pulse_department_ids.ids
        ):
            forbidden.append("department_id")
        if vals.get("source", "manual") not in ("manual", "import"):
            forbidden.append("source")
        if vals.get("date") and fields.Datetime.to_datetime(vals["date"]) > fields.Datetime.now():
            forbidden.append("date")
        if forbidden:
            raise AccessError(
                self.env._(
                    "Only a Customer Pulse manager records a value with %(fields)s.",
                    fields=", ".join(self._fields[name].string for name in forbidden),
                )
            )

    def write(self, vals):
        # Recorded values are history. Only internal paths running as superuser (the
        # erasure, a manager's decision) write more than the note: no context key or
        # RPC call unlocks it.
        if self.env.su:
            return super().write(vals)
        if set(vals) & set(MANAGER_FIELDS):
            raise AccessError(
                self.env._(
                    "Decisions, erasures and private departments are set by their own "
                    "actions, not edited."
                )
            )
        if set(vals) - EDITABLE_FIELDS:
            raise UserError(
                self.env._(
                    "A recorded value is history and is not edited: record a new assessment "
                    "instead."
                )
            )
        return super().write(vals)

    # ------------------------------------------------------------------ current/effective
    def _recompute_keys(self):
        keys = {(v.partner_id.id, v.attribute_id.id, v.company_id.id) for v in self}
        self._recompute(keys)

    @api.model
    def _keys_sql(self, keys):
        partners, attributes, companies = (
            (list(col) for col in zip(*keys, strict=False)) if keys else ([], [], [])
        )
        return SQL(
            "SELECT * FROM UNNEST(%s::integer[], %s::integer[], %s::integer[])"
            " AS k(partner_id, attribute_id, company_id)",
            partners,
            attributes,
            companies,
        )

    @api.model
    def _recompute(self, keys=None, keys_sql=None):
        """Set is_current (newest per department) and is_effective (per policy) for the
        given (partner, attribute, company) keys, in two set-based statements."""
        if keys is not None:
            if not keys:
                return
            keys_sql = self._keys_sql(keys)
        self.env.flush_all()
        cr = self.env.cr
        cr.execute(
            SQL(
                """
                WITH k AS (%(keys)s), n AS (
                    SELECT v.id,
                           (v.parse_state = 'ok' AND NOT v.is_resolution
                            AND NOT COALESCE(v.erased, false)) AS eligible,
                           ROW_NUMBER() OVER (
                               PARTITION BY v.partner_id, v.attribute_id, v.company_id,
                                            COALESCE(v.department_id, 0),
                                            (v.parse_state = 'ok' AND NOT v.is_resolution
                                             AND NOT COALESCE(v.erased, false))
                               ORDER BY v.date DESC, v.id DESC) AS rn
                      FROM pulse_attribute_value v
                      JOIN k USING (partner_id, attribute_id, company_id)
                )
                UPDATE pulse_attribute_value v SET is_current = (n.eligible AND n.rn = 1)
                  FROM n
                 WHERE v.id = n.id AND v.is_current IS DISTINCT FROM (n.eligible AND n.rn = 1)
                """,
                keys=keys_sql,
            )
        )
        cr.execute(
            SQL(
                """
                WITH k AS (%(keys)s), x AS (
                    SELECT v.id, v.partner_id, v.attribute_id, v.company_id, v.date,
                           v.is_resolution, a.policy,
                           COALESCE(v.is_current, false)
                           OR (v.is_resolution AND NOT COALESCE(v.erased, false)) AS eligible,
                           COALESCE(pr.sequence, %(int_max)s) AS prio,
                           MAX(v.date) FILTER (WHERE v.is_current) OVER (
                               PARTITION BY v.partner_id, v.attribute_id, v.company_id
                           ) AS last_assessed
                      FROM pulse_attribute_value v
                      JOIN k USING (partner_id, attribute_id, company_id)
                      JOIN pulse_attribute a ON a.id = v.attribute_id
                      LEFT JOIN pulse_attribute_priority pr
                             ON pr.attribute_id = v.attribute_id
                            AND pr.department_id = v.department_id
                ), n AS (
                    SELECT id, eligible AND ROW_NUMBER() OVER (
                               PARTITION BY partner_id, attribute_id, company_id, eligible
                               ORDER BY (is_resolution AND (policy = 'manual'
                                         OR last_assessed IS NULL OR date >= last_assessed))
                                        DESC,
                                        is_resolution,
                                        CASE WHEN policy = 'priority' THEN prio ELSE 0 END,
                                        date DESC, id DESC) = 1 AS eff
                      FROM x
                )
                UPDATE pulse_attribute_value v SET is_effective = n.eff
                  FROM n
                 WHERE v.id = n.id AND v.is_effective IS DISTINCT FROM n.eff
                """,
                keys=keys_sql,
                int_max=INT_MAX,
            )
        )
        self.invalidate_model(["is_current", "is_effective"])

    @api.model
    def _recompute_effective(self, attributes):
        """After an attribute's policy or priority order changed."""
        if attributes.ids:
            self._recompute(
                keys_sql=SQL(
                    "SELECT DISTINCT partner_id, attribute_id, company_id"
                    " FROM pulse_attribute_value WHERE attribute_id = ANY(%s)",
                    attributes.ids,
                )
            )

    @api.model
    def _sync_private_department(self, attributes):
        """After an attribute became private (or changed department): the values recorded
        while it was shared become private to its department too. Values recorded while it
        was private keep the department they were stamped with at creation, whatever the
        attribute becomes: opening an attribute never exposes its history."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            UPDATE pulse_attribute_value v
               SET private_department_id = a.department_id
              FROM pulse_attribute a
             WHERE a.id = v.attribute_id AND a.id = ANY(%s)
               AND a.visibility = 'private' AND v.private_department_id IS NULL
            """,
            [attributes.ids],
        )
        self.invalidate_model(["private_department_id"])

    def _pulse_erase(self):
        """Right to erasure: these values lose their content (and the decision notes they
        posted in the chatter theirs); the rows stay, so counts and who-did-what keep
        adding up. Private: reachable from the erasure only, never through RPC."""
        values = self.sudo()  # sudo: write() lets no one but this path rewrite history
        values.resolution_message_id.write({"body": ""})
        values.write(
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
        return values

    # ------------------------------------------------------------------ actions
    def action_history(self):
        """Every value of this customer's attribute, newest first."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "customer_pulse.action_pulse_attribute_value"
        )
        action.update(
            name=self.env._(
                "%(attribute)s of %(partner)s",
                attribute=self.attribute_id.name,
                partner=self.partner_id.display_name,
            ),
            domain=[
                ("partner_id", "=", self.partner_id.id),
                ("attribute_id", "=", self.attribute_id.id),
            ],
            context={"create": False},
        )
        return action

    # ------------------------------------------------------------------ purchases
    @api.model
    def _derived_sources(self, partner_ids=None):
        """SELECT per derived attribute code: (partner_id, company_id, value_key, value_char);
        value_key is an option key for the selection attributes. partner_ids: those
        commercial partners only (None: everyone), read through the source tables' partner
        indexes.

        Categories, rhythm and basket read the customer facts (pulse_partner_stats), the
        basket against the company's stored thirds (_store_basket_thirds). The preferred
        weekday and season read the confirmed orders, and the payment behaviour the
        invoices and their reconciliations: the facts hold no count of orders per weekday or
        season, and no lateness per invoice."""
        today = fields.Date.context_today(self)
        Facts = self.env["pulse.facts.engine"]
        restrict_stats = restrict_orders = SQL("")
        moves = SQL("account_move")
        contacts = None
        if partner_ids is not None:
            ids = list(partner_ids)
            contacts = Facts._contacts_of(ids)
            restrict_stats = SQL("AND s.partner_id = ANY(%s)", ids)
            restrict_orders = SQL("AND so.partner_id = ANY(%s)", contacts[0])
            # these customers' invoices, read through their partner's index (OFFSET 0: not
            # intersected with a year of invoices read through the due date's)
            moves = SQL(
                """(SELECT id, commercial_partner_id, company_id, state, move_type,
                           payment_state, invoice_date_due
                      FROM account_move WHERE commercial_partner_id = ANY(%s)
                       AND state = 'posted' AND move_type IN ('out_invoice', 'out_refund')
                    OFFSET 0)""",
                ids,
            )
        orders = SQL(
            """
            SELECT COALESCE(p.commercial_partner_id, p.id) AS partner_id, so.company_id,
                   EXTRACT(ISODOW FROM so.date_order)::int AS weekday,
                   %(season)s AS season
              FROM sale_order so
              JOIN %(partners)s p ON p.id = so.partner_id
             WHERE so.state = 'sale' %(restrict)s
            """,
            season=_season_case(SQL("EXTRACT(MONTH FROM so.date_order)")),
            partners=Facts._partners_sql(contacts),
            restrict=restrict_orders,
        )

        def preferred(column, minimum):
            # the most frequent value, when there are enough orders and it holds its share
            return SQL(
                """
                SELECT partner_id, company_id, key::text AS value_key, NULL::varchar AS value_char
                  FROM (SELECT partner_id, company_id, %(column)s AS key, COUNT(*) AS n,
                               SUM(COUNT(*)) OVER w AS total,
                               ROW_NUMBER() OVER (w ORDER BY COUNT(*) DESC, %(column)s) AS rn
                          FROM (%(orders)s) o
                         GROUP BY partner_id, company_id, %(column)s
                        WINDOW w AS (PARTITION BY partner_id, company_id)) c
                 WHERE rn = 1 AND total >= %(minimum)s AND n >= %(share)s * total
                """,
                column=SQL.identifier(column),
                orders=orders,
                minimum=minimum,
                share=PREFERRED_SHARE,
            )

        average_basket = SQL("s.order_amount / s.order_count")
        return {
            "favourite_categories": SQL(
                """
                SELECT s.partner_id, s.company_id,
                       ARRAY_TO_STRING(s.categ_ids[1:%(top)s], ',') AS value_key,
                       (SELECT STRING_AGG(c.name, ', ' ORDER BY u.n)
                          FROM UNNEST(s.categ_ids[1:%(top)s]) WITH ORDINALITY u(id, n)
                          JOIN product_category c ON c.id = u.id)::varchar AS value_char
                  FROM pulse_partner_stats s
                 WHERE CARDINALITY(s.categ_ids) > 0 %(restrict)s
                """,
                top=FAVOURITE_CATEGORIES,
                restrict=restrict_stats,
            ),
            "rhythm_band": SQL(
                """
                SELECT s.partner_id, s.company_id, %(band)s AS value_key,
                       NULL::varchar AS value_char
                  FROM pulse_partner_stats s
                 WHERE s.avg_days_between_orders IS NOT NULL %(restrict)s
                """,
                band=_band_case(SQL("s.avg_days_between_orders"), RHYTHM_BANDS, RHYTHM_RARE),
                restrict=restrict_stats,
            ),
            "basket_band": SQL(
                """
                SELECT s.partner_id, s.company_id,
                       CASE WHEN %(basket)s <= t.basket[1] THEN %(small)s
                            WHEN %(basket)s <= t.basket[2] THEN %(medium)s
                            ELSE %(large)s END AS value_key, NULL::varchar AS value_char
                  FROM pulse_partner_stats s JOIN pulse_rfm_threshold t USING (company_id)
                 WHERE s.order_count > 0 AND t.basket IS NOT NULL %(restrict)s
                """,
                basket=average_basket,
                small=BASKET_BANDS[0],
                medium=BASKET_BANDS[1],
                large=BASKET_BANDS[2],
                restrict=restrict_stats,
            ),
            "payment_behaviour": SQL(
                """
                SELECT partner_id, company_id, %(band)s AS value_key,
                       NULL::varchar AS value_char
                  FROM (
                    SELECT m.commercial_partner_id AS partner_id, m.company_id,
                           GREATEST(0, CASE WHEN m.payment_state IN ('paid', 'in_payment')
                                            THEN COALESCE(pd.paid, m.invoice_date_due)
                                            ELSE %(today)s END - m.invoice_date_due) AS late
                      FROM %(moves)s m
                      LEFT JOIN LATERAL (
                          SELECT MAX(apr.max_date) AS paid
                            FROM account_move_line l
                            JOIN account_partial_reconcile apr ON apr.debit_move_id = l.id
                           WHERE l.move_id = m.id AND l.display_type = 'payment_term'
                      ) pd ON m.payment_state IN ('paid', 'in_payment')
                     WHERE m.state = 'posted' AND m.move_type = 'out_invoice'
                       AND m.payment_state IN ('paid', 'in_payment', 'not_paid', 'partial')
                       AND m.invoice_date_due >= %(since)s AND m.invoice_date_due < %(today)s
                       AND m.commercial_partner_id IS NOT NULL
                  ) i
                 GROUP BY partner_id, company_id
                """,
                band=_band_case(SQL("AVG(late)"), PAYMENT_BANDS, PAYMENT_VERY_LATE),
                today=today,
                since=today - PAYMENT_WINDOW,
                moves=moves,
            ),
            "preferred_weekday": preferred("weekday", PREFERRED_WEEKDAY_MIN_ORDERS),
            "preferred_season": preferred("season", PREFERRED_SEASON_MIN_ORDERS),
        }

    @api.model
    def _store_basket_thirds(self):
        """Store each company's thirds of the customers' average baskets (the basket band's
        boundaries) computed from the facts; returns them as {company id: [first, second]}
        (the companies without a customer who ordered keep none)."""
        self.env["pulse.partner.stats"].flush_model(["order_amount", "order_count"])
        self.env["pulse.facts.engine"]._ensure_thresholds()
        rows = self.env.execute_query(
            SQL(
                """
                WITH t AS (
                    SELECT s.company_id, PERCENTILE_CONT(ARRAY[1 / 3.0, 2 / 3.0])
                               WITHIN GROUP (ORDER BY s.order_amount / s.order_count) AS q
                      FROM pulse_partner_stats s WHERE s.order_count > 0 GROUP BY s.company_id
                )
                UPDATE pulse_rfm_threshold th SET basket = t.q
                  FROM t WHERE th.company_id = t.company_id
                RETURNING th.company_id, th.basket
                """
            )
        )
        self.env["pulse.rfm.threshold"].invalidate_model()
        return dict(rows)

    @api.model
    def _basket_thirds(self):
        """The stored basket thirds by company id."""
        self.env["pulse.rfm.threshold"].flush_model()
        return dict(
            self.env.execute_query(
                SQL("SELECT company_id, basket FROM pulse_rfm_threshold WHERE basket IS NOT NULL")
            )
        )

    @api.model
    def _cron_refresh_purchase_attributes(self):
        """Nightly, after the facts: what the date changes in the purchase habits."""
        written = self._refresh_purchase_attributes_nightly()
        self.env["ir.cron"]._notify_progress(done=written, remaining=0)

    @api.model
    def _set_purchase_attributes_date(self, day):
        """Record the day the purchase habits stand at (False: unknown, the next nightly run
        recomputes everyone's)."""
        # sudo: the engine's bookkeeping, in a system parameter
        self.env["ir.config_parameter"].sudo().set_param(
            param_key("purchase_attributes_date"), day and fields.Date.to_string(day)
        )

    @api.model
    def _forget_purchase_attributes_date(self):
        """After a full refresh of the facts: the next nightly run of the purchase habits
        recomputes everyone's."""
        self._set_purchase_attributes_date(False)

    @api.model
    def _refresh_purchase_attributes_nightly(self):
        """Bring the purchase habits to today. The queue keeps those of the customers whose
        documents change up to date during the day (pulse.facts.engine._refresh_queue);
        what the date alone changes is redone here: the basket band of the customers whose
        average basket lies between a company's former and new thirds, and the payment
        behaviour of those with an invoice that fell due or left the year it looks at, or
        still open (its lateness grows each day). Everyone's when the day they stand at is
        unknown or more than MAX_ROLL_DAYS back. Returns the number of values recorded."""
        today = fields.Date.context_today(self)
        last = fields.Date.to_date(setting(self.env, "purchase_attributes_date") or None)
        if not last or not 0 <= (today - last).days <= MAX_ROLL_DAYS:
            return self._refresh_purchase_attributes()
        before = self._basket_thirds()
        after = self._store_basket_thirds()
        written = self._refresh_purchase_attributes(
            self._basket_moved(before, after), codes=("basket_band",)
        ) + self._refresh_purchase_attributes(
            self._payment_moved(last, today), codes=("payment_behaviour",)
        )
        self._set_purchase_attributes_date(today)
        return written

    @api.model
    def _basket_moved(self, before, after):
        """The customers whose basket band the move of their company's thirds from `before`
        to `after` ({company id: thirds}) may change: an average basket between a former
        and a new boundary. A company without former thirds: all its customers."""
        conditions = []
        for company_id, new in after.items():
            old = before.get(company_id)
            if not old:
                conditions.append(SQL("s.company_id = %s", company_id))
                continue
            conditions.extend(
                SQL(
                    "(s.company_id = %s AND s.order_amount / s.order_count BETWEEN %s AND %s)",
                    company_id,
                    min(o, n),
                    max(o, n),
                )
                for o, n in zip(old, new, strict=True)
                if o != n
            )
        if not conditions:
            return set()
        rows = self.env.execute_query(
            SQL(
                "SELECT s.partner_id FROM pulse_partner_stats s WHERE s.order_count > 0 AND (%s)",
                SQL(" OR ").join(conditions),
            )
        )
        return {row[0] for row in rows}

    @api.model
    def _payment_moved(self, before, after):
        """The customers whose payment behaviour may change when the day moves from `before`
        to `after`, their invoices unchanged: an invoice fell due or left the year looked
        at, or is still open and due within it (its lateness grows)."""
        rows = self.env.execute_query(
            SQL(
                """
                SELECT m.commercial_partner_id FROM account_move m
                 WHERE m.state = 'posted' AND m.move_type = 'out_invoice'
                   AND m.payment_state IN ('not_paid', 'partial')
                   AND m.invoice_date_due >= %(since)s AND m.invoice_date_due < %(after)s
                   AND m.commercial_partner_id IS NOT NULL
                 UNION
                SELECT m.commercial_partner_id FROM account_move m
                 WHERE m.state = 'posted' AND m.move_type = 'out_invoice'
                   AND m.commercial_partner_id IS NOT NULL
                   AND (m.invoice_date_due >= %(before)s AND m.invoice_date_due < %(after)s
                        OR m.invoice_date_due >= %(since_before)s
                           AND m.invoice_date_due < %(since)s)
                """,
                since=after - PAYMENT_WINDOW,
                since_before=before - PAYMENT_WINDOW,
                before=before,
                after=after,
            )
        )
        return {row[0] for row in rows}

    @api.model
    def _refresh_purchase_attributes(self, partner_ids=None, codes=None):
        """Record the derived attributes whose value changed since the customer's current
        one (set-based: one statement, history kept). partner_ids: those commercial
        partners only (None: everyone, the basket thirds recomputed first); codes: those
        derived attributes only (None: all). Returns the number of values recorded."""
        if partner_ids is not None and not partner_ids:
            return 0
        domain = [("derived", "!=", False)]
        if codes is not None:
            domain.append(("derived", "in", list(codes)))
        attributes = self.env["pulse.attribute"].search(domain)
        if not attributes:
            return 0
        if partner_ids is None or not self._basket_thirds():
            self._store_basket_thirds()
        sources = self._derived_sources(partner_ids)
        parts = [
            SQL(
                "SELECT %s AS attribute_id, src.* FROM (%s) src",
                attribute.id,
                sources[attribute.derived],
            )
            for attribute in attributes
        ]
        self.env.flush_all()
        cr = self.env.cr
        lang = self.env.lang or "en_US"
        # A derived attribute has one source (purchases: no department, no decision, no
        # entry by hand), so its newest value is its current and effective one: the new rows
        # are written so, and only the rows they replace are switched off — no recompute of
        # the flags (which would rewrite every row of a first run a second and third time).
        cr.execute(
            SQL(
                """
                WITH src AS (%(union)s), fresh AS (
                    SELECT src.*, a.dimension_id, o.id AS option_id,
                           COALESCE(src.value_char, o.name->>%(lang)s, o.name->>'en_US')
                               AS value_display
                      FROM src
                      JOIN pulse_attribute a ON a.id = src.attribute_id
                      JOIN res_partner rp ON rp.id = src.partner_id
                                         AND NOT COALESCE(rp.pulse_profiling_objection, false)
                      LEFT JOIN pulse_attribute_option o
                             ON o.attribute_id = src.attribute_id AND o.key = src.value_key
                     WHERE src.value_key IS NOT NULL
                ), cur AS %(cur_materialized)s (
                    SELECT id, partner_id, attribute_id, company_id, value_key
                      FROM pulse_attribute_value
                     WHERE is_current AND source = 'purchase' %(restrict_cur)s
                ), changed AS (
                    SELECT f.*, cur.id AS replaced_id FROM fresh f
                      LEFT JOIN cur
                             ON cur.partner_id = f.partner_id
                            AND cur.attribute_id = f.attribute_id
                            AND cur.company_id = f.company_id
                     WHERE cur.id IS NULL OR cur.value_key IS DISTINCT FROM f.value_key
                ), ins AS (
                    INSERT INTO pulse_attribute_value (
                        partner_id, company_id, attribute_id, dimension_id, value_char,
                        option_id, value_display, value_key, parse_state, source, date,
                        is_current, is_effective, is_resolution, erased,
                        create_uid, create_date, write_uid, write_date)
                    SELECT partner_id, company_id, attribute_id, dimension_id, value_char,
                           option_id, value_display, value_key, 'ok', 'purchase', %(now)s,
                           true, true, false, false, %(uid)s, %(now)s, %(uid)s, %(now)s
                      FROM changed
                    RETURNING id
                ), old AS (
                    UPDATE pulse_attribute_value v
                       SET is_current = false, is_effective = false
                      FROM changed c
                     WHERE v.id = c.replaced_id
                )
                SELECT COUNT(*) FROM ins
                """,
                union=SQL(" UNION ALL ").join(parts),
                # a few customers' current values: read in one scan of the index of current
                # purchase values, not probed one value at a time
                cur_materialized=SQL("MATERIALIZED") if partner_ids is not None else SQL(""),
                restrict_cur=SQL(
                    "AND partner_id = ANY(%s) AND attribute_id = ANY(%s)",
                    list(partner_ids),
                    attributes.ids,
                )
                if partner_ids is not None
                else SQL(""),
                lang=lang,
                now=fields.Datetime.now(),
                uid=self.env.uid,
            )
        )
        count = cr.fetchone()[0]
        self.invalidate_model(["is_current", "is_effective"])
        today = fields.Date.context_today(self)
        last = fields.Date.to_date(setting(self.env, "purchase_attributes_date") or None)
        # the day the habits stand at is the earliest any of them was computed for (a
        # refresh run where it is still yesterday): the nightly run moves them on from there
        if (partner_ids is None and codes is None) or (last and today < last):
            self._set_purchase_attributes_date(today)
        # Fresh statistics for the next run's probe of the current values after a large write
        # (a tenth of the table): planned from an empty table's, a re-run right after the
        # first one compared every new value with every row (a nested loop over 440k x 440k
        # at 100k customers). A day's few thousand values leave them as they are.
        analyze_if_large(cr, self._table, count)
        return count
