import copy
import json
import re
from datetime import datetime, time

from dateutil.relativedelta import relativedelta

from odoo import fields
from odoo.addons.spreadsheet.utils.validate_data import fields_in_spreadsheet
from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools import file_open

from .common import PulseFactsCase

DASHBOARD = "customer_pulse.dashboard_customer_pulse"
# a formula's reference to a pivot (PIVOT, PIVOT.VALUE, PIVOT.HEADER) or a list, by id
PIVOT_REF = re.compile(r"PIVOT(?:\.VALUE|\.HEADER)?\(\s*(\d+)")
LIST_REF = re.compile(r"ODOO\.LIST(?:\.HEADER)?\(\s*(\d+)")
FILTER_VALUE = re.compile(r'ODOO\.FILTER\.VALUE\(\s*"([^"]+)"')
MENU_LINK = re.compile(r"odoo://ir_menu_xml_id/([\w.]+)")
# a function called by a formula (outside its string literals)
FUNCTION_CALL = re.compile(r"([A-Za-z_][\w.]*)\(")
STRING_LITERAL = re.compile(r'"[^"]*"')
# where the spreadsheet engine's functions are defined: o-spreadsheet's own (``const IFERROR =
# {``, registered as IFERROR; ``FORMAT_LARGE_NUMBER`` as FORMAT.LARGE.NUMBER) and Odoo's
# (``functionRegistry.add("ODOO.LIST", …)``)
ENGINE = "spreadsheet/static/src/o_spreadsheet/o_spreadsheet.js"
ENGINE_FUNCTION = re.compile(r"^const ([A-Z][A-Z0-9_]*) = \{", re.MULTILINE)
ODOO_FUNCTIONS = (
    "spreadsheet/static/src/o_spreadsheet/translation.js",
    "spreadsheet/static/src/list/list_functions.js",
    "spreadsheet/static/src/pivot/pivot_functions.js",
    "spreadsheet/static/src/currency/formulas.js",
)
REGISTERED_FUNCTION = re.compile(r'functionRegistry\s*\.add\(\s*"([^"]+)"')


def spreadsheet_functions():
    """The names of the functions formulas may call (upper case)."""
    with file_open(ENGINE) as f:
        names = {name.replace("_", ".") for name in ENGINE_FUNCTION.findall(f.read())}
    for path in ODOO_FUNCTIONS:
        with file_open(path) as f:
            names |= set(REGISTERED_FUNCTION.findall(f.read()))
    return {name.upper() for name in names}


def field_at(env, model, path):
    """The field a dotted path ends on, from model; None when a step is unknown."""
    field = None
    for name in path.split("."):
        if model not in env:
            return None
        field = env[model]._fields.get(name)
        if field is None:
            return None
        model = field.comodel_name
    return field


class DashboardCheck:
    """What a dashboard's spreadsheet refers to that the database does not know. Odoo's own
    check (spreadsheet.mixin, when the file is loaded in test mode) covers the models and
    fields of pivots, lists and charts and the menus of charts; this adds what it skips: the
    fields (and their types) that global filters match, the menus of links in cells, the
    pivots and lists that formulas name and the cells that scorecards show."""

    def __init__(self, env, data, functions=None):
        self.env = env
        self.data = data
        self.functions = functions
        self.filters = {f["id"] for f in data.get("globalFilters", [])}
        self.filter_labels = {f["label"] for f in data.get("globalFilters", [])}
        self.problems = []

    def run(self):
        """The problems found; empty when everything resolves."""
        for model, names in fields_in_spreadsheet(self.data).items():
            if self.check_model("spreadsheet", model):
                for name in sorted(names):
                    self.check_path("spreadsheet", model, name)
        for pivot_id, pivot in self.data.get("pivots", {}).items():
            self.check_matching(f"pivot {pivot_id}", pivot)
        for list_id, list_ in self.data.get("lists", {}).items():
            self.check_matching(f"list {list_id}", list_)
        for sheet in self.data["sheets"]:
            self.check_cells(sheet)
            for figure in sheet["figures"]:
                self.check_figure(figure)
        for figure_id, xmlid in self.data.get("chartOdooMenusReferences", {}).items():
            self.check_menu(f"chart {figure_id}", xmlid)
        return self.problems

    def check_model(self, where, model):
        if model not in self.env:
            self.problems.append(f"{where}: unknown model {model}")
            return False
        return True

    def check_path(self, where, model, path, field_type=None):
        field = field_at(self.env, model, path)
        if field is None:
            self.problems.append(f"{where}: {model} has no field {path}")
        elif field_type and field.type != field_type:
            self.problems.append(f"{where}: {model}.{path} is a {field.type}, not a {field_type}")

    def check_menu(self, where, xmlid):
        if not self.env.ref(xmlid, raise_if_not_found=False):
            self.problems.append(f"{where}: no menu {xmlid}")

    def check_matching(self, where, source, model=None):
        """The global filters a pivot, list or chart follows, and the fields they match."""
        model = model or source["model"]
        for filter_id, match in source.get("fieldMatching", {}).items():
            if filter_id not in self.filters:
                self.problems.append(f"{where}: unknown global filter {filter_id}")
            elif match.get("chain") and model in self.env:
                self.check_path(where, model, match["chain"], match.get("type"))

    def check_cells(self, sheet):
        pivots = {p.get("formulaId", pid) for pid, p in self.data.get("pivots", {}).items()}
        for ref, cell in sheet["cells"].items():
            where = f"{sheet['name']}!{ref}"
            content = cell.get("content", "")
            for pivot_id in PIVOT_REF.findall(content):
                if pivot_id not in pivots:
                    self.problems.append(f"{where}: no pivot {pivot_id}")
            for list_id in LIST_REF.findall(content):
                if list_id not in self.data.get("lists", {}):
                    self.problems.append(f"{where}: no list {list_id}")
            for xmlid in MENU_LINK.findall(content):
                self.check_menu(where, xmlid)
            for label in FILTER_VALUE.findall(content):
                if label not in self.filter_labels:
                    self.problems.append(f"{where}: no global filter labelled {label}")
            if self.functions is not None and content.startswith("="):
                for name in FUNCTION_CALL.findall(STRING_LITERAL.sub('""', content)):
                    if name.upper() not in self.functions:
                        self.problems.append(f"{where}: unknown function {name}")

    def check_figure(self, figure):
        chart = figure["data"]
        where = f"chart {chart.get('title', {}).get('text') or figure['id']}"
        if chart["type"].startswith("odoo_"):
            self.check_matching(where, chart, chart["metaData"]["resModel"])
        elif chart["type"] == "scorecard":
            sheet_name, _sep, ref = chart["keyValue"].rpartition("!")
            sheet = next((s for s in self.data["sheets"] if s["name"] == sheet_name), None)
            if not sheet or ref not in sheet["cells"]:
                self.problems.append(f"{where}: its value {chart['keyValue']} is an empty cell")


def dashboard_problems(env, data, functions=None):
    return DashboardCheck(env, data, functions).run()


class DashboardCase(PulseFactsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dashboard = cls.env.ref(DASHBOARD)
        cls.data = json.loads(cls.dashboard.spreadsheet_data)
        cls.sales_manager = cls.make_user("pulse_sales_manager", "sales_team.group_sale_manager")

    def sections(self, user):
        """{section: its dashboards} as the Dashboards app lists them for ``user`` (its
        loader reads the published dashboards of each section and drops empty sections)."""
        groups = self.env["spreadsheet.dashboard.group"].with_user(user)
        records = groups.web_search_read(
            [("published_dashboard_ids", "!=", False)],
            {"published_dashboard_ids": {"fields": {"name": {}}}},
        )["records"]
        return {
            r["id"]: [d["id"] for d in r["published_dashboard_ids"]]
            for r in records
            if r["published_dashboard_ids"]
        }

    def pivot(self, name):
        return next(p for p in self.data["pivots"].values() if p["name"] == name)

    def this_month(self, pivot):
        """The pivot's domain with its Period filter at its default, this month (what the
        dashboard shows on opening)."""
        (match,) = pivot["fieldMatching"].values()
        start = fields.Date.context_today(self.env.user).replace(day=1)
        end = start + relativedelta(months=1)
        bounds = [datetime.combine(day, time.min) for day in (start, end)]
        return pivot["domain"] + [
            [match["chain"], ">=", fields.Datetime.to_string(bounds[0])],
            [match["chain"], "<", fields.Datetime.to_string(bounds[1])],
        ]


@tagged("post_install", "-at_install")
class TestPulseDashboard(DashboardCase):
    def test_dashboard_is_shipped_in_its_section(self):
        self.assertEqual(self.dashboard.dashboard_group_id.name, "Customer Pulse")
        self.assertTrue(self.dashboard.is_published)
        self.assertEqual(
            self.dashboard.group_ids, self.env.ref("customer_pulse.group_pulse_manager")
        )
        self.assertEqual(self.data["sheets"][0]["name"], "Dashboard")
        action = self.env.ref("customer_pulse.action_pulse_dashboard")
        self.assertEqual(action.params, {"dashboard_id": self.dashboard.id})

    def test_every_reference_resolves(self):
        """Every model, field, filter, pivot and menu the spreadsheet names exists: renaming
        a field it reads breaks this test, not the manager's dashboard."""
        functions = spreadsheet_functions()
        self.assertIn("PIVOT.VALUE", functions)
        self.assertIn("FORMAT.LARGE.NUMBER", functions)
        self.assertEqual(dashboard_problems(self.env, self.data, functions), [])
        self.dashboard._check_spreadsheet_data()  # and Odoo's own check
        self.assertTrue(self.data["pivots"])
        charts = [f for s in self.data["sheets"] for f in s["figures"]]
        self.assertTrue(any(f["data"]["type"].startswith("odoo_") for f in charts))

    def test_a_renamed_field_is_reported(self):
        """Bad input: the check finds what a stale spreadsheet would fail on."""
        data = copy.deepcopy(self.data)
        pivot = data["pivots"]["7"]
        pivot["measures"][0]["fieldName"] = "return_income"
        pivot["fieldMatching"] = {"no-such-filter": {"chain": "date", "type": "date"}}
        data["pivots"]["5"]["fieldMatching"] = {
            k: {**v, "chain": "issue_date", "type": "date"}
            for k, v in data["pivots"]["5"]["fieldMatching"].items()
        }
        data["pivots"]["1"]["model"] = "pulse.partner.statistics"
        data["sheets"][1]["cells"]["Z1"] = {"content": '=PIVOT.VALUE(99,"__count")'}
        data["sheets"][1]["cells"]["Z2"] = {"content": "=FORMAT.LARGE.NUMBER(N(Z1))"}
        data["sheets"][1]["cells"]["Z3"] = {"content": '=ODOO.FILTER.VALUE("Month")'}
        data["chartOdooMenusReferences"]["x"] = "customer_pulse.menu_gone"
        problems = dashboard_problems(self.env, data, spreadsheet_functions())
        expected = [
            "spreadsheet: pulse.rule.return has no field return_income",
            "pivot 7: unknown global filter no-such-filter",
            "pivot 5: pulse.quote.funnel.issue_date is a datetime, not a date",
            "spreadsheet: unknown model pulse.partner.statistics",
            "Data!Z1: no pivot 99",
            "Data!Z2: unknown function N",
            "Data!Z3: no global filter labelled Month",
            "chart x: no menu customer_pulse.menu_gone",
        ]
        for problem in expected:
            self.assertIn(problem, problems)
        self.assertEqual(len(problems), len(expected), problems)

    def test_every_data_source_loads_for_a_manager(self):
        """The reads the spreadsheet makes (grouped, with its measures) succeed with a
        manager's rights: no cell of the dashboard shows an access error."""
        manager = self.pulse_manager
        for pivot in self.data["pivots"].values():
            Model = self.env[pivot["model"]].with_user(manager)
            measures = [
                "__count" if m["fieldName"] == "__count" else f"{m['fieldName']}:sum"
                for m in pivot["measures"]
            ]
            groupby = [g["fieldName"] for g in pivot["rows"]]
            with self.subTest(pivot=pivot["name"]):
                Model.read_group(pivot["domain"], measures, groupby, lazy=False)
        for sheet in self.data["sheets"]:
            for figure in sheet["figures"]:
                chart = figure["data"]
                if chart["type"].startswith("odoo_"):
                    meta = chart["metaData"]
                    self.env[meta["resModel"]].with_user(manager).read_group(
                        chart["searchParams"]["domain"],
                        [f"{meta['measure']}:sum"],
                        meta["groupBy"],
                        lazy=False,
                    )
        snapshot = self.dashboard.with_user(manager).get_readonly_dashboard()["snapshot"]
        self.assertEqual(snapshot["pivots"].keys(), self.data["pivots"].keys())

    def test_lapsed_pivots_read_the_shipped_segment(self):
        """The lapsed figures select the shipped "No purchase for over a year" segment by
        its filter (the spreadsheet cannot name a record by its XML id): exactly that one."""
        for name in ("Lapsed customers now", "Lapsed in the period", "Won back in the period"):
            leaves = [
                [leaf[0].removeprefix("segment_id."), leaf[1], leaf[2]]
                for leaf in self.pivot(name)["domain"]
                if leaf[0].startswith("segment_id.")
            ]
            self.assertEqual(
                self.env["pulse.segment"].with_context(active_test=False).search(leaves),
                self.env.ref("customer_pulse.segment_lapsed"),
            )

    def test_lapsed_and_won_back_this_month(self):
        """A customer who stops buying counts as lapsed this month when they enter the lapsed
        segment, and as won back this month when an order takes them out of it."""
        customer = self.make_customer("Dashboard Lapsed Co")
        self.make_order(customer, fields.Date.today() - relativedelta(years=2))
        self.Facts._refresh_all()
        segment = self.env.ref("customer_pulse.segment_lapsed")
        segment._refresh_safely()
        Member = self.env["pulse.segment.member"].with_user(self.pulse_manager)
        lapsed_now = self.pivot("Lapsed customers now")
        lapsed = self.pivot("Lapsed in the period")
        won_back = self.pivot("Won back in the period")
        self.assertIn(customer, Member.search(lapsed_now["domain"]).partner_id)
        self.assertIn(customer, Member.search(self.this_month(lapsed)).partner_id)
        self.assertNotIn(customer, Member.search(self.this_month(won_back)).partner_id)

        self.make_order(customer, None)
        self.Facts._refresh_all()
        segment._refresh_safely()
        self.assertNotIn(customer, Member.search(lapsed_now["domain"]).partner_id)
        self.assertIn(customer, Member.search(self.this_month(won_back)).partner_id)
        # and the active customers (customers with an order, less the lapsed) count them
        Stats = self.Stats.with_user(self.pulse_manager)
        self.assertIn(
            customer, Stats.search(self.pivot("Customers with an order")["domain"]).partner_id
        )


@tagged("post_install", "-at_install")
class TestPulseDashboardAccess(DashboardCase):
    def test_manager_sees_the_dashboard_and_its_menu(self):
        Dashboard = self.env["spreadsheet.dashboard"].with_user(self.pulse_manager)
        self.assertIn(self.dashboard, Dashboard.search([]))
        sections = self.sections(self.pulse_manager)
        self.assertEqual(sections[self.dashboard.dashboard_group_id.id], [self.dashboard.id])
        menu = self.env.ref("customer_pulse.menu_pulse_dashboard")
        visible = self.env["ir.ui.menu"].with_user(self.pulse_manager)._visible_menu_ids()
        self.assertIn(menu.id, visible)

    def test_others_do_not_see_it(self):
        """A salesperson, a marketer, an accountant and a sales manager without Customer
        Pulse manager rights do not see the dashboard, its section or its menu."""
        menu = self.env.ref("customer_pulse.menu_pulse_dashboard")
        for user in (
            self.pulse_user,
            self.pulse_marketer,
            self.pulse_accountant,
            self.sales_manager,
        ):
            with self.subTest(user=user.login):
                Dashboard = self.env["spreadsheet.dashboard"].with_user(user)
                self.assertNotIn(self.dashboard, Dashboard.search([]))
                with self.assertRaises(AccessError):
                    self.dashboard.with_user(user).read(["spreadsheet_data"])
                self.assertNotIn(self.dashboard.dashboard_group_id.id, self.sections(user))
                visible = self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()
                self.assertNotIn(menu.id, visible)

    def test_other_company_follow_ups_stay_out(self):
        """The spreadsheet reads through the ORM: a manager's record rules hold in it (the
        follow-ups of a company they may not access are not counted)."""
        other = self.make_company("Dashboard Other Co")
        customer = self.make_customer("Dashboard Other Customer")
        self.env["pulse.followup"].create(
            {"partner_id": customer.id, "company_id": other.id, "state": "needs_action"}
        )
        self.env.flush_all()
        pivot = self.pivot("Follow-ups by status")
        Followup = self.env["pulse.followup"].with_user(self.pulse_manager)
        counts = Followup.read_group(pivot["domain"], ["__count"], ["state"], lazy=False)
        self.assertNotIn(customer, Followup.search(pivot["domain"]).partner_id)
        self.assertEqual(sum(g["__count"] for g in counts), Followup.search_count(pivot["domain"]))
