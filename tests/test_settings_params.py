import re
from pathlib import Path

from freezegun import freeze_time

from odoo.exceptions import ValidationError
from odoo.tests import Form, tagged

from ..tools.params import PREFIX, SETTINGS, param_key, setting
from .common import PulseFactsCase

TODAY = "2026-06-15"
PARAMS_LOGGER = "odoo.addons.customer_pulse.tools.params"
ADDON = Path(__file__).resolve().parent.parent
# the addon's code that runs in Odoo (tests, benchmarks and scripts set parameters freely)
RUNTIME_DIRS = (
    "controllers",
    "data",
    "models",
    "report",
    "security",
    "static",
    "tools",
    "views",
    "wizards",
)
RUNTIME_FILES = ("hooks.py",)
# a system parameter read without the settings table, or a setting's key spelled out
STRAY_READ = re.compile(
    r"get_param\(|int_param\(|[\"']customer_pulse\.(" + "|".join(SETTINGS) + r")[\"']"
)


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestSettingsParams(PulseFactsCase):
    """A bad value typed in the system parameters (Settings › Technical) falls back to the
    default with a warning in the log, wherever it is read; the settings form refuses bad
    values with a clear message."""

    def set_param(self, key, value):
        self.env["ir.config_parameter"].set_param(key, value)

    def test_bad_rfm_window_keeps_facts_and_key_figures(self):
        """A typo in the RFM window: the facts refresh (full, incremental, the RFM segment of
        30 days ago) and the segments' key figures read 365 days."""
        self.make_order(self.customer, "2026-03-01", price=200)
        for value in ("abc", "0", "-30"):
            with self.subTest(value=value):
                self.set_param("customer_pulse.rfm_window_days", value)
                with self.assertLogs(PARAMS_LOGGER, "WARNING") as logs:
                    self.Facts._refresh_all()
                    self.Facts._refresh_queue()
                self.assertIn("customer_pulse.rfm_window_days", logs.output[0])
                self.assertEqual(self.facts(self.customer).rfm_window_orders, 1)
                segment = self.env["pulse.segment"].create(
                    {"name": "Buyers", "domain": "[('pulse_order_count', '>', 0)]"}
                )
                segment._refresh_members()
                segment.invalidate_recordset()
                # the key figures' view reads the window too: 1 order in 365 days a year
                self.assertEqual(segment.kpi_orders_per_member_year, 1.0)

    def test_bad_lapsed_days_keeps_segments(self):
        """A typo in the lapsed period: the shipped "No purchase for over a year" segment
        still refreshes, with the default year."""
        self.make_order(self.customer, "2025-03-01")
        self.Facts._refresh_all()
        self.set_param("customer_pulse.lapsed_days", "one year")
        lapsed = self.env.ref("customer_pulse.segment_lapsed")
        with self.assertLogs(PARAMS_LOGGER, "WARNING") as logs:
            lapsed._refresh_safely()
        self.assertIn("customer_pulse.lapsed_days", logs.output[0])
        self.assertEqual(lapsed.refresh_state, "ok", lapsed.refresh_error)
        self.assertIn(self.customer, lapsed.member_ids.partner_id)

    def test_bad_frequency_cap_reads_defaults(self):
        """A typo in the frequency cap: the rule engine caps at 3 touches per 7 days; 0
        touches (no cap) is a value, 0 days is not."""
        Policy = self.env["pulse.rule.policy"]
        for touches, days, cap in (("3 times", "-1", (3, 7)), ("0", "0", (0, 7))):
            with self.subTest(touches=touches, days=days):
                self.set_param("customer_pulse.cap_touches", touches)
                self.set_param("customer_pulse.cap_days", days)
                with self.assertLogs(PARAMS_LOGGER, "WARNING"):
                    self.assertEqual(Policy._cap(), cap)
        self.set_param("customer_pulse.cap_touches", " 5 ")
        self.set_param("customer_pulse.cap_days", "14")
        with self.assertNoLogs(PARAMS_LOGGER, "WARNING"):
            self.assertEqual(Policy._cap(), (5, 14))

    def test_settings_form_refuses_bad_values(self):
        for field, value, message in (
            ("pulse_rfm_window_days", -5, "RFM window (days) must be at least 1, not -5."),
            ("pulse_rfm_window_days", 0, "RFM window (days) must be at least 1, not 0."),
            ("pulse_lapsed_days", -365, "Lapsed after (days) must be at least 1"),
            ("pulse_cap_days", 0, "Per (days) must be at least 1"),
            ("pulse_cap_touches", -1, "Touches at most cannot be negative (-1)"),
        ):
            with self.subTest(field=field, value=value):
                form = Form(self.env["res.config.settings"])
                setattr(form, field, value)
                with self.assertRaises(ValidationError) as error:
                    form.save()
                self.assertIn(message, str(error.exception))

    def test_settings_form_shows_defaults_and_keeps_no_cap(self):
        """A bad stored value shows as its default (it could not be saved otherwise); a
        frequency cap of 0 touches (no cap) is kept as 0, not read back as the default."""
        self.set_param("customer_pulse.rfm_window_days", "abc")
        with self.assertLogs(PARAMS_LOGGER, "WARNING"):
            form = Form(self.env["res.config.settings"])
        self.assertEqual(form.pulse_rfm_window_days, 365)
        form.pulse_cap_touches = 0
        form.pulse_lapsed_days = 400
        form.save().execute()
        params = self.env["ir.config_parameter"]
        self.assertEqual(params.get_param("customer_pulse.cap_touches"), "0")
        self.assertEqual(params.get_param("customer_pulse.rfm_window_days"), "365")
        self.assertEqual(params.get_param("customer_pulse.lapsed_days"), "400")
        self.assertEqual(self.env["pulse.rule.policy"]._cap()[0], 0)
        self.assertEqual(Form(self.env["res.config.settings"]).pulse_cap_touches, 0)

    def test_every_setting_read_through_the_table(self):
        """One table of settings (tools/params.py): the code reads no system parameter and
        spells out no setting's key but through it, every setting in it is used, and the
        settings screen takes its keys and defaults from it."""
        files = [ADDON / name for name in RUNTIME_FILES]
        for folder in RUNTIME_DIRS:
            files += [
                path
                for path in (ADDON / folder).rglob("*")
                if path.suffix in (".py", ".xml", ".js", ".csv")
            ]
        sources = {
            path.relative_to(ADDON).as_posix(): path.read_text(encoding="utf-8")
            for path in files
            if path.is_file() and path.name != "params.py"
        }
        stray = [
            f"{name}: {match.group(0)}"
            for name, text in sources.items()
            for match in STRAY_READ.finditer(text)
        ]
        self.assertFalse(stray, "system parameters read outside tools/params.py SETTINGS")
        # the settings screen writes them: some code must read them
        code = "\n".join(
            text
            for name, text in sources.items()
            if name.endswith(".py") and name != "models/res_config_settings.py"
        )
        unused = [name for name in SETTINGS if f'"{name}"' not in code]
        self.assertFalse(unused, "settings no code reads")
        Settings = self.env["res.config.settings"]
        on_screen = {
            field.config_parameter: field
            for field in Settings._fields.values()
            if (getattr(field, "config_parameter", None) or "").startswith(PREFIX)
        }
        self.assertTrue(on_screen)
        for key, field in on_screen.items():
            with self.subTest(field=field.name):
                name = key.removeprefix(PREFIX)
                self.assertIn(name, SETTINGS)
                default = field.default(Settings) if field.default else False
                self.assertEqual(default, SETTINGS[name].default or False)

    def test_setting_reads_defaults(self):
        """Each setting reads its default when missing; a whole number below its minimum or
        not a number reads as the default too, with a warning."""
        params = self.env["ir.config_parameter"]
        for name, spec in SETTINGS.items():
            with self.subTest(setting=name):
                params.search([("key", "=", param_key(name))]).unlink()
                self.assertEqual(setting(self.env, name), spec.default)
                if spec.kind is int:
                    for bad in ("many", str(spec.minimum - 1)):
                        self.set_param(param_key(name), bad)
                        with self.assertLogs(PARAMS_LOGGER, "WARNING"):
                            self.assertEqual(setting(self.env, name), spec.default)
                    self.set_param(param_key(name), str(spec.minimum + 1))
                    self.assertEqual(setting(self.env, name), spec.minimum + 1)
        with self.assertRaises(KeyError):
            setting(self.env, "no_such_setting")
