import base64
import json
from datetime import date, timedelta

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged, users

from .common import PulseCase, PulseFactsCase


class ProfilingCase(PulseCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ref = cls.env.ref
        cls.Value = cls.env["pulse.attribute.value"]
        cls.sales = ref("customer_pulse.department_sales")
        cls.after_sales = ref("customer_pulse.department_after_sales")
        cls.finance = ref("customer_pulse.department_finance")
        cls.grade = ref("customer_pulse.attribute_grade")
        cls.grade_a = ref("customer_pulse.option_grade_a")
        cls.grade_c = ref("customer_pulse.option_grade_c")
        cls.business = ref("customer_pulse.dimension_business")
        cls.salesman = cls.make_user("prof_sales", "user")
        cls.technician = cls.make_user("prof_after_sales", "user")
        cls.accountant = cls.make_user("prof_finance", "accountant")
        cls.sales.user_ids = [Command.link(cls.salesman.id)]
        cls.after_sales.user_ids = [Command.link(cls.technician.id)]
        cls.finance.user_ids = [Command.link(cls.accountant.id)]
        cls.company_customer = cls.env["res.partner"].create(
            {"name": "Profiled Ltd", "is_company": True, "email": "buyer@profiled.example"}
        )

    def assess(self, user, option, when, attribute=None, partner=None, **vals):
        with freeze_time(when):
            return self.Value.with_user(user).create(
                {
                    "partner_id": (partner or self.company_customer).id,
                    "attribute_id": (attribute or self.grade).id,
                    "option_id": option.id,
                    **vals,
                }
            )

    def effective(self, attribute=None, partner=None):
        return self.Value.search(
            [
                ("partner_id", "=", (partner or self.company_customer).id),
                ("attribute_id", "=", (attribute or self.grade).id),
                ("is_effective", "=", True),
            ]
        )


@tagged("post_install", "-at_install")
class TestSurveyMapping(ProfilingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Attribute = cls.env["pulse.attribute"]
        dim = cls.business
        cls.a_sel = Attribute.create(
            {
                "name": "Sector",
                "dimension_id": dim.id,
                "value_type": "selection",
                "option_ids": [
                    Command.create({"name": "Retail"}),
                    Command.create({"name": "Health"}),
                ],
            }
        )
        cls.a_multi = Attribute.create(
            {
                "name": "Ranges",
                "dimension_id": dim.id,
                "value_type": "multi",
                "option_ids": [
                    Command.create({"name": "Chairs"}),
                    Command.create({"name": "Desks"}),
                    Command.create({"name": "Lamps"}),
                ],
            }
        )
        cls.a_num = Attribute.create(
            {"name": "Staff", "dimension_id": dim.id, "value_type": "number"}
        )
        cls.a_date = Attribute.create(
            {"name": "Renewal", "dimension_id": dim.id, "value_type": "date"}
        )
        cls.a_bool = Attribute.create(
            {"name": "Has a fleet", "dimension_id": dim.id, "value_type": "boolean"}
        )
        cls.a_text = Attribute.create(
            {"name": "Wishes", "dimension_id": dim.id, "value_type": "text"}
        )
        cls.survey = cls.make_survey(
            [
                ("Your sector?", "simple_choice", None, ["Retail", "Health"]),
                ("Which ranges?", "multiple_choice", None, ["Chairs", "Desks", "Lamps"]),
                ("How many staff?", "numerical_box", cls.a_num, None),
                ("Contract renewal?", "date", cls.a_date, None),
                ("Do you run a fleet?", "char_box", cls.a_bool, None),
                ("Any wish?", "text_box", cls.a_text, None),
            ],
        )
        q_sector, q_ranges = cls.survey.question_ids[:2]
        wizard = cls.env["pulse.survey.mapping"].create({"survey_id": cls.survey.id})
        for line in wizard.line_ids:
            if line.question_id == q_sector:
                line.attribute_id = cls.a_sel
            elif line.question_id == q_ranges:
                line.attribute_id = cls.a_multi
        wizard.action_apply()

    def test_wizard_maps_answers_to_options(self):
        q_sector, q_ranges = self.survey.question_ids[:2]
        self.assertEqual(q_sector.pulse_attribute_id, self.a_sel)
        self.assertEqual(
            q_sector.suggested_answer_ids.pulse_option_id.mapped("name"), ["Retail", "Health"]
        )
        self.assertEqual(len(q_ranges.suggested_answer_ids.pulse_option_id), 3)
        self.assertEqual(self.survey.pulse_mapped_count, 6)

    def test_wizard_creates_attribute_with_options(self):
        survey = self.make_survey([("Favourite colour?", "simple_choice", None, ["Blue", "Green"])])
        wizard = self.env["pulse.survey.mapping"].create({"survey_id": survey.id})
        wizard.line_ids.create_attribute = True
        wizard.action_apply()
        attribute = survey.question_ids.pulse_attribute_id
        self.assertEqual(attribute.value_type, "selection")
        self.assertEqual(attribute.key, "favourite_colour")
        self.assertEqual(attribute.option_ids.mapped("name"), ["Blue", "Green"])

    def test_completion_records_each_type(self):
        user_input = self.answer(
            self.survey,
            {
                "Your sector?": "Health",
                "Which ranges?": ["Chairs", "Lamps"],
                "How many staff?": "42",
                "Contract renewal?": "2027-03-01",
                "Do you run a fleet?": "yes",
                "Any wish?": "Faster delivery",
            },
            partner=self.company_customer,
        )
        self.assertEqual(user_input.pulse_profile_state, "done")
        values = {v.attribute_id: v for v in user_input.pulse_value_ids}
        self.assertEqual(len(values), 6)
        self.assertEqual(values[self.a_sel].option_id.name, "Health")
        self.assertEqual(values[self.a_multi].value_display, "Chairs, Lamps")
        self.assertEqual(values[self.a_num].value_number, 42)
        self.assertEqual(values[self.a_date].value_date, date(2027, 3, 1))
        self.assertTrue(values[self.a_bool].value_bool)
        self.assertEqual(values[self.a_text].value_char, "Faster delivery")
        for value in values.values():
            self.assertEqual(value.partner_id, self.company_customer)
            self.assertEqual(value.source, "survey")
            self.assertTrue(value.is_effective)
            self.assertEqual(value.parse_state, "ok")
        self.assertEqual(self.company_customer.pulse_profile_ids, user_input.pulse_value_ids)

    def test_contact_answer_goes_to_company(self):
        contact = self.env["res.partner"].create(
            {"name": "Buyer", "parent_id": self.company_customer.id}
        )
        user_input = self.answer(self.survey, {"Any wish?": "More lamps"}, partner=contact)
        self.assertEqual(user_input.pulse_value_ids.partner_id, self.company_customer)

    def test_answer_that_does_not_fit_is_kept_unparsed(self):
        user_input = self.answer(
            self.survey, {"Do you run a fleet?": "maybe, ask Bob"}, partner=self.company_customer
        )
        self.assertEqual(user_input.state, "done")  # the submission went through
        value = user_input.pulse_value_ids
        self.assertEqual(value.parse_state, "unparsed")
        self.assertEqual(value.raw, "maybe, ask Bob")
        self.assertIn("neither yes nor no", value.warning)
        self.assertFalse(value.is_effective)
        self.assertIn("did not fit", user_input.pulse_profile_note)

    def test_removed_option_keeps_history_and_marks_new_answers(self):
        first = self.answer(self.survey, {"Your sector?": "Retail"}, partner=self.company_customer)
        retail = self.a_sel.option_ids.filtered(lambda o: o.name == "Retail")
        retail.unlink()
        self.assertEqual(first.pulse_value_ids.value_display, "Retail")  # readable
        second = self.answer(self.survey, {"Your sector?": "Retail"}, partner=self.company_customer)
        self.assertEqual(second.pulse_value_ids.parse_state, "unparsed")
        self.assertIn("no longer exists", second.pulse_value_ids.warning)

    def test_wrong_type_mapping_refused(self):
        question = self.survey.question_ids.filtered(lambda q: q.title == "How many staff?")
        with self.assertRaises(ValidationError):
            question.pulse_attribute_id = self.a_sel
        with self.assertRaises(ValidationError):
            self.a_num.value_type = "date"  # its mapped numerical question would no longer fit
        option = self.a_multi.option_ids[:1]
        q_sector = self.survey.question_ids[0]
        with self.assertRaises(ValidationError):
            q_sector.suggested_answer_ids[:1].pulse_option_id = option

    def test_attribute_with_history_is_archived_not_deleted(self):
        self.answer(self.survey, {"Any wish?": "Nothing"}, partner=self.company_customer)
        with self.assertRaises(UserError):
            self.a_text.unlink()
        self.a_text.active = False
        value = self.Value.search([("attribute_id", "=", self.a_text.id)])
        self.assertEqual(value.attribute_id.name, "Wishes")

    def test_match_by_email_and_unmatched_queue(self):
        # a typed email only suggests the customer: a person confirms it (the attack is
        # played in test_profile_trust)
        by_email = self.answer(
            self.survey, {"Any wish?": "By email"}, email="BUYER@profiled.example"
        )
        self.assertEqual(by_email.pulse_profile_state, "unmatched")
        self.assertEqual(by_email.pulse_partner_id, self.company_customer)
        self.assertFalse(by_email.pulse_value_ids)
        by_email.action_pulse_apply()
        self.assertEqual(by_email.pulse_value_ids.partner_id, self.company_customer)
        stranger = self.answer(
            self.survey, {"Any wish?": "Who am I"}, email="nobody@nowhere.example"
        )
        self.assertEqual(stranger.pulse_profile_state, "unmatched")
        self.assertFalse(stranger.pulse_value_ids)
        queue = self.env["survey.user_input"].search([("pulse_profile_state", "=", "unmatched")])
        self.assertIn(stranger, queue)
        with self.assertRaises(UserError):
            stranger.action_pulse_apply()  # no customer chosen yet
        stranger.pulse_partner_id = self.company_customer
        stranger.action_pulse_apply()
        self.assertEqual(stranger.pulse_profile_state, "done")
        self.assertEqual(stranger.pulse_value_ids.value_char, "Who am I")
        with self.assertRaises(UserError):
            stranger.action_pulse_apply()  # not twice

    def test_test_entries_fill_no_profile(self):
        user_input = self.answer(
            self.survey, {"Any wish?": "Testing"}, partner=self.company_customer, test_entry=True
        )
        self.assertFalse(user_input.pulse_profile_state)
        self.assertFalse(user_input.pulse_value_ids)

    def test_ambiguous_email_waits(self):
        self.env["res.partner"].create(
            {"name": "Other Co", "is_company": True, "email": "buyer@profiled.example"}
        )
        user_input = self.answer(self.survey, {"Any wish?": "x"}, email="buyer@profiled.example")
        self.assertEqual(user_input.pulse_profile_state, "unmatched")

    def test_interview_opens_profile_surveys_only(self):
        """Attack: a salesperson (no survey rights) starts an 'interview' on a certification
        or a recruitment survey to get a participation and its access token."""
        Survey = self.env["survey.survey"]
        wish = self.survey.question_ids.filtered(lambda q: q.title == "Any wish?")
        self.assertTrue(wish.pulse_attribute_id)
        unmapped = Survey.create(
            {
                "title": "Recruitment",
                "question_and_page_ids": [
                    Command.create({"title": "Why us?", "question_type": "char_box"})
                ],
            }
        )
        certification = Survey.create(
            {
                "title": "Certification",
                "certification": True,
                "scoring_type": "scoring_with_answers",
                "question_and_page_ids": [
                    Command.create(
                        {
                            "title": "Wish",
                            "question_type": "char_box",
                            "pulse_attribute_id": wish.pulse_attribute_id.id,
                        }
                    )
                ],
            }
        )
        Wizard = self.env["pulse.survey.interview"].with_user(self.salesman)
        for survey in (unmapped, certification):
            wizard = Wizard.create({"partner_id": self.company_customer.id, "survey_id": survey.id})
            with self.assertRaises(UserError):
                wizard.action_start()
        self.assertFalse(
            self.env["survey.user_input"].search(
                [("survey_id", "in", (unmapped | certification).ids)]
            ),
            "no participation was opened",
        )

    def test_interview_counts_for_the_interviewer(self):
        wizard = (
            self.env["pulse.survey.interview"]
            .with_user(self.salesman)
            .create({"partner_id": self.company_customer.id, "survey_id": self.survey.id})
        )
        action = wizard.action_start()
        self.assertIn("/survey/start/", action["url"])
        user_input = self.env["survey.user_input"].search(
            [("pulse_interviewer_id", "=", self.salesman.id)]
        )
        self.assertEqual(user_input.pulse_partner_id, self.company_customer)
        user_input._save_lines(
            self.survey.question_ids.filtered(lambda q: q.title == "Any wish?"), "Call me"
        )
        user_input._mark_done()
        value = user_input.pulse_value_ids
        self.assertEqual(value.partner_id, self.company_customer)
        self.assertEqual(value.user_id, self.salesman)
        self.assertEqual(value.department_id, self.sales)
        work = self.env["pulse.survey.work"].search([("user_input_id", "=", user_input.id)])
        self.assertEqual(
            (work.user_id, work.department_id, work.kind), (self.salesman, self.sales, "interview")
        )
        self.assertEqual(work.value_count, 1)
        groups = self.env["pulse.survey.work"]._read_group(
            [("kind", "=", "interview")], ["user_id"], ["__count"]
        )
        self.assertIn((self.salesman, 1), groups)

    def test_processing_failure_never_breaks_submission(self):
        user_input = self.survey._create_answer(partner=self.company_customer, check_attempts=False)
        user_input._save_lines(
            self.survey.question_ids.filtered(lambda q: q.title == "Any wish?"), "Boom"
        )
        # a broken profile (e.g. a bug) fails this participation's profile only
        original = type(user_input)._pulse_record_profile

        def broken(_self):
            raise RuntimeError("profile store unavailable")

        type(user_input)._pulse_record_profile = broken
        try:
            user_input._mark_done()
        finally:
            type(user_input)._pulse_record_profile = original
        self.assertEqual(user_input.state, "done")
        self.assertEqual(user_input.pulse_profile_state, "error")
        self.assertIn("unavailable", user_input.pulse_profile_note)
        user_input.action_pulse_apply()  # a person retries it
        self.assertEqual(user_input.pulse_profile_state, "done")


@tagged("post_install", "-at_install")
class TestEffectiveValues(ProfilingCase):
    def test_history_and_current_per_department(self):
        first = self.assess(self.salesman, self.grade_c, "2026-01-01")
        second = self.assess(self.salesman, self.grade_a, "2026-02-01")
        self.assertFalse(first.is_current)
        self.assertTrue(second.is_current)
        history = self.Value.search(
            [("partner_id", "=", self.company_customer.id), ("attribute_id", "=", self.grade.id)]
        )
        self.assertEqual(history, first | second)
        self.assertEqual(second.department_id, self.sales)

    def test_latest_policy(self):
        self.grade.policy = "latest"
        self.assess(self.salesman, self.grade_a, "2026-01-01")
        late = self.assess(self.technician, self.grade_c, "2026-02-01")
        self.assertEqual(self.effective(), late)
        self.assertEqual(late.effective_reason, "Latest assessment")

    def test_priority_policy(self):
        # shipped: sales first, then after-sales
        self.assertEqual(self.grade.policy, "priority")
        sales = self.assess(self.salesman, self.grade_a, "2026-01-01")
        self.assess(self.technician, self.grade_c, "2026-02-01")
        self.assertEqual(self.effective(), sales)
        self.assertIn("Sales comes first", sales.effective_reason)
        # reorder: after-sales first
        self.grade.priority_ids.filtered(lambda p: p.department_id == self.after_sales).sequence = 1
        self.assertEqual(self.effective().department_id, self.after_sales)

    def test_manual_policy_and_resolution(self):
        self.grade.policy = "manual"
        self.assess(self.salesman, self.grade_a, "2026-01-01")
        tech = self.assess(self.technician, self.grade_c, "2026-02-01")
        self.assertEqual(self.effective(), tech)
        self.assertIn("until a manager decides", tech.effective_reason)
        conflict = self.env["pulse.attribute.conflict"].search(
            [("partner_id", "=", self.company_customer.id)]
        )
        self.assertEqual(len(conflict), 1)
        self.assertIn(
            f"Sales: A: high potential ({self.salesman.name}, 2026-01-01)", conflict.summary
        )
        self.assertIn(
            f"After-sales: C: low potential ({self.technician.name}, 2026-02-01)", conflict.summary
        )
        sales_value = conflict.current_value_ids.filtered(lambda v: v.department_id == self.sales)
        with freeze_time("2026-03-01"):
            self.env["pulse.conflict.resolve"].with_user(self.pulse_manager).create(
                {
                    "partner_id": self.company_customer.id,
                    "attribute_id": self.grade.id,
                    "value_id": sales_value.id,
                    "reason": "Signed a 3-year framework",
                }
            ).action_resolve()
        decision = self.effective()
        self.assertTrue(decision.is_resolution)
        self.assertEqual(decision.option_id, self.grade_a)
        self.assertEqual(decision.user_id, self.pulse_manager)
        self.assertIn("Signed a 3-year framework", decision.effective_reason)
        self.assertFalse(
            self.env["pulse.attribute.conflict"].search(
                [("partner_id", "=", self.company_customer.id)]
            )
        )
        # under "set by a manager" the decision holds even after a newer assessment
        self.assess(self.technician, self.grade_c, "2026-04-01")
        self.assertEqual(self.effective(), decision)

    def test_resolution_holds_until_next_assessment(self):
        self.grade.policy = "latest"
        self.assess(self.salesman, self.grade_a, "2026-01-01")
        self.assess(self.technician, self.grade_c, "2026-02-01")
        conflict = self.env["pulse.attribute.conflict"].search(
            [("partner_id", "=", self.company_customer.id)]
        )
        with freeze_time("2026-03-01"):
            self.env["pulse.conflict.resolve"].create(
                {
                    "partner_id": self.company_customer.id,
                    "attribute_id": self.grade.id,
                    "value_id": conflict.current_value_ids.filtered(
                        lambda v: v.department_id == self.sales
                    ).id,
                    "reason": "Checked with the buyer",
                }
            ).action_resolve()
        self.assertTrue(self.effective().is_resolution)
        newer = self.assess(self.technician, self.grade_c, "2026-04-01")
        self.assertEqual(self.effective(), newer)
        # the disagreement is back for a manager to look at
        self.assertTrue(
            self.env["pulse.attribute.conflict"].search(
                [("partner_id", "=", self.company_customer.id)]
            )
        )

    def test_agreeing_departments_are_no_conflict(self):
        self.assess(self.salesman, self.grade_a, "2026-01-01")
        self.assess(self.technician, self.grade_a, "2026-02-01")
        self.assertFalse(
            self.env["pulse.attribute.conflict"].search(
                [("partner_id", "=", self.company_customer.id)]
            )
        )

    def test_policy_change_recomputes(self):
        self.grade.policy = "latest"
        self.assess(self.salesman, self.grade_a, "2026-01-01")
        self.assess(self.technician, self.grade_c, "2026-02-01")
        self.assertEqual(self.effective().department_id, self.after_sales)
        self.grade.policy = "priority"
        self.assertEqual(self.effective().department_id, self.sales)

    def test_history_is_not_edited(self):
        value = self.assess(self.salesman, self.grade_a, "2026-01-01")
        with self.assertRaises(UserError):
            value.with_user(self.salesman).option_id = self.grade_c
        value.with_user(self.salesman).note = "Met them at the fair"  # notes are fine
        self.assertEqual(value.option_id, self.grade_a)

    def test_import_gives_values_as_text(self):
        value = self.Value.create(
            {
                "partner_id": self.company_customer.id,
                "attribute_id": self.grade.id,
                "raw": "B: steady",
                "source": "import",
            }
        )
        self.assertEqual(value.option_id.key, "b")
        employees = self.env.ref("customer_pulse.attribute_employees")
        value = self.Value.create(
            {
                "partner_id": self.company_customer.id,
                "attribute_id": employees.id,
                "raw": "1 200",
                "source": "import",
            }
        )
        self.assertEqual(value.value_number, 1200)
        with self.assertRaisesRegex(ValidationError, "not a number"):
            self.Value.create(
                {
                    "partner_id": self.company_customer.id,
                    "attribute_id": employees.id,
                    "raw": "many",
                    "source": "import",
                }
            )

    def test_manual_value_needs_a_value(self):
        with self.assertRaises(ValidationError):
            self.Value.create(
                {"partner_id": self.company_customer.id, "attribute_id": self.grade.id}
            )

    def test_resolving_is_for_managers(self):
        value = self.assess(self.salesman, self.grade_a, "2026-01-01")
        with self.assertRaises(AccessError):
            self.env["pulse.conflict.resolve"].with_user(self.salesman).create(
                {
                    "partner_id": self.company_customer.id,
                    "attribute_id": self.grade.id,
                    "value_id": value.id,
                    "reason": "mine",
                }
            )


@tagged("post_install", "-at_install")
class TestProfilePrivacy(ProfilingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.finance_note = cls.env.ref("customer_pulse.attribute_finance_note")
        cls.note_value = cls.Value.with_user(cls.accountant).create(
            {
                "partner_id": cls.company_customer.id,
                "attribute_id": cls.finance_note.id,
                "value_char": "Asked for 60-day terms twice",
            }
        )
        cls.shared_value = cls.Value.with_user(cls.salesman).create(
            {
                "partner_id": cls.company_customer.id,
                "attribute_id": cls.grade.id,
                "option_id": cls.grade_a.id,
            }
        )

    def visible(self):
        return self.env["pulse.attribute.value"].search(
            [("partner_id", "=", self.company_customer.id)]
        )

    @users("prof_finance")
    def test_department_member_sees_private_value(self):
        self.assertEqual(self.visible(), self.note_value | self.shared_value)

    @users("prof_sales", "prof_after_sales", "pulse_manager")
    def test_other_departments_do_not(self):
        self.assertEqual(self.visible(), self.shared_value)
        with self.assertRaises(AccessError):
            self.env["pulse.attribute.value"].browse(self.note_value.id).value_display  # noqa: B018
        partner = self.env["res.partner"].browse(self.company_customer.id)
        self.assertNotIn(self.note_value.id, partner.pulse_profile_ids.ids)

    @users("plain_user", "portal_user")
    def test_no_pulse_group_no_profile(self):
        with self.assertRaises(AccessError):
            self.env["pulse.attribute.value"].search([])

    def test_private_value_kept_out_of_other_company(self):
        other = self.env["res.company"].create({"name": "Pulse Other Co"})
        user = self.make_user("other_co_sales", "user", companies=other)
        self.finance.user_ids = [Command.link(user.id)]
        seen = (
            self.env["pulse.attribute.value"]
            .with_user(user)
            .search([("partner_id", "=", self.company_customer.id)])
        )
        self.assertFalse(seen)

    def test_private_attribute_recorded_by_its_department_only(self):
        self.assertEqual(self.note_value.sudo().private_department_id, self.finance)
        with self.assertRaises(UserError):
            self.Value.with_user(self.salesman).create(
                {
                    "partner_id": self.company_customer.id,
                    "attribute_id": self.finance_note.id,
                    "value_char": "Heard they are struggling",
                }
            )

    def test_visibility_change_applies_to_history(self):
        self.grade.write({"visibility": "private", "department_id": self.after_sales.id})
        self.assertEqual(self.shared_value.sudo().private_department_id, self.after_sales)
        self.assertFalse(
            self.Value.with_user(self.salesman).search([("id", "=", self.shared_value.id)])
        )

    @users("prof_sales")
    def test_salesperson_records_assessment(self):
        value = self.env["pulse.attribute.value"].create(
            {
                "partner_id": self.company_customer.id,
                "attribute_id": self.grade.id,
                "option_id": self.grade_c.id,
            }
        )
        self.assertEqual(value.department_id, self.sales)
        self.assertEqual(value.user_id, self.env.user)


@tagged("post_install", "-at_install")
class TestConsentAndErasure(ProfilingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ref = cls.env.ref
        cls.founding = ref("customer_pulse.attribute_founding_date")
        cls.consent = ref("customer_pulse.attribute_profiling_consent")
        cls.survey = cls.make_survey(
            [
                ("May we keep what you tell us?", "char_box", cls.consent, None),
                ("When was your company founded?", "date", cls.founding, None),
            ],
        )

    def test_personal_data_needs_consent(self):
        self.assertTrue(self.founding.personal_data)
        user_input = self.answer(
            self.survey,
            {"When was your company founded?": "1999-05-01"},
            partner=self.company_customer,
        )
        self.assertFalse(user_input.pulse_value_ids)
        self.assertIn("no consent", user_input.pulse_profile_note)
        with self.assertRaises(ValidationError):
            self.Value.create(
                {
                    "partner_id": self.company_customer.id,
                    "attribute_id": self.founding.id,
                    "value_date": "1999-05-01",
                }
            )

    def test_consent_given_in_the_survey_counts(self):
        user_input = self.answer(
            self.survey,
            {
                "May we keep what you tell us?": "yes",
                "When was your company founded?": "1999-05-01",
            },
            partner=self.company_customer,
        )
        self.assertTrue(self.company_customer.pulse_profiling_consent)
        self.assertTrue(self.company_customer.pulse_consent_date)
        founded = user_input.pulse_value_ids.filtered(lambda v: v.attribute_id == self.founding)
        self.assertEqual(founded.value_date, date(1999, 5, 1))

    def test_personal_survey_needs_consent(self):
        self.survey.pulse_personal_data = True
        text = self.env["pulse.attribute"].create(
            {"name": "Hobby", "dimension_id": self.business.id, "value_type": "text"}
        )
        survey = self.make_survey(
            [("Your hobby?", "text_box", text, None)], pulse_personal_data=True
        )
        self.assertFalse(
            self.answer(
                survey, {"Your hobby?": "Golf"}, partner=self.company_customer
            ).pulse_value_ids
        )
        self.company_customer.pulse_profiling_consent = True
        self.assertTrue(
            self.answer(
                survey, {"Your hobby?": "Golf"}, partner=self.company_customer
            ).pulse_value_ids
        )

    def test_export_and_erase(self):
        self.company_customer.pulse_profiling_consent = True
        user_input = self.answer(
            self.survey,
            {"When was your company founded?": "1999-05-01"},
            partner=self.company_customer,
        )
        grade = self.assess(self.salesman, self.grade_a, "2026-01-01")
        partner = self.company_customer.with_user(self.pulse_manager)
        action = partner.action_pulse_export_profile()
        export = self.env["pulse.profile.export"].browse(int(action["url"].split("/")[4]))
        exported = json.loads(base64.b64decode(export.data))
        self.assertEqual({v["attribute"] for v in exported["values"]}, {"founding_date", "grade"})
        self.assertEqual(exported["survey_answers"][0]["answers"][0]["answer"], "1999-05-01")
        with self.assertRaises(UserError):
            self.company_customer.with_user(self.salesman).action_pulse_export_profile()
        with self.assertRaises(UserError):
            self.company_customer.with_user(self.salesman).action_pulse_erase_profile()

        before = self.Value.search_count([("partner_id", "=", self.company_customer.id)])
        partner.action_pulse_erase_profile()
        values = self.Value.search([("partner_id", "=", self.company_customer.id)])
        self.assertEqual(len(values), before)  # history counts unchanged
        self.assertTrue(all(values.mapped("erased")))
        self.assertFalse(values.filtered("is_effective"))
        self.assertFalse(grade.option_id)
        self.assertFalse(user_input.user_input_line_ids)
        self.assertFalse(self.company_customer.pulse_profiling_consent)
        self.assertEqual(self.company_customer.pulse_profile_completeness, 0)
        # the work analysis still counts the participation
        self.assertTrue(
            self.env["pulse.survey.work"].search([("user_input_id", "=", user_input.id)])
        )
        # from now on nothing is recorded, not even from a survey or purchases
        self.assertTrue(self.company_customer.pulse_profiling_objection)
        with self.assertRaises(ValidationError):
            self.assess(self.salesman, self.grade_a, "2026-02-01")
        again = self.answer(
            self.survey,
            {"When was your company founded?": "1999-05-01"},
            partner=self.company_customer,
        )
        self.assertFalse(again.pulse_value_ids)
        self.assertIn("objects to profiling", again.pulse_profile_note)
        # consenting again does not lift it: a manager does, with a reason
        self.company_customer.pulse_profiling_consent = True
        self.assertTrue(self.company_customer.pulse_profiling_objection)
        self.env["pulse.objection.lift"].with_user(self.pulse_manager).create(
            {"partner_id": self.company_customer.id, "reason": "Asked to be profiled again"}
        ).action_lift()
        self.assertFalse(self.company_customer.pulse_profiling_objection)


@tagged("post_install", "-at_install")
class TestProfileSearch(ProfilingCase):
    def test_segment_on_profile(self):
        self.assess(self.salesman, self.grade_a, "2026-01-01")
        other = self.env["res.partner"].create({"name": "Grade C Co", "is_company": True})
        self.assess(self.salesman, self.grade_c, "2026-01-01", partner=other)
        domain = [
            (
                "pulse_profile_ids",
                "any",
                [("attribute_id.key", "=", "grade"), ("option_id.key", "=", "a")],
            )
        ]
        found = self.env["res.partner"].search(domain)
        self.assertIn(self.company_customer, found)
        self.assertNotIn(other, found)
        segment = self.env["pulse.segment"].create(
            {"name": "Grade A", "domain": repr(domain), "company_id": self.env.company.id}
        )
        segment._refresh_members()
        self.assertIn(self.company_customer, segment.member_ids.partner_id)
        self.assertNotIn(other, segment.member_ids.partner_id)

    def test_completeness(self):
        self.assertEqual(self.company_customer.pulse_profile_completeness, 0)
        self.assess(self.salesman, self.grade_a, "2026-01-01")
        self.company_customer.invalidate_recordset(["pulse_profile_completeness"])
        visible = self.env["pulse.attribute"].search_count([("visibility", "=", "shared")])
        self.assertEqual(self.company_customer.pulse_profile_completeness, round(100 / visible))


@tagged("post_install", "-at_install")
class TestPurchaseAttributes(PulseFactsCase):
    def value(self, partner, key):
        return self.env["pulse.attribute.value"].search(
            [
                ("partner_id", "=", partner.id),
                ("attribute_id.key", "=", key),
                ("is_effective", "=", True),
            ]
        )

    def refresh(self):
        self.Facts._refresh_all(derived=False)
        return self.env["pulse.attribute.value"]._refresh_purchase_attributes()

    def test_habits_from_history(self):
        monday = self.env["res.partner"].create({"name": "Monday Buyer", "is_company": True})
        # every 4 weeks on a Monday, in winter and spring
        start = date(2026, 1, 5)
        for i in range(5):
            day = start + timedelta(days=28 * i)
            order = self.make_order(monday, day, price=100.0)
            invoice = self.make_invoice(order, day)
            # paid 20 days after the due date
            self.pay(invoice, day + timedelta(days=20))
        small = self.env["res.partner"].create({"name": "Small Buyer", "is_company": True})
        big = self.env["res.partner"].create({"name": "Big Buyer", "is_company": True})
        self.make_order(small, date(2026, 2, 3), price=10.0)
        self.make_order(big, date(2026, 2, 4), price=10000.0)
        with freeze_time("2026-06-01"):
            written = self.refresh()
            self.assertEqual(self.value(monday, "rhythm_band").option_id.key, "monthly")
            self.assertEqual(self.value(monday, "preferred_weekday").value_display, "Monday")
            self.assertEqual(self.value(monday, "payment_behaviour").option_id.key, "late")
            self.assertEqual(
                self.value(monday, "favourite_categories").value_char, "Pulse test goods"
            )
            self.assertEqual(self.value(small, "basket_band").option_id.key, "small")
            self.assertEqual(self.value(big, "basket_band").option_id.key, "large")
            self.assertEqual(self.value(monday, "basket_band").option_id.key, "medium")
            self.assertFalse(self.value(small, "rhythm_band"))  # one order: no rhythm
            self.assertEqual(self.value(monday, "rhythm_band").source, "purchase")
            self.assertTrue(written)
            # nothing changed: nothing written, history stays one row per attribute
            self.assertEqual(self.refresh(), 0)
        # a huge order changes the basket: a new value, the old one kept as history
        self.make_order(monday, date(2026, 6, 8), price=100000.0)
        with freeze_time("2026-06-10"):
            self.refresh()
            basket = self.env["pulse.attribute.value"].search(
                [("partner_id", "=", monday.id), ("attribute_id.key", "=", "basket_band")]
            )
            self.assertEqual(len(basket), 2)
            self.assertEqual(self.value(monday, "basket_band").option_id.key, "large")
            self.assertEqual(basket.filtered("is_current"), self.value(monday, "basket_band"))

    def test_queue_brings_the_changed_customers_habits(self):
        """A customer whose orders change has their purchase habits within minutes (the
        queue's refresh), not the next night; the others keep theirs."""
        buyer = self.env["res.partner"].create({"name": "Regular", "is_company": True})
        other = self.env["res.partner"].create({"name": "Other", "is_company": True})
        with freeze_time("2026-06-01"):
            for day in ("2026-05-01", "2026-05-15", "2026-05-29"):
                self.make_order(buyer, day)
            self.make_order(other, "2026-05-02")
            self.refresh()
            self.assertEqual(self.value(buyer, "rhythm_band").option_id.key, "monthly")
            others = self.env["pulse.attribute.value"].search([("partner_id", "=", other.id)])
            for day in ("2026-05-30", "2026-05-31"):
                self.make_order(buyer, day)
            self.Facts._refresh_queue()
        self.assertEqual(self.value(buyer, "rhythm_band").option_id.key, "weekly")
        self.assertEqual(
            self.env["pulse.attribute.value"].search([("partner_id", "=", other.id)]), others
        )

    def test_on_time_and_very_late_payers(self):
        prompt = self.env["res.partner"].create({"name": "Prompt", "is_company": True})
        slow = self.env["res.partner"].create({"name": "Slow", "is_company": True})
        for partner, delay in ((prompt, 0), (slow, 45)):
            order = self.make_order(partner, date(2026, 3, 2))
            invoice = self.make_invoice(order, date(2026, 3, 2))
            self.pay(invoice, date(2026, 3, 2) + timedelta(days=delay))
        unpaid = self.env["res.partner"].create({"name": "Unpaid", "is_company": True})
        self.make_invoice(self.make_order(unpaid, date(2026, 3, 2)), date(2026, 3, 2))
        with freeze_time("2026-06-01"):
            # the nightly facts refresh leaves profiles to their own cron
            self.Facts._refresh_all(profile=False)
            self.assertFalse(self.value(prompt, "payment_behaviour"))
            self.env.ref("customer_pulse.ir_cron_pulse_purchase_attributes").method_direct_trigger()
        self.assertEqual(self.value(prompt, "payment_behaviour").option_id.key, "on_time")
        self.assertEqual(self.value(slow, "payment_behaviour").option_id.key, "very_late")
        self.assertEqual(self.value(unpaid, "payment_behaviour").option_id.key, "very_late")

    def test_objection_stops_purchase_attributes(self):
        objector = self.env["res.partner"].create(
            {"name": "Objector", "is_company": True, "pulse_profiling_objection": True}
        )
        buyer = self.env["res.partner"].create({"name": "Buyer", "is_company": True})
        for partner in (objector, buyer):
            self.make_order(partner, date(2026, 3, 2))
        with freeze_time("2026-06-01"):
            self.refresh()
        self.assertTrue(self.value(buyer, "basket_band"))
        self.assertFalse(
            self.env["pulse.attribute.value"].search([("partner_id", "=", objector.id)])
        )

    def test_derived_attribute_is_not_entered_by_hand(self):
        with self.assertRaises(ValidationError):
            self.env["pulse.attribute.value"].create(
                {
                    "partner_id": self.customer.id,
                    "attribute_id": self.env.ref("customer_pulse.attribute_rhythm_band").id,
                    "option_id": self.env.ref("customer_pulse.option_rhythm_band_weekly").id,
                }
            )
