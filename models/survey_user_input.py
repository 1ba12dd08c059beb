import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import email_normalize

_logger = logging.getLogger(__name__)

PROFILE_STATES = [
    ("none", "No mapped question"),
    ("unmatched", "Waiting for a customer"),
    ("done", "Recorded"),
    ("error", "Failed"),
]
CONSENT_KEY = "profiling_consent"
# who may vouch for a participation's customer: staff, through their own actions only
STAFF_FIELDS = ("pulse_interviewer_id", "pulse_match_confirmed_by")
# characters kept of a failure's message on a participation and of an answer as given
NOTE_MAX_CHARS = 250
RAW_MAX_CHARS = 250


class SurveyUserInput(models.Model):
    _inherit = "survey.user_input"

    pulse_partner_id = fields.Many2one(
        "res.partner",
        "Customer profiled",
        index="btree_not_null",
        help="The customer whose profile these answers fill: set by an interview, found by "
        "the participant or their email, or chosen by a person for an unmatched answer.",
    )
    pulse_interviewer_id = fields.Many2one(
        "res.users",
        "Interviewer",
        index="btree_not_null",
        help="The staff member who filled the survey on the customer's behalf.",
    )
    pulse_match_confirmed_by = fields.Many2one(
        "res.users",
        "Customer confirmed by",
        readonly=True,
        copy=False,
        help="The staff member who confirmed that these answers are the customer's. A "
        "customer found by the email typed in the survey is a suggestion until then: anyone "
        "can type anyone's email.",
    )
    pulse_company_id = fields.Many2one(
        "res.company",
        "Profile company",
        default=lambda self: self.env.company,
        help="The company whose customer profile these answers fill (and whose Customer Pulse "
        "users see them).",
    )
    pulse_profile_state = fields.Selection(PROFILE_STATES, "Profile", readonly=True, copy=False)
    pulse_profile_note = fields.Char("Profile note", readonly=True, copy=False)
    pulse_value_ids = fields.One2many(
        "pulse.attribute.value", "user_input_id", string="Values recorded"
    )

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su and any(vals.get(name) for vals in vals_list for name in STAFF_FIELDS):
            self._pulse_refuse_staff_fields()
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and set(vals) & set(STAFF_FIELDS):
            self._pulse_refuse_staff_fields()
        return super().write(vals)

    def _pulse_refuse_staff_fields(self):
        # an interviewer or a confirmed customer makes answers act for a customer: set by
        # the interview and confirmation actions only (as superuser), never through RPC
        raise AccessError(
            self.env._("Interviews and confirmed matches are recorded by their own actions.")
        )

    def _mark_done(self):
        result = super()._mark_done()
        for user_input in self.filtered(lambda ui: not ui.test_entry):
            user_input._pulse_record_profile_safely()
        # rules triggered by a completed survey react now
        # sudo: rules are the marketers'; the participant only wakes the engine
        self.env["pulse.rule.engine"].sudo()._wake_up_for(("survey_done",))
        return result

    def _pulse_record_profile_safely(self):
        """Record the profile; a failure is kept on the participation, never raised into
        the customer's survey submission."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                # sudo: the participant (often public) cannot write profiles; whom the
                # answers may act for is decided by _pulse_match_partner
                self.sudo()._pulse_record_profile()
        except Exception as error:
            _logger.exception("customer profile from survey answer %s failed", self.id)
            # sudo: the failure is kept on the participation, whoever submitted it
            self.sudo().write(
                {"pulse_profile_state": "error", "pulse_profile_note": str(error)[:NOTE_MAX_CHARS]}
            )

    # ------------------------------------------------------------------ matching
    def _pulse_match_partner(self):
        """(customer, trusted) these answers are about. Trusted: the customer a staff member
        chose (an interview, a confirmed match) or the participant Odoo linked to the
        participation (an invitation sent to the customer, a signed-in customer). The only
        customer with the email the participant typed is a suggestion, never trusted: anyone
        can type anyone's email."""
        self.ensure_one()
        if self.pulse_partner_id and (self.pulse_interviewer_id or self.pulse_match_confirmed_by):
            return self.pulse_partner_id.commercial_partner_id, True
        partner = self.partner_id
        if partner and not partner.user_ids.filtered(lambda u: not u.share or u._is_public()):
            return partner.commercial_partner_id, True
        if self.pulse_partner_id:  # chosen in the queue, not confirmed yet
            return self.pulse_partner_id.commercial_partner_id, False
        email = email_normalize(self.email or (partner.email if partner else ""))
        if not email:
            return self.env["res.partner"], False
        matches = (
            self.env["res.partner"]
            .with_context(active_test=True)
            .search([("email_normalized", "=", email)])
            .commercial_partner_id
        )
        # staff are not customers
        matches = matches.filtered(lambda p: not p.user_ids.filtered(lambda u: not u.share))
        return (matches if len(matches) == 1 else self.env["res.partner"]), False

    # ------------------------------------------------------------------ recording
    def _pulse_record_profile(self):
        self.ensure_one()
        lines = self.user_input_line_ids.filtered(
            lambda line: line.question_id.pulse_attribute_id and not line.skipped
        )
        if not lines:
            self.pulse_profile_state = "none"
            return self.env["pulse.attribute.value"]
        partner, trusted = self._pulse_match_partner()
        if not trusted:
            # nothing acts for a customer on a typed email alone: no consent, no value,
            # until a person confirms who answered
            if partner:
                note = self.env._(
                    "%(customer)s has the email %(email)s, but anyone can type an email: "
                    "confirm the customer to record these answers.",
                    customer=partner.display_name,
                    email=self.email or "-",
                )
            else:
                note = self.env._(
                    "No single customer has the email %(email)s: choose the customer.",
                    email=self.email or "-",
                )
            self.write(
                {
                    "pulse_profile_state": "unmatched",
                    "pulse_partner_id": partner.id,
                    "pulse_profile_note": note,
                }
            )
            return self.env["pulse.attribute.value"]
        self.pulse_partner_id = partner
        # consent answered in this survey counts for the rest of it; a withdrawal always
        # counts, but consent never lifts an objection (a manager does, with a reason)
        for question, q_lines in self._pulse_lines_by_question(lines).items():
            if question.pulse_attribute_id.key == CONSENT_KEY:
                _raw, vals, _warning = self._pulse_parse(question, q_lines)
                if "value_bool" in vals and not (
                    vals["value_bool"] and partner.pulse_profiling_objection
                ):
                    partner._pulse_set_consent(vals["value_bool"])
        if partner.pulse_profiling_objection:
            self.write(
                {
                    "pulse_profile_state": "done",
                    "pulse_profile_note": self.env._(
                        "Not recorded: the customer objects to profiling"
                    ),
                }
            )
            return self.env["pulse.attribute.value"]
        interviewer = self.pulse_interviewer_id
        base = {
            "partner_id": partner.id,
            "company_id": (
                self.pulse_company_id or self.pulse_interviewer_id.company_id or self.env.company
            ).id,
            "source": "survey",
            "user_input_id": self.id,
            "user_id": interviewer.id,
            "department_id": interviewer.pulse_department_ids[:1].id,
            "date": self.end_datetime or fields.Datetime.now(),
        }
        by_question = self._pulse_lines_by_question(lines)
        vals_list, dropped, unparsed = [], 0, 0
        for question, q_lines in by_question.items():
            attribute = question.pulse_attribute_id
            if (attribute.personal_data or self.survey_id.pulse_personal_data) and (
                attribute.key != CONSENT_KEY and not partner.pulse_profiling_consent
            ):
                dropped += 1
                continue
            raw, vals, warning = self._pulse_parse(question, q_lines)
            vals = dict(base, attribute_id=attribute.id, raw=(raw or "")[:RAW_MAX_CHARS], **vals)
            if warning:
                unparsed += 1
                vals.update(parse_state="unparsed", warning=warning)
            vals_list.append(vals)
        values = self.env["pulse.attribute.value"].create(vals_list)
        notes = [self.env._("%(count)s values recorded", count=len(values) - unparsed)]
        if unparsed:
            notes.append(self.env._("%(count)s did not fit their attribute", count=unparsed))
        if dropped:
            notes.append(self.env._("%(count)s not kept: no consent to profiling", count=dropped))
        self.write({"pulse_profile_state": "done", "pulse_profile_note": ", ".join(notes)})
        return values

    @api.model
    def _pulse_lines_by_question(self, lines):
        by_question = {}
        for line in lines:
            by_question.setdefault(line.question_id, self.env["survey.user_input.line"])
            by_question[line.question_id] |= line
        return by_question

    @api.model
    def _pulse_parse(self, question, lines):
        """(raw text, typed values, warning) of a question's answer lines for its attribute.
        A warning means the answer did not fit: it is kept as raw text."""
        attribute = question.pulse_attribute_id
        kind = attribute.value_type
        suggestions = lines.filtered(
            lambda line: line.answer_type == "suggestion"
        ).suggested_answer_id
        comments = [
            line.value_char_box
            for line in lines
            if line.answer_type == "char_box" and line.value_char_box
        ]
        try:
            if question.question_type in ("simple_choice", "multiple_choice"):
                raw = ", ".join(suggestions.mapped("value") + comments)
                if kind in ("selection", "multi"):
                    if not suggestions:
                        raise ValueError(self.env._("no option chosen"))
                    options = self.env["pulse.attribute.option"]
                    for answer in suggestions:
                        option = answer.pulse_option_id
                        if not option.active:
                            try:
                                option = attribute._find_option(answer.value)
                            except ValueError:
                                raise ValueError(
                                    self.env._(
                                        "the option for “%(option)s” no longer exists",
                                        option=answer.value,
                                    )
                                ) from None
                        options |= option
                    if kind == "selection":
                        return raw, {"option_id": options[:1].id}, False
                    return raw, {"option_ids": [fields.Command.set(options.ids)]}, False
                return raw, attribute._parse(raw), False
            line = lines[:1]
            value = {
                "numerical_box": line.value_numerical_box,
                "scale": line.value_scale,
                "date": line.value_date,
                "datetime": line.value_datetime,
                "char_box": line.value_char_box,
                "text_box": line.value_text_box,
            }.get(line.answer_type)
            if line.answer_type in ("numerical_box", "scale"):
                raw = f"{value:g}"
                if kind == "number":
                    return raw, {"value_number": float(value)}, False
            elif line.answer_type in ("date", "datetime"):
                raw = fields.Date.to_string(fields.Date.to_date(value)) if value else ""
                if kind == "date" and value:
                    return raw, {"value_date": fields.Date.to_date(value)}, False
            else:
                raw = value or ""
            return raw, attribute._parse(raw), False
        except ValueError as error:
            raw = ", ".join(suggestions.mapped("value") + comments) or " ".join(
                filter(None, (line.display_name for line in lines))
            )
            return raw, {}, str(error)

    # ------------------------------------------------------------------ erasure
    @api.model
    def _pulse_erase_customer(self, partner, emails):
        """Erasure of a customer's survey answers: theirs lose their lines and who typed
        them (the participations stay, the work analysis counts them); those that wait for
        a customer and carry one of their emails (or suggest them) are removed. Returns
        (participations emptied, participations removed)."""
        # sudo: erasure reaches every participation, whoever may read it
        Input = self.sudo()
        waiting = Input.search(
            expression.AND(
                [
                    [("pulse_profile_state", "=", "unmatched")],
                    expression.OR(
                        [[("pulse_partner_id", "=", partner.id)]]
                        + [[("email", "ilike", email)] for email in emails]
                    ),
                ]
            )
        ).filtered(
            lambda ui: ui.pulse_partner_id == partner or email_normalize(ui.email or "") in emails
        )
        removed = len(waiting)
        waiting.unlink()
        answers = Input.search(
            ["|", ("pulse_partner_id", "=", partner.id), ("partner_id", "child_of", partner.id)]
        )
        answers.user_input_line_ids.unlink()
        answers.write({"email": False, "nickname": False})
        return answers, removed

    # ------------------------------------------------------------------ queue
    def _pulse_check_staff(self):
        """Confirming or recording a participation is for Customer Pulse users who may read
        it (the record rules keep them to mapped surveys of their companies)."""
        if not self.env.su and not self.env.user.has_group("customer_pulse.group_pulse_user"):
            raise AccessError(
                self.env._("Only Customer Pulse users record survey answers on a profile.")
            )
        self.check_access("read")

    def _pulse_check_recordable(self):
        for user_input in self:
            if user_input.state != "done":
                raise UserError(self.env._("Only completed participations fill a profile."))
            if user_input.pulse_value_ids:
                raise UserError(
                    self.env._(
                        "These answers are already on %(customer)s's profile.",
                        customer=user_input.pulse_partner_id.display_name,
                    )
                )

    def action_pulse_apply(self):
        """Record the answers of participations a person has matched to a customer: on an
        answer waiting for a customer, it confirms the customer chosen; on a failed one, it
        retries."""
        self._pulse_check_staff()
        self._pulse_check_recordable()
        for user_input in self:
            if user_input.pulse_profile_state == "unmatched":
                if not user_input.pulse_partner_id:
                    raise UserError(
                        self.env._("Choose the customer these answers are about first.")
                    )
                user_input._pulse_confirm_match(user_input.pulse_partner_id)
            else:
                user_input._pulse_record_profile_safely()
        return True

    def action_pulse_confirm_match(self):
        """Open the confirmation of the customer an answer waiting for one is about."""
        self.ensure_one()
        self._pulse_check_staff()
        self._pulse_check_recordable()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Confirm the customer"),
            "res_model": "pulse.survey.match",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_user_input_id": self.id,
                "default_partner_id": self.pulse_partner_id.id,
            },
        }

    def _pulse_confirm_match(self, partner):
        """A staff member vouches that these answers are partner's: recorded as theirs, the
        consent given in the survey included. Private: reached from the confirmation
        actions only, which check who calls them."""
        self.ensure_one()
        self._pulse_check_staff()
        self._pulse_check_recordable()
        partner = partner.commercial_partner_id
        if not partner:
            raise UserError(self.env._("Choose the customer these answers are about first."))
        partner.check_access("read")
        # sudo: Customer Pulse users read participations only; vouching for the customer is
        # theirs to do, and write() refuses it from any other path
        self.sudo().write(
            {"pulse_partner_id": partner.id, "pulse_match_confirmed_by": self.env.uid}
        )
        self._pulse_record_profile_safely()
        return True
