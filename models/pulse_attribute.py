import re
from datetime import datetime

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

VALUE_TYPES = [
    ("selection", "Selection"),
    ("multi", "Multiple selection"),
    ("text", "Text"),
    ("number", "Number"),
    ("boolean", "Yes / no"),
    ("date", "Date"),
]

# survey question type -> attribute types its answers can fill
QUESTION_TYPES = {
    "simple_choice": {"selection", "boolean", "text"},
    "multiple_choice": {"multi"},
    "char_box": {"text", "number", "date", "boolean", "selection", "multi"},
    "text_box": {"text"},
    "numerical_box": {"number", "text"},
    "scale": {"number", "text"},
    "date": {"date", "text"},
    "datetime": {"date", "text"},
    "matrix": set(),
}

# attributes maintained from the customer facts (see pulse.attribute.value)
DERIVED = [
    ("favourite_categories", "Favourite categories"),
    ("rhythm_band", "Order rhythm"),
    ("basket_band", "Basket size"),
    ("payment_behaviour", "Payment behaviour"),
    ("preferred_weekday", "Preferred weekday"),
    ("preferred_season", "Preferred season"),
]

TRUE_WORDS = {"yes", "y", "true", "1", "oui", "si", "ja", "x"}
FALSE_WORDS = {"no", "n", "false", "0", "non", "nein", ""}
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%m/%d/%Y", "%Y-%m-%d %H:%M:%S")


class PulseAttribute(models.Model):
    """Something worth knowing about a customer: its type, options, who may see it and how
    its effective value is chosen when departments disagree."""

    _name = "pulse.attribute"
    _description = "Customer attribute"
    _order = "dimension_sequence, sequence, id"

    name = fields.Char("Label", required=True, translate=True)
    key = fields.Char(required=True, help="Technical name (imports, exports, conditions).")
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    description = fields.Text(translate=True)
    dimension_id = fields.Many2one(
        "pulse.attribute.dimension", required=True, ondelete="restrict", index=True
    )
    dimension_sequence = fields.Integer(
        related="dimension_id.sequence", store=True, string="Dimension order"
    )
    value_type = fields.Selection(VALUE_TYPES, "Type", required=True, default="selection")
    option_ids = fields.One2many(
        "pulse.attribute.option",
        "attribute_id",
        string="Options",
        context={"active_test": False},
    )
    visibility = fields.Selection(
        [("shared", "Shared"), ("private", "Private to a department")],
        required=True,
        default="shared",
        help="Values of a private attribute are visible to the members of its department " "only.",
    )
    department_id = fields.Many2one(
        "pulse.department",
        "Owning department",
        ondelete="restrict",
        help="The department a private attribute belongs to.",
    )
    policy = fields.Selection(
        [
            ("latest", "Latest assessment wins"),
            ("priority", "Department priority order"),
            ("manual", "Set by a manager"),
        ],
        "Effective value",
        required=True,
        default="latest",
        help="How the effective value is chosen when departments have assessed the customer "
        "differently. A manager's resolution always wins until a department assesses the "
        "customer again (under 'Set by a manager' it wins for good).",
    )
    priority_ids = fields.One2many(
        "pulse.attribute.priority", "attribute_id", string="Department priority"
    )
    personal_data = fields.Boolean(
        help="Collected only from customers who consented to profiling (surveys, manual "
        "entry, imports)."
    )
    derived = fields.Selection(
        DERIVED,
        "Maintained from purchases",
        readonly=True,
        help="Computed every night from the customer facts: not entered by hand.",
    )
    question_ids = fields.One2many(
        "survey.question", "pulse_attribute_id", string="Survey questions"
    )
    value_count = fields.Integer(compute="_compute_value_count", string="Customers known")

    _sql_constraints = [
        ("key_uniq", "UNIQUE (key)", "Another attribute already has this key."),
    ]

    @api.model
    def _slug(self, text):
        return re.sub(r"[^a-z0-9]+", "_", (text or "").lower()).strip("_")[:60] or "value"

    def _compute_value_count(self):
        groups = self.env["pulse.attribute.value"]._read_group(
            [("attribute_id", "in", self.ids), ("is_effective", "=", True)],
            ["attribute_id"],
            ["__count"],
        )
        counts = {attribute.id: count for attribute, count in groups}
        for attribute in self:
            attribute.value_count = counts.get(attribute.id, 0)

    @api.constrains("visibility", "department_id")
    def _check_visibility(self):
        for attribute in self:
            if attribute.visibility == "private" and not attribute.department_id:
                raise ValidationError(
                    self.env._("A private attribute needs the department that owns it.")
                )

    @api.constrains("value_type")
    def _check_mapped_questions(self):
        # the questions mapped to it must still fit (same check as on the question)
        self.question_ids._check_pulse_attribute()

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get("key") and vals.get("name"):
                vals["key"] = self._slug(vals["name"])
        return super().create(vals_list)

    def write(self, vals):
        if {"visibility", "department_id"} & set(vals):
            self._check_visibility_change(vals)
        if "value_type" in vals:
            # sudo: values of every department count, private ones too (only whether one
            # exists is used)
            used = (
                self.env["pulse.attribute.value"]
                .sudo()
                .search_count([("attribute_id", "in", self.ids)], limit=1)
            )
            if used and any(a.value_type != vals["value_type"] for a in self):
                raise UserError(
                    self.env._(
                        "Values were already recorded with this type: create a new attribute "
                        "instead of changing it."
                    )
                )
        result = super().write(vals)
        if {"policy", "priority_ids"} & set(vals):
            self.env["pulse.attribute.value"]._recompute_effective(attributes=self)
        if {"visibility", "department_id"} & set(vals):
            self.env["pulse.attribute.value"]._sync_private_department(self)
        return result

    def _check_visibility_change(self, vals):
        """Who sees an attribute's values is a manager's decision (a marketer edits the
        rest of the attribute)."""
        if self.env.su or self.env.user.has_group("customer_pulse.group_pulse_manager"):
            return
        changed = self.filtered(
            lambda a: ("visibility" in vals and a.visibility != vals["visibility"])
            or ("department_id" in vals and a.department_id.id != (vals["department_id"] or False))
        )
        if changed:
            raise AccessError(
                self.env._(
                    "Only a Customer Pulse manager changes who sees %(attribute)s.",
                    attribute=changed[0].name,
                )
            )

    @api.ondelete(at_uninstall=False)
    def _unlink_except_used(self):
        # sudo: values of every department count, private ones too (only whether one
        # exists is used)
        if (
            self.env["pulse.attribute.value"]
            .sudo()
            .search_count([("attribute_id", "in", self.ids)], limit=1)
        ):
            raise UserError(
                self.env._(
                    "Customers' history uses this attribute: archive it instead, its history "
                    "stays readable."
                )
            )

    # ------------------------------------------------------------------ parsing
    def _parse(self, raw):
        """Typed column values of pulse.attribute.value for a raw text answer; raises
        ValueError with a readable message when it does not fit the type."""
        self.ensure_one()
        text = ("" if raw is None else str(raw)).strip()
        kind = self.value_type
        if kind == "text":
            if not text:
                raise ValueError(self.env._("empty answer"))
            return {"value_char": text}
        if kind == "number":
            try:
                return {"value_number": float(text.replace(" ", "").replace(",", "."))}
            except ValueError:
                raise ValueError(self.env._("“%(text)s” is not a number", text=text)) from None
        if kind == "boolean":
            word = text.lower()
            if word in TRUE_WORDS:
                return {"value_bool": True}
            if word in FALSE_WORDS:
                return {"value_bool": False}
            raise ValueError(self.env._("“%(text)s” is neither yes nor no", text=text))
        if kind == "date":
            for fmt in DATE_FORMATS:
                try:
                    return {"value_date": datetime.strptime(text, fmt).date()}
                except ValueError:
                    continue
            raise ValueError(self.env._("“%(text)s” is not a date", text=text))
        if kind == "selection":
            return {"option_id": self._find_option(text).id}
        if kind == "multi":
            words = [w.strip() for w in re.split(r"[,;\n]", text) if w.strip()]
            if not words:
                raise ValueError(self.env._("empty answer"))
            return {"option_ids": [fields.Command.set([self._find_option(w).id for w in words])]}
        raise ValueError(self.env._("unknown type %(kind)s", kind=kind))

    def _find_option(self, text):
        word = (text or "").strip().lower()
        for option in self.option_ids.filtered("active"):
            if word in ((option.key or "").lower(), (option.name or "").lower()):
                return option
        raise ValueError(
            self.env._(
                "“%(text)s” is not an option of %(attribute)s", text=text, attribute=self.name
            )
        )

    # ------------------------------------------------------------------ actions
    def action_values(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "customer_pulse.action_pulse_attribute_value"
        )
        action["domain"] = [("attribute_id", "=", self.id)]
        action["context"] = {"search_default_effective": 1}
        return action
