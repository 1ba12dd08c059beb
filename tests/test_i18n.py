"""Customer Pulse in its users' languages: the shipped translation files are complete and
current, and what a customer receives is written in the customer's language."""

import io
import re
from pathlib import Path

import polib
from freezegun import freeze_time

from odoo.tests import tagged
from odoo.tools.translate import TRANSLATED_ATTRS, trans_export

from .common import PulseFactsCase
from .test_followup import FollowupCase

I18N = Path(__file__).resolve().parent.parent / "i18n"
# the .po files shipped and the language each is loaded for
LANGS = {"hu": "hu_HU", "ru": "ru_RU", "zh_CN": "zh_CN"}
MIN_COVERAGE = 0.98
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")
TAG = re.compile(r"<[^>]+>")
EXPRESSION = re.compile(r"\{\{.*?\}\}")
# an attribute Odoo translates (title, alt, placeholder...) inside a tag: its text may change
TRANSLATED_ATTRIBUTE = re.compile(
    r"\b({})=\"[^\"]*\"".format("|".join(map(re.escape, TRANSLATED_ATTRS)))
)


def tags(text):
    """The tags of `text`, the values of the attributes Odoo translates left out."""
    return sorted(TRANSLATED_ATTRIBUTE.sub(r'\1=""', tag) for tag in TAG.findall(text))


def load_languages(env):
    """Activate the shipped languages and load Customer Pulse's terms for them."""
    for lang in LANGS.values():
        env["res.lang"]._activate_lang(lang)
    env["ir.module.module"]._load_module_terms(
        ["customer_pulse"], list(LANGS.values()), overwrite=True
    )


def translation(code, msgid, **values):
    """The shipped translation of `msgid` into `code` (hu, ru, zh_CN), placeholders filled."""
    entry = polib.pofile(str(I18N / f"{code}.po")).find(msgid)
    text = entry.msgstr if entry and entry.msgstr else msgid
    for name, value in values.items():
        text = text.replace(name, value)
    return text


@tagged("post_install", "-at_install")
class TestTranslationFiles(PulseFactsCase):
    """The .pot is what Odoo exports from the code today, each .po follows it, covers at
    least 98 % of its terms, keeps every placeholder, tag and expression, and loads in Odoo
    without a warning."""

    def test_pot_is_up_to_date(self):
        buffer = io.BytesIO()
        trans_export(None, ["customer_pulse"], buffer, "po", self.env.cr)
        fresh = polib.pofile(buffer.getvalue().decode())
        shipped = polib.pofile(str(I18N / "customer_pulse.pot"))
        fresh_terms = {e.msgid: sorted(o for o, _line in e.occurrences) for e in fresh}
        shipped_terms = {e.msgid: sorted(o for o, _line in e.occurrences) for e in shipped}
        new = sorted(fresh_terms.keys() - shipped_terms.keys())
        gone = sorted(shipped_terms.keys() - fresh_terms.keys())
        moved = sorted(
            m
            for m in fresh_terms.keys() & shipped_terms.keys()
            if fresh_terms[m] != shipped_terms[m]
        )
        self.assertEqual(
            (new, gone, moved),
            ([], [], []),
            "i18n/customer_pulse.pot is out of date (new, gone, moved terms): run `make pot`",
        )

    def test_each_language_is_complete_and_well_formed(self):
        terms = {e.msgid for e in polib.pofile(str(I18N / "customer_pulse.pot"))}
        for code in LANGS:
            with self.subTest(language=code):
                po = polib.pofile(str(I18N / f"{code}.po"))
                entries = [e for e in po if not e.obsolete]
                self.assertEqual({e.msgid for e in entries}, terms, f"{code}.po: run `make pot`")
                untranslated = [e.msgid for e in entries if not e.msgstr]
                coverage = 1 - len(untranslated) / len(entries)
                self.assertGreaterEqual(
                    coverage,
                    MIN_COVERAGE,
                    f"{code}.po covers {coverage:.1%}; untranslated:\n" + "\n".join(untranslated),
                )
                broken = [
                    e.msgid
                    for e in entries
                    if e.msgstr
                    and (
                        tags(e.msgid) != tags(e.msgstr)
                        or any(
                            sorted(pattern.findall(e.msgid)) != sorted(pattern.findall(e.msgstr))
                            for pattern in (PLACEHOLDER, EXPRESSION)
                        )
                    )
                ]
                self.assertEqual(broken, [], f"{code}.po changes placeholders, tags or expressions")

    def test_each_language_loads_without_warnings(self):
        with self.assertNoLogs("odoo", "WARNING"):
            load_languages(self.env)
        menu = self.env.ref("customer_pulse.menu_customers")
        for code, lang in LANGS.items():
            with self.subTest(language=code):
                self.assertEqual(menu.with_context(lang=lang).name, translation(code, menu.name))
                self.assertNotEqual(menu.with_context(lang=lang).name, menu.name)


@tagged("post_install", "-at_install")
class TestCustomerLanguage(PulseFactsCase):
    """A rule's email goes out in each customer's language, in one batch."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        load_languages(cls.env)

    def test_winback_email_in_each_customers_language(self):
        customers = {
            code: self.make_customer(f"Lapsed {code}", email=f"{code}@pulse.example", lang=lang)
            for code, lang in {**LANGS, "en": "en_US"}.items()
        }
        with freeze_time("2026-01-10 09:00:00"):
            for customer in customers.values():
                self.make_order(customer, "2024-06-01")
            self.Facts._refresh_all()
            rule = self.make_rule()
            rule.action_start()
            self.env["pulse.rule.engine"]._cron_run_engine()
        runs = self.env["pulse.step.run"].search([("rule_id", "=", rule.id)])
        mails = {run.partner_id: run.mail_id for run in runs}
        english = "We miss you, {{ object.name }}"
        for code, customer in customers.items():
            with self.subTest(language=code):
                mail = mails[customer]
                self.assertEqual(
                    mail.subject,
                    translation(code, english, **{"{{ object.name }}": customer.name})
                    if code != "en"
                    else f"We miss you, {customer.name}",
                )
                if code != "en":
                    self.assertNotIn("It has been a while", mail.body_html)
                    self.assertIn(customer.name, mail.body_html)
                else:
                    self.assertIn("It has been a while", mail.body_html)

    def test_preview_shows_what_the_customer_receives_in_their_language(self):
        customer = self.make_customer("Lapsed Kft", email="kft@pulse.example", lang="hu_HU")
        with freeze_time("2026-01-10 09:00:00"):
            self.make_order(customer, "2024-06-01")
            self.Facts._refresh_all()
            preview = self.env["pulse.rule.preview"].create({"rule_id": self.make_rule().id})
            self.assertEqual(preview.sample_partner_id, customer)
            subject = translation(
                "hu", "We miss you, {{ object.name }}", **{"{{ object.name }}": customer.name}
            )
            self.assertIn(subject, preview.sample_html)

    def test_survey_invitation_in_the_customers_language(self):
        survey = self.env.ref("customer_pulse.survey_first_order")
        customer = self.make_customer(
            "Lapsed OOO", email="ooo@pulse.example", lang="ru_RU", pulse_profiling_consent=True
        )
        steps = [{"name": "Survey", "action": "survey", "survey_id": survey.id}]
        with freeze_time("2026-01-10 09:00:00"):
            self.make_order(customer, "2024-06-01")
            self.Facts._refresh_all()
            rule = self.make_rule(steps=steps)
            rule.action_start()
            self.env["pulse.rule.engine"]._cron_run_engine()
        run = self.env["pulse.step.run"].search([("rule_id", "=", rule.id)])
        self.assertEqual(run.state, "done", run.error)
        invitation = self.env["mail.mail"].search([("recipient_ids", "in", customer.ids)])
        self.assertEqual(len(invitation), 1)
        title = translation("ru", survey.with_context(lang="en_US").title)
        self.assertNotEqual(title, survey.with_context(lang="en_US").title)
        self.assertIn(title, f"{invitation.subject} {invitation.body_html or invitation.body}")


@tagged("post_install", "-at_install")
class TestReminderLanguage(FollowupCase):
    """A payment reminder is written in the customer's language, its table of invoices too."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        load_languages(cls.env)

    def test_reminder_in_the_customers_language(self):
        self.first.attach_invoices = False
        self.debtor.lang = "hu_HU"
        english = self.env["res.partner"].create(
            {"name": "English Ltd", "is_company": True, "email": "ap@english.example"}
        )
        with freeze_time("2026-01-20"):
            self.make_move(self.debtor, "2026-01-10", 100)
            self.make_move(english, "2026-01-10", 100)
        self.run_day("2026-02-01 06:00:00")
        hu, en = self.events(self.debtor).mail_id, self.events(english).mail_id
        self.assertEqual(
            hu.subject,
            translation(
                "hu",
                "{{ object._pulse_followup_company().name }}: payment reminder",
                **{"{{ object._pulse_followup_company().name }}": self.company_a.name},
            ),
        )
        self.assertEqual(en.subject, f"{self.company_a.name}: payment reminder")
        self.assertIn(translation("hu", "Left to pay"), hu.body_html)
        self.assertNotIn("Left to pay", hu.body_html)
        self.assertIn("Left to pay", en.body_html)
