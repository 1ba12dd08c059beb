"""Issue 12, profile side: each test plays an attack on the profile (a public survey acting
for a customer, a salesperson lifting an objection or opening a private attribute, survey
data read out of its scope, manager-only values forged over RPC, an export everyone can
open, an erasure that leaves copies behind) and checks that it fails."""

import base64
import json

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged, users

from .common import PulseFactsCase, PulseHttpCase
from .test_profiling import ProfilingCase


class TrustCase(ProfilingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ref = cls.env.ref
        cls.consent = ref("customer_pulse.attribute_profiling_consent")
        cls.founding = ref("customer_pulse.attribute_founding_date")
        cls.wish = cls.env["pulse.attribute"].create(
            {"name": "Trust wish", "dimension_id": cls.business.id, "value_type": "text"}
        )
        cls.survey = cls.make_survey(
            [
                ("May we keep what you tell us?", "char_box", cls.consent, None),
                ("When was your company founded?", "date", cls.founding, None),
                ("Any wish?", "text_box", cls.wish, None),
            ],
        )
        cls.full_answer = {
            "May we keep what you tell us?": "yes",
            "When was your company founded?": "1999-05-01",
            "Any wish?": "Call me",
        }

    def values(self, partner=None):
        return self.Value.search([("partner_id", "=", (partner or self.company_customer).id)])


@tagged("post_install", "-at_install")
class TestPublicSurveyTrust(TrustCase):
    def test_typed_email_grants_no_consent_and_records_nothing(self):
        """Attack: anyone answers the public survey with a known customer's email and ticks
        consent; it used to grant consent and record personal data on that customer."""
        answer = self.answer(self.survey, self.full_answer, email="buyer@profiled.example")
        self.assertFalse(self.company_customer.pulse_profiling_consent)
        self.assertFalse(self.company_customer.pulse_consent_date)
        self.assertFalse(answer.pulse_value_ids)
        self.assertFalse(self.values())
        # it waits for a person, the customer suggested
        self.assertEqual(answer.pulse_profile_state, "unmatched")
        self.assertEqual(answer.pulse_partner_id, self.company_customer)
        self.assertIn("confirm", answer.pulse_profile_note)
        queue = (
            self.env["survey.user_input"]
            .with_user(self.salesman)
            .search([("pulse_profile_state", "=", "unmatched")])
        )
        self.assertIn(answer, queue)
        self.assertFalse(
            self.env["pulse.survey.work"].search([("user_input_id", "=", answer.id)]).partner_id,
            "a suggestion is nobody's work yet",
        )
        # a salesperson who knows it is theirs confirms: recorded, consent included
        wizard_action = answer.with_user(self.salesman).action_pulse_confirm_match()
        self.assertEqual(wizard_action["res_model"], "pulse.survey.match")
        self.env["pulse.survey.match"].with_user(self.salesman).with_context(
            **wizard_action["context"]
        ).create({}).action_confirm()
        self.assertEqual(answer.pulse_profile_state, "done")
        self.assertEqual(answer.pulse_match_confirmed_by, self.salesman)
        self.assertTrue(self.company_customer.pulse_profiling_consent)
        self.assertEqual(
            set(answer.pulse_value_ids.attribute_id.mapped("key")),
            {"profiling_consent", "founding_date", self.wish.key},
        )

    def test_typed_email_records_no_personal_data_of_consenting_customer(self):
        """Attack: the customer consented earlier; a stranger typing their email writes
        personal data (and a fake wish) onto their profile."""
        self.company_customer.pulse_profiling_consent = True
        answer = self.answer(
            self.survey,
            {"When was your company founded?": "1901-01-01", "Any wish?": "Close my account"},
            email="BUYER@profiled.example",
        )
        self.assertFalse(answer.pulse_value_ids)
        self.assertFalse(self.values())
        self.assertEqual(answer.pulse_profile_state, "unmatched")

    def test_typed_email_does_not_lift_objection(self):
        """Attack: a customer objected to profiling; a public answer with their email and
        consent ticked used to clear the objection."""
        self.company_customer.pulse_profiling_objection = True
        answer = self.answer(self.survey, self.full_answer, email="buyer@profiled.example")
        self.assertTrue(self.company_customer.pulse_profiling_objection)
        self.assertFalse(self.company_customer.pulse_profiling_consent)
        # even confirmed by staff, consent in a survey never lifts an objection
        answer.with_user(self.salesman).action_pulse_apply()
        self.assertTrue(self.company_customer.pulse_profiling_objection)
        self.assertFalse(self.company_customer.pulse_profiling_consent)
        self.assertFalse(self.values())
        self.assertIn("objects to profiling", answer.pulse_profile_note)

    def test_invited_participation_counts_as_matched(self):
        """An invitation links the participation to the customer: recorded at once."""
        invite = self.env["survey.invite"].create(
            {"survey_id": self.survey.id, "partner_ids": [Command.set(self.company_customer.ids)]}
        )
        user_input = invite._prepare_answers(self.company_customer, [])
        self.assertEqual(user_input.partner_id, self.company_customer)
        for question in self.survey.question_ids:
            user_input._save_lines(question, self.full_answer[question.title])
        user_input._mark_done()
        self.assertEqual(user_input.pulse_profile_state, "done")
        self.assertTrue(self.company_customer.pulse_profiling_consent)
        self.assertEqual(len(user_input.pulse_value_ids), 3)

    def test_staff_trust_cannot_be_forged(self):
        """Attack: a survey officer (any employee by default) marks a public answer as an
        interview or as confirmed over RPC, so that it would act for the customer."""
        answer = self.answer(self.survey, self.full_answer, email="buyer@profiled.example")
        officer = self.make_user("trust_survey_officer", "survey.group_survey_user")
        for vals in (
            {"pulse_interviewer_id": officer.id},
            {"pulse_match_confirmed_by": officer.id},
        ):
            with self.assertRaises(AccessError):
                answer.with_user(officer).write(
                    dict(vals, pulse_partner_id=self.company_customer.id)
                )
        # nor confirm it: that is a Customer Pulse user's act
        with self.assertRaises(AccessError):
            answer.with_user(officer).action_pulse_apply()
        self.assertFalse(self.values())


@tagged("post_install", "-at_install")
class TestObjectionLift(TrustCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_customer.pulse_profiling_objection = True

    def test_salesperson_cannot_untick_objection(self):
        """Attack: a salesperson unticks the objection on the form (or ticks consent,
        which used to clear it) and profiles the customer again."""
        partner = self.company_customer.with_user(self.salesman)
        with self.assertRaises(AccessError):
            partner.write({"pulse_profiling_objection": False})
        partner.write({"pulse_profiling_consent": True})
        self.assertTrue(self.company_customer.pulse_profiling_objection)
        with self.assertRaises(AccessError):
            partner.action_pulse_lift_objection()
        with self.assertRaises(AccessError):
            self.env["pulse.objection.lift"].with_user(self.salesman).create(
                {"partner_id": self.company_customer.id, "reason": "because"}
            )
        with self.assertRaises(AccessError):
            partner._pulse_lift_objection("because")
        self.assertTrue(self.company_customer.pulse_profiling_objection)

    def test_manager_writes_nothing_but_through_the_wizard(self):
        with self.assertRaises(AccessError):
            self.company_customer.with_user(self.pulse_manager).pulse_profiling_objection = False

    def test_manager_lifts_with_reason_in_chatter(self):
        action = self.company_customer.with_user(self.pulse_manager).action_pulse_lift_objection()
        wizard = (
            self.env["pulse.objection.lift"]
            .with_user(self.pulse_manager)
            .with_context(**action["context"])
            .create({"reason": "Signed request of 3 March", "consent": True})
        )
        wizard.action_lift()
        self.assertFalse(self.company_customer.pulse_profiling_objection)
        self.assertTrue(self.company_customer.pulse_profiling_consent)
        note = self.company_customer.message_ids.filtered(
            lambda m: "Signed request of 3 March" in (m.body or "")
        )
        self.assertEqual(note.author_id, self.pulse_manager.partner_id)
        # profiling resumes
        self.assess(self.salesman, self.grade_a, "2026-01-01")


@tagged("post_install", "-at_install")
class TestDepartmentPrivacyHolds(TrustCase):
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

    def visible_to(self, user):
        return self.Value.with_user(user).search([("partner_id", "=", self.company_customer.id)])

    def test_marketer_cannot_change_visibility(self):
        """Attack: a marketer (who edits attributes) makes a private attribute shared, or
        moves it to their own department, to read it."""
        attribute = self.finance_note.with_user(self.pulse_marketer)
        with self.assertRaises(AccessError):
            attribute.visibility = "shared"
        with self.assertRaises(AccessError):
            attribute.department_id = self.sales
        with self.assertRaises(AccessError):
            self.grade.with_user(self.pulse_marketer).write(
                {"visibility": "private", "department_id": self.sales.id}
            )
        attribute.description = "Payment habits told to finance"  # the rest is theirs

    def test_history_stays_private_when_attribute_becomes_shared(self):
        """Attack: a manager opens the attribute to everyone; what finance recorded while
        it was private used to become readable by every department."""
        self.finance_note.with_user(self.pulse_manager).visibility = "shared"
        self.assertNotIn(self.note_value, self.visible_to(self.salesman))
        self.assertIn(self.note_value, self.visible_to(self.accountant))
        self.assertEqual(self.note_value.sudo().private_department_id, self.finance)
        # recorded from now on: shared
        later = self.Value.with_user(self.salesman).create(
            {
                "partner_id": self.company_customer.id,
                "attribute_id": self.finance_note.id,
                "value_char": "Pays on time now",
            }
        )
        self.assertFalse(later.private_department_id)
        self.assertIn(later, self.visible_to(self.technician))
        self.assertNotIn(self.note_value, self.visible_to(self.technician))

    def test_history_stays_with_its_department_when_moved(self):
        self.after_sales.user_ids = [Command.link(self.pulse_manager.id)]
        self.finance_note.with_user(self.pulse_manager).department_id = self.after_sales
        self.assertNotIn(self.note_value, self.visible_to(self.technician))
        self.assertIn(self.note_value, self.visible_to(self.accountant))


@tagged("post_install", "-at_install")
class TestSurveyDataScope(TrustCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_company = cls.env["res.company"].create({"name": "Trust Other Co"})
        cls.unmapped = cls.make_survey(
            [("Which job do you apply for?", "text_box", None, None)],
            title="Recruitment questions",
        )
        cls.mapped_answer = cls.answer(cls.survey, cls.full_answer, partner=cls.company_customer)
        cls.unmapped_answer = cls.answer(
            cls.unmapped, {"Which job do you apply for?": "Accountant"}, email="x@y.example"
        )
        cls.other_answer = cls.answer(
            cls.survey.with_company(cls.other_company),
            {"Any wish?": "Other company wish"},
            email="z@y.example",
        )

    @users("pulse_user")
    def test_pulse_user_reads_profile_surveys_of_their_companies_only(self):
        """Attack: a salesperson reads every survey participation of the database
        (recruitment, certifications, other companies')."""
        Input = self.env["survey.user_input"]
        self.assertEqual(self.other_answer.pulse_company_id, self.other_company)
        seen = Input.search(
            [("id", "in", (self.mapped_answer | self.unmapped_answer | self.other_answer).ids)]
        )
        self.assertEqual(seen, self.mapped_answer)
        for hidden in (self.unmapped_answer, self.other_answer):
            with self.assertRaises(AccessError):
                Input.browse(hidden.id).email  # noqa: B018
            with self.assertRaises(AccessError):
                Input.browse(hidden.id).user_input_line_ids.mapped("value_text_box")
        Lines = self.env["survey.user_input.line"]
        self.assertEqual(
            Lines.search([("user_input_id", "in", (self.unmapped_answer | self.other_answer).ids)]),
            Lines,
        )
        self.assertTrue(
            Input.browse(self.mapped_answer.id).user_input_line_ids.mapped("display_name")
        )
        work = self.env["pulse.survey.work"].search([])
        self.assertIn(self.mapped_answer.id, work.user_input_id.ids)
        self.assertNotIn(self.other_answer.id, work.user_input_id.ids, "other company")
        self.assertNotIn(self.unmapped_answer.id, work.user_input_id.ids, "not a profile survey")

    @users("pulse_user")
    def test_confirming_is_kept_to_readable_participations(self):
        with self.assertRaises(AccessError):
            self.env["survey.user_input"].browse(self.other_answer.id).action_pulse_confirm_match()

    def test_survey_officer_keeps_odoo_rules(self):
        officer = self.make_user("trust_officer", "survey.group_survey_user")
        seen = (
            self.env["survey.user_input"]
            .with_user(officer)
            .search([("id", "in", (self.unmapped_answer | self.other_answer).ids)])
        )
        self.assertEqual(seen, self.unmapped_answer | self.other_answer)


@tagged("post_install", "-at_install")
class TestManagerOnlyValues(TrustCase):
    def test_salesperson_cannot_create_manager_values(self):
        """Attack: over RPC, a salesperson creates a "manager's decision", an "erased" value
        or a value private to a department of their choosing."""
        Value = self.Value.with_user(self.salesman)
        base = {
            "partner_id": self.company_customer.id,
            "attribute_id": self.grade.id,
            "option_id": self.grade_c.id,
        }
        for forged in (
            {"is_resolution": True},
            {"erased": True},
            {"private_department_id": self.finance.id},
            # someone else's name, another department's voice, a source that is not theirs,
            # a date in the future that would stay "latest" for ever
            {"user_id": self.technician.id},
            {"department_id": self.after_sales.id},
            {"source": "purchase"},
            {"source": "survey"},
            {"date": "2099-01-01 00:00:00"},
        ):
            with self.assertRaises(AccessError):
                Value.create(dict(base, **forged))
        self.assertFalse(self.values())
        Value.create(base)  # a plain assessment is theirs

    def test_erase_context_unlocks_nothing(self):
        """Attack: a salesperson calls write with the context key the erasure used
        (pulse_erase=True) to rewrite or blank a recorded value."""
        value = self.assess(self.salesman, self.grade_a, "2026-01-01")
        forged = value.with_user(self.salesman).with_context(pulse_erase=True)
        with self.assertRaises(UserError):  # an AccessError is one too
            forged.write({"option_id": self.grade_c.id})
        with self.assertRaises(AccessError):
            forged.write({"erased": True, "value_display": "(erased)"})
        with self.assertRaises(AccessError):
            forged.write({"is_resolution": True})
        with self.assertRaises(AccessError):
            self.assess(self.technician, self.grade_c, "2026-01-02").with_user(
                self.technician
            ).write({"private_department_id": self.after_sales.id})
        self.assertEqual(value.option_id, self.grade_a)
        self.assertFalse(value.erased)
        self.assertTrue(value.is_current)


@tagged("post_install", "-at_install")
class TestExportAndErase(PulseFactsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ref = cls.env.ref
        cls.Value = cls.env["pulse.attribute.value"]
        cls.grade = ref("customer_pulse.attribute_grade")
        cls.sales = ref("customer_pulse.department_sales")
        cls.after_sales = ref("customer_pulse.department_after_sales")
        cls.salesman = cls.make_user("erase_sales", "user")
        cls.technician = cls.make_user("erase_tech", "user")
        cls.sales.user_ids = [Command.link(cls.salesman.id), Command.link(cls.pulse_manager.id)]
        cls.after_sales.user_ids = [Command.link(cls.technician.id)]
        cls.partner = cls.env["res.partner"].create(
            {
                "name": "Forget Me Ltd",
                "is_company": True,
                "email": "forget@me.example",
                "mobile": "+32 470 12 34 56",
            }
        )
        # facts
        cls.make_order(cls.partner, "2026-01-05")
        cls.Facts._refresh_all()
        # a segment with a mailing list: its sync makes a mailing contact
        cls.mailing_list = cls.env["mailing.list"].create({"name": "Forget list"})
        cls.segment = cls.env["pulse.segment"].create(
            {
                "name": "Forget segment",
                "kind": "static",
                "mailing_list_id": cls.mailing_list.id,
                "static_partner_ids": [Command.set(cls.partner.ids)],
            }
        )
        cls.segment._refresh_safely()
        # a rule that texted them
        sms_template = cls.env["sms.template"].create(
            {
                "name": "Forget text",
                "model_id": cls.env["ir.model"]._get_id("res.partner"),
                "body": "Your secret code is 4242",
            }
        )
        cls.rule = cls.env["pulse.rule"].create(
            {
                "name": "Forget rule",
                "trigger": "no_purchase",
                "trigger_days": 365,
                "step_ids": [
                    Command.create(
                        {"name": "Text", "action": "sms", "sms_template_id": sms_template.id}
                    )
                ],
            }
        )
        enrolment = cls.env["pulse.enrolment"].create(
            {"rule_id": cls.rule.id, "partner_id": cls.partner.id, "company_id": cls.company.id}
        )
        messages = cls.partner._message_sms_with_template(
            template=sms_template, partner_ids=cls.partner.ids
        )
        cls.sms_message = messages[:1]
        cls.sms_run = cls.env["pulse.step.run"].create(
            {
                "enrolment_id": enrolment.id,
                "step_id": cls.rule.step_ids.id,
                "scheduled_at": "2026-01-06 09:00:00",
                "state": "done",
                "res_model": "mail.message",
                "res_id": cls.sms_message.id,
            }
        )

    def export(self, user=None):
        action = self.partner.with_user(user or self.pulse_manager).action_pulse_export_profile()
        return self.env["pulse.profile.export"].browse(int(action["url"].split("/")[4]))

    def test_export_is_the_managers_download_only(self):
        """Attack: the export used to be an attachment on the customer, open to everyone
        who sees the customer."""
        export = self.export()
        self.assertFalse(
            self.env["ir.attachment"]
            .with_user(self.salesman)
            .search([("res_model", "=", "res.partner"), ("res_id", "=", self.partner.id)])
        )
        with self.assertRaises(AccessError):
            self.env["pulse.profile.export"].with_user(self.salesman).browse(export.id).data  # noqa: B018
        other_manager = self.make_user("erase_other_manager", "manager")
        with self.assertRaises(AccessError):
            self.env["pulse.profile.export"].with_user(other_manager).browse(export.id).data  # noqa: B018
        attachment = self.env["ir.attachment"].search(
            [
                ("res_model", "=", "pulse.profile.export"),
                ("res_id", "=", export.id),
                ("res_field", "=", "data"),
            ]
        )
        self.assertTrue(attachment)
        with self.assertRaises(AccessError):
            attachment.with_user(self.salesman).raw  # noqa: B018
        self.assertTrue(
            self.env["pulse.profile.export"].with_user(self.pulse_manager).browse(export.id).data
        )

    def test_export_contains_facts_segments_enrolments_runs(self):
        data = json.loads(base64.b64decode(self.export().data))
        self.assertEqual(len(data["facts"]), 1)
        self.assertEqual(data["facts"][0]["order_count"], 1)
        self.assertEqual(data["facts"][0]["company_id"], self.company.name)
        self.assertEqual(data["segment_history"][0]["segment_id"], "Forget segment")
        self.assertTrue(data["segment_history"][0]["date_entered"])
        self.assertEqual(data["enrolments"][0]["rule_id"], "Forget rule")
        self.assertEqual(data["step_runs"][0]["state"], "done")
        self.assertEqual(data["step_runs"][0]["action"], "sms")

    def test_erase_leaves_no_copy_behind(self):
        """Attack (of omission): after an erasure, copies of the profile lived on in earlier
        exports, unconfirmed survey answers with the customer's email, the chatter (decision
        notes, SMS texts), the SMS queue and the mailing contacts segments made."""
        survey = self.make_survey([("Grade?", "char_box", self.grade, None)], title="Forget survey")
        waiting = self.answer(survey, {"Grade?": "A"}, email="Forget@Me.example")
        self.assertEqual(waiting.pulse_profile_state, "unmatched")
        other_waiting = self.answer(survey, {"Grade?": "B"}, email="someone@else.example")
        self.assertEqual(other_waiting.pulse_profile_state, "unmatched")
        # a manager's decision in the chatter
        for user, option, when in (
            (self.salesman, "customer_pulse.option_grade_a", "2026-01-01 10:00:00"),
            (self.technician, "customer_pulse.option_grade_c", "2026-01-02 10:00:00"),
        ):
            self.Value.with_user(user).create(
                {
                    "partner_id": self.partner.id,
                    "attribute_id": self.grade.id,
                    "option_id": self.env.ref(option).id,
                    "date": when,
                }
            )
        chosen = self.Value.search(
            [("partner_id", "=", self.partner.id), ("department_id", "=", self.after_sales.id)]
        )
        self.env["pulse.conflict.resolve"].with_user(self.pulse_manager).create(
            {
                "partner_id": self.partner.id,
                "attribute_id": self.grade.id,
                "value_id": chosen.id,
                "reason": "Confidential: they are about to be acquired",
            }
        ).action_resolve()
        decision = self.Value.search(
            [("partner_id", "=", self.partner.id), ("is_resolution", "=", True)]
        )
        self.assertIn("acquired", decision.resolution_message_id.body)
        export = self.export()
        export_attachment = self.env["ir.attachment"].search(
            [
                ("res_model", "=", "pulse.profile.export"),
                ("res_id", "=", export.id),
                ("res_field", "=", "data"),
            ]
        )
        contact = self.env["mailing.contact"].search(
            [("email_normalized", "=", "forget@me.example")]
        )
        self.assertTrue(contact)
        bystander = self.env["mailing.contact"].create(
            {"email": "bystander@me.example", "list_ids": self.mailing_list.ids}
        )
        sms = self.env["sms.sms"].search([("partner_id", "=", self.partner.id)])
        self.assertIn("4242", sms.body)

        self.partner.with_user(self.pulse_manager).action_pulse_erase_profile()

        self.assertFalse(export.exists())
        self.assertFalse(export_attachment.exists())
        self.assertFalse(waiting.exists())
        self.assertTrue(other_waiting.exists())
        self.assertFalse(decision.resolution_message_id.body)
        self.assertFalse(self.sms_message.body)
        self.assertFalse(sms.body)
        self.assertFalse(contact.exists())
        self.assertTrue(bystander.exists())
        self.assertTrue(self.partner.pulse_profiling_objection)
        everything = json.dumps(
            self.partner.message_ids.mapped("body") + self.env["sms.sms"].search([]).mapped("body")
        )
        for secret in ("4242", "acquired"):
            self.assertNotIn(secret, everything)

    def test_private_decision_stays_out_of_the_chatter(self):
        """Attack: a manager settles a disagreement on a private attribute; the chatter,
        read by everyone who sees the customer, showed the private value and reason."""
        for user, option, when in (
            (self.salesman, "customer_pulse.option_grade_a", "2026-01-01 10:00:00"),
            (self.technician, "customer_pulse.option_grade_c", "2026-01-02 10:00:00"),
        ):
            self.Value.with_user(user).create(
                {
                    "partner_id": self.partner.id,
                    "attribute_id": self.grade.id,
                    "option_id": self.env.ref(option).id,
                    "date": when,
                }
            )
        self.grade.write({"visibility": "private", "department_id": self.sales.id})
        chosen = self.Value.search(
            [("partner_id", "=", self.partner.id), ("department_id", "=", self.after_sales.id)]
        )
        self.env["pulse.conflict.resolve"].with_user(self.pulse_manager).create(
            {
                "partner_id": self.partner.id,
                "attribute_id": self.grade.id,
                "value_id": chosen.id,
                "reason": "Secret reason",
            }
        ).action_resolve()
        decision = self.Value.search(
            [("partner_id", "=", self.partner.id), ("is_resolution", "=", True)]
        )
        self.assertEqual(decision.private_department_id, self.sales)
        body = decision.resolution_message_id.body
        self.assertIn("private to Sales", body)
        self.assertNotIn("Secret reason", body)
        self.assertNotIn("low potential", body)


@tagged("post_install", "-at_install")
class TestConfirmMatchTour(PulseHttpCase):
    def test_salesperson_confirms_match(self):
        """A public answer with a customer's email waits; a marketer finds it under Profiling
        and confirms the customer in the browser, and only then is it recorded (consent
        included). (A salesperson's confirmation: TestPublicSurveyTrust.)"""
        customer = self.make_customer("Match Tour Co", customer_rank=0, email="buyer@match.example")
        consent = self.env.ref("customer_pulse.attribute_profiling_consent")
        survey = self.make_survey(
            [("May we keep what you tell us?", "char_box", consent, None)],
            title="Match tour survey",
        )
        # every answer waiting in the database is the tour's
        self.env["survey.user_input"].search([("pulse_profile_state", "=", "unmatched")]).unlink()
        answer = self.answer(
            survey, {"May we keep what you tell us?": "yes"}, email="buyer@match.example"
        )
        self.assertEqual(answer.pulse_profile_state, "unmatched")
        self.assertFalse(customer.pulse_profiling_consent)
        self.start_tour("/odoo", "customer_pulse_confirm_match", login="pulse_marketer")
        self.assertEqual(answer.pulse_profile_state, "done")
        self.assertEqual(answer.pulse_match_confirmed_by, self.pulse_marketer)
        self.assertTrue(customer.pulse_profiling_consent)
