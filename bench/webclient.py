"""The calls Odoo 18's web client makes when a user opens a screen, replayed over HTTP to a
running Odoo: shared by the screen latency and load benches (bench_screens.py, bench_load.py).

A screen is opened the way the web client opens it: the action is loaded (/web/action/load),
its views read (get_views), the search view's defaults applied (filters of one group OR-ed,
groups AND-ed, date filters on their default period, group-bys), then the view's data calls
are made with the field specification the web client builds from the view's arch (its
getFieldsSpec): web_search_read of a list's or a kanban's first page, web_read_group of a
grouped list, web_read of a form (and the search_count of a domain editor it shows),
read_group of each level of a pivot (the total alone when it is empty), web_read_group of a
graph. Checked against the requests of the real web client in a browser. Left out: the
chatter's own routes (the same for every form) and what the browser keeps after the first
time (views, fields, user's groups).
"""

import ast
import itertools
import os
import re
import socket
import subprocess
import sys
import time
from calendar import monthrange
from datetime import date

import requests
from lxml import etree

LIST_LIMIT = 80  # the web client's first page of a list
KANBAN_LIMIT = 40  # ... and of a kanban
X2MANY_LIMIT = 40  # rows of a one2many or many2many list inside a form
COUNT_LIMIT = 10_000  # a list counts its records up to this, then shows "10000+"
GROUP_LIMIT = 80  # groups of a grouped list
SERVER_START_TIMEOUT = 300  # seconds
RPC_TIMEOUT = 600  # seconds
ACTIVITY_FIELDS = [
    "activity_exception_decoration",
    "activity_exception_icon",
    "activity_state",
    "activity_summary",
    "activity_type_icon",
    "activity_type_id",
]
# widgets whose component reads more fields than the one they show (fieldDependencies)
WIDGET_DEPENDENCIES = {
    "image": ["write_date"],
    "signature": ["write_date"],
    "kanban_activity": ACTIVITY_FIELDS,
    "list_activity": ACTIVITY_FIELDS,
    "activity_exception": ["activity_exception_icon"],
    "statusbar_duration": ["duration_tracking"],
}


class RpcError(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def odoo_command(dbname, port, workers=0, cron_threads=0, logfile=None, log_handlers=()):
    """The odoo-bin command line of scripts/env.sh, from the PULSE_* settings bench.sh
    exports, serving only DBNAME on 127.0.0.1. Outgoing mail goes to a port nobody listens
    on: nothing can leave the machine."""
    args = [
        sys.executable,
        os.path.join(os.environ["PULSE_ODOO_DIR"], "odoo-bin"),
        f"--addons-path={os.environ['PULSE_ADDONS_PATH']}",
        f"--db_host={os.environ['PULSE_DB_HOST']}",
        f"--db_port={os.environ['PULSE_DB_PORT']}",
        f"--db_user={os.environ['PULSE_DB_USER']}",
        f"--data-dir={os.environ['PULSE_DATA_DIR']}",
        f"--database={dbname}",
        f"--db-filter=^{re.escape(dbname)}$",
        "--http-interface=127.0.0.1",
        f"--http-port={port}",
        f"--gevent-port={free_port()}",
        f"--workers={workers}",
        f"--max-cron-threads={cron_threads}",
        "--smtp=127.0.0.1",
        f"--smtp-port={free_port()}",
        "--log-level=warn",
        "--log-handler=werkzeug:INFO",
    ]
    if os.environ.get("PULSE_DB_PASSWORD"):
        args.append(f"--db_password={os.environ['PULSE_DB_PASSWORD']}")
    if logfile:
        args.append(f"--logfile={logfile}")
    args += [f"--log-handler={h}" for h in log_handlers]
    return args


class Server:
    """An Odoo HTTP server on one database, on 127.0.0.1 and a free port, for the time of a
    `with` block; its log (one werkzeug line per request: queries, SQL time, other time)
    in `logfile`."""

    def __init__(self, dbname, logfile, workers=0, cron_threads=0, log_handlers=()):
        self.dbname = dbname
        self.logfile = logfile
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.command = odoo_command(dbname, self.port, workers, cron_threads, logfile, log_handlers)
        self.proc = None

    def __enter__(self):
        if os.path.exists(self.logfile):
            os.remove(self.logfile)
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"odoo stopped at start, see {self.logfile}")
            try:
                if requests.get(f"{self.base}/web/health", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"odoo did not answer within {SERVER_START_TIMEOUT} s")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def request_log(self):
        """{tag: (queries, sql seconds, other seconds)} of the requests made with a tag."""
        found = {}
        pattern = re.compile(r'[?&]t=([\w.-]+) HTTP/[\d.]+" \d+ - (\d+) ([\d.]+) ([\d.]+)')
        with open(self.logfile, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = pattern.search(line)
                if m:
                    found[m.group(1)] = (int(m.group(2)), float(m.group(3)), float(m.group(4)))
        return found


class Client:
    """A user's session: logged in over HTTP as the web client logs in."""

    def __init__(self, base, dbname, login, password):
        self.base = base
        self.http = requests.Session()
        info = self.rpc(
            "/web/session/authenticate", {"db": dbname, "login": login, "password": password}
        )[0]
        if not info.get("uid"):
            raise RpcError(f"{login} could not log in")
        self.uid = info["uid"]
        company = info["user_companies"]["current_company"]
        self.context = dict(info["user_context"], allowed_company_ids=[company])
        self.company_id = company

    def rpc(self, path, params, tag=None):
        """(result, seconds of the HTTP round trip). A tag goes in the query string, which a
        JSON route ignores: it finds the request's line in the server's log."""
        url = self.base + path + (f"?t={tag}" if tag else "")
        start = time.perf_counter()
        r = self.http.post(
            url,
            json={"jsonrpc": "2.0", "method": "call", "params": params, "id": 1},
            timeout=RPC_TIMEOUT,
        )
        seconds = time.perf_counter() - start
        r.raise_for_status()
        body = r.json()
        if body.get("error"):
            data = body["error"].get("data", {})
            raise RpcError(f"{path}: {data.get('name')}: {data.get('message')}")
        return body["result"], seconds

    def call(self, call, tag=None):
        """Make one call (model, method, args, kwargs); (result, seconds)."""
        model, method, args, kwargs = call
        return self.rpc(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": args, "kwargs": kwargs},
            tag,
        )

    def call_button(self, model, method, ids):
        return self.rpc(
            "/web/dataset/call_button",
            {"model": model, "method": method, "args": [ids], "kwargs": {"context": self.context}},
        )[0]


# --- evaluation of the expressions of actions and views --------------------------------
# (odoo is importable once odoo_env.bootstrap() has run: imported where used)


def eval_context(client):
    from dateutil.relativedelta import relativedelta

    from odoo.tools.safe_eval import datetime
    from odoo.tools.safe_eval import time as safe_time

    today = date.today()
    return {
        "uid": client.uid,
        "context_today": lambda: today,
        "current_date": today.isoformat(),
        "today": today.isoformat(),
        "relativedelta": relativedelta,
        "datetime": datetime,
        "time": safe_time,
        "allowed_company_ids": [client.company_id],
        "company_ids": [client.company_id],
        "context": client.context,
        "True": True,
        "False": False,
        "None": None,
    }


def evaluate(expr, ctx):
    from odoo.tools.safe_eval import safe_eval

    if not isinstance(expr, str):
        return expr
    return safe_eval(expr, dict(ctx))


def partial_context(expr, ctx):
    """A field's context as the web client evaluates it before the record is read, with the
    names of the request's context only: the keys it cannot evaluate yet (record values)
    are left out."""
    if not expr or expr.strip() == "{}":
        return {}
    try:
        tree = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError:
        return {}
    result = {}
    if not isinstance(tree, ast.Dict):
        return result
    for key, value in zip(tree.keys, tree.values, strict=True):
        names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
        if names - set(ctx):
            continue  # a record value: left out, as the web client does
        try:
            result[ast.literal_eval(key)] = evaluate(ast.unparse(value), ctx)
        except Exception:  # left out too
            continue
    return result


def always_invisible(node):
    return any(node.get(a) in ("1", "True") for a in ("invisible", "column_invisible"))


# --- field specifications --------------------------------------------------------------


def field_nodes(root):
    """The <field> nodes of a view that belong to it (not those of an inline subview)."""
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "field":
            yield child
        else:
            yield from field_nodes(child)


def parse_order(text):
    parts = []
    for item in (text or "").split(","):
        words = item.split()
        if words:
            desc = len(words) > 1 and words[1].lower() == "desc"
            parts.append(f"{words[0]} {'DESC' if desc else 'ASC'}")
    return ", ".join(parts)


def field_context(node, field, names):
    """A field's context in the specification (getFieldContextForSpec)."""
    text = node.get("context")
    if not text or text.strip() == "{}":
        return field.get("context") or None
    return partial_context(text, names) or None


def fields_spec(root, model, models, names, form=False):
    """The specification the web client sends for a view (getFieldsSpec): every field of the
    arch; a many2one with its display_name unless always invisible; an x2many with the
    fields of its inline subview (and, as invisible, those of its inline form) or of its
    widget. `names`: what a field's context may use before the record is read."""
    fields = models[model]["fields"]
    spec = {}
    for node in field_nodes(root):
        name = node.get("name")
        if name not in fields:
            continue
        field = fields[name]
        invisible = always_invisible(node)
        entry = spec.setdefault(name, {})
        ftype = field["type"]
        if ftype in ("many2one", "reference"):
            entry.setdefault("fields", {})
            if not invisible:
                entry["fields"]["display_name"] = {}
                context = field_context(node, field, names)
                if context:
                    entry["context"] = context
        elif ftype in ("one2many", "many2many") and not invisible:
            entry.update(x2many_spec(node, field, models, names))
            context = field_context(node, field, names)
            if context:
                entry["context"] = context
        for dep in WIDGET_DEPENDENCIES.get(node.get("widget"), []):
            if dep in fields and dep not in spec:
                spec[dep] = (
                    {"fields": {"display_name": {}}} if fields[dep]["type"] == "many2one" else {}
                )
    if form:
        spec.setdefault("display_name", {})
    return spec


def x2many_spec(node, field, models, names):
    comodel = field["relation"]
    subviews = {c.tag: c for c in node if isinstance(c.tag, str)}
    mode = node.get("mode", "").split(",")[0] or next(
        (t for t in ("list", "kanban") if t in subviews), None
    )
    if mode in subviews and comodel in models:
        view = subviews[mode]
        sub = {"fields": fields_spec(view, comodel, models, names)}
        if "form" in subviews:
            # the inline form's fields come in as invisible: many2ones without their name
            comodel_fields = models[comodel]["fields"]
            for name in fields_spec(subviews["form"], comodel, models, names):
                if name not in sub["fields"] and name in comodel_fields:
                    many2one = comodel_fields[name]["type"] in ("many2one", "reference")
                    sub["fields"][name] = {"fields": {}} if many2one else {}
        sub["limit"] = int(view.get("limit") or X2MANY_LIMIT)
        order = view.get("default_order")
        if not order and mode == "list":
            handle = next(
                (n.get("name") for n in field_nodes(view) if n.get("widget") == "handle"), None
            )
            order = handle and f"{handle}, id"
        sub["order"] = parse_order(order)
        return sub
    # a widget's own fields (many2many_tags: the name, and the colour if it has one)
    related = {}
    widget = node.get("widget") or ""
    if widget.startswith(("many2many_tags", "many2many_avatar", "one2many_avatar")):
        related["display_name"] = {}
        options = node.get("options")
        if options:
            try:
                color = evaluate(options, {}).get("color_field")
            except Exception:  # options the bench does not read
                color = None
            if color:
                related[color] = {}
    return {"fields": related}


def rendered(node, record, names):
    """Whether the web client renders this node of a form showing `record`: neither it nor
    an ancestor invisible, and in a notebook, on the first page shown."""
    values = {k: (v["id"] if isinstance(v, dict) and "id" in v else v) for k, v in record.items()}
    values.update(names)

    def hidden(element):
        expr = element.get("invisible")
        if not expr:
            return False
        try:
            return bool(evaluate(expr, values))
        except Exception:  # an expression the bench cannot evaluate: shown
            return False

    element = node
    while element is not None:
        if hidden(element):
            return False
        parent = element.getparent()
        if element.tag == "page" and parent is not None:
            first = next((p for p in parent if p.tag == "page" and not hidden(p)), None)
            if first is not element:
                return False
        element = parent
    return True


# --- search defaults ---------------------------------------------------------------------


def date_filter_domain(field_name, field_type, periods):
    """The domain of a date filter on its default period(s) of this year, as the web
    client's search panel builds it."""
    today = date.today()
    ranges = []
    for period in periods:
        if period == "year":
            start, end = date(today.year, 1, 1), date(today.year, 12, 31)
        elif period.endswith("quarter"):
            q = (today.month - 1) // 3
            start = date(today.year, 3 * q + 1, 1)
            end_month = 3 * q + 3
            end = date(today.year, end_month, monthrange(today.year, end_month)[1])
        else:  # this month
            start = today.replace(day=1)
            end = today.replace(day=monthrange(today.year, today.month)[1])
        if field_type == "datetime":
            left, right = f"{start} 00:00:00", f"{end} 23:59:59"
        else:
            left, right = str(start), str(end)
        ranges.append(["&", [field_name, ">=", left], [field_name, "<=", right]])
    if len(ranges) == 1:
        return ranges[0]
    return ["|"] * (len(ranges) - 1) + [leaf for r in ranges for leaf in r]


def search_items(search_root):
    """(kind, group, node) of the search view's filters and fields, with the group each
    belongs to: filters between two separators (or fields) form one group."""
    group = itertools.count()
    current = [next(group)]

    def walk(element):
        for child in element:
            if not isinstance(child.tag, str):
                continue
            if child.tag == "separator":
                current[0] = next(group)
            elif child.tag == "filter":
                yield ("filter", current[0], child)
            elif child.tag == "field":
                yield ("field", next(group), child)
                current[0] = next(group)
            elif child.tag == "group":
                current[0] = next(group)
                yield from walk(child)
                current[0] = next(group)
            else:
                yield from walk(child)

    return list(walk(search_root))


def normalize(domain):
    from odoo.osv.expression import normalize_domain

    return [list(t) if isinstance(t, tuple) else t for t in normalize_domain(list(domain))]


def and_domains(domains):
    """Domains AND-ed, each written out in prefix form as the web client's Domain does."""
    domains = [normalize(d) for d in domains if d]
    return ["&"] * (len(domains) - 1) + [leaf for d in domains for leaf in d]


def or_domains(domains):
    domains = [normalize(d) for d in domains if d]
    return ["|"] * (len(domains) - 1) + [leaf for d in domains for leaf in d]


def apply_search(search_root, fields, active, ctx):
    """(domain, group-bys, context) of the search view with these items active:
    {filter or field name: value}."""
    groups, group_bys, contexts = {}, [], []
    for kind, group, node in search_items(search_root):
        name = node.get("name")
        if name not in active:
            continue
        value = active[name]
        if kind == "field":
            if node.get("filter_domain"):
                domain = evaluate(node.get("filter_domain"), dict(ctx, self=value))
            else:
                domain = [(name, node.get("operator") or "=", value)]
            groups.setdefault(group, []).append(list(domain))
            continue
        context = evaluate(node.get("context") or "{}", ctx)
        if "group_by" in context:
            gb = context["group_by"]
            group_bys += [gb] if isinstance(gb, str) else list(gb)
            continue
        if node.get("date"):
            field_name = node.get("date")
            periods = (node.get("default_period") or "month").split(",")
            domain = date_filter_domain(field_name, fields[field_name]["type"], periods)
        else:
            domain = evaluate(node.get("domain") or "[]", ctx)
        groups.setdefault(group, []).append(list(domain))
        contexts.append(context)
    domain = and_domains([or_domains(g) for g in groups.values() if g])
    context = {}
    for c in contexts:
        context.update(c)
    return domain, group_bys, context


# --- screens -----------------------------------------------------------------------------


class Action:
    """An action as the web client loads it: its views' archs and fields, its context and
    domain, and its search view's defaults."""

    def __init__(self, client, action, views=None):
        self.client = client
        if not isinstance(action, dict):
            action = client.rpc("/web/action/load", {"action_id": action})[0]
        if not action.get("views"):
            modes = (action.get("view_mode") or "list,form").split(",")
            action["views"] = [[False, mode] for mode in modes]
        self.action = action
        self.model = action["res_model"]
        ctx = eval_context(client)
        action_context = evaluate(action.get("context") or "{}", ctx)
        self.search_defaults = {}
        self.context = {}
        for key, value in action_context.items():
            m = re.match(r"search_default_(.*)", key)
            if m:
                if value:
                    self.search_defaults[m.group(1)] = value
            elif not key.startswith("searchpanel_default_"):
                self.context[key] = value
        self.domain = evaluate(action.get("domain") or "[]", ctx) or []
        view_list = [list(v) for v in action["views"]]
        if views:
            view_list = [v for v in view_list if v[1] in views] or [[False, t] for t in views]
        search_view = action.get("search_view_id") or False
        if isinstance(search_view, list | tuple):
            search_view = search_view[0]
        view_list.append([search_view, "search"])
        self.view_types = [t for _v, t in view_list if t != "search"]
        result = client.call(
            (
                self.model,
                "get_views",
                [],
                {
                    "context": {**client.context, **self.context},
                    "views": view_list,
                    "options": {
                        "action_id": action.get("id") or False,
                        "load_filters": True,
                        "toolbar": True,
                    },
                },
            )
        )[0]
        self.models = result["models"]
        self.fields = self.models[self.model]["fields"]
        self.archs = {vt: etree.fromstring(v["arch"].encode()) for vt, v in result["views"].items()}

    def _search(self, filters=None, group_by=None):
        ctx = eval_context(self.client)
        active = dict(self.search_defaults) if filters is None else dict(filters)
        domain, group_bys, search_context = apply_search(
            self.archs["search"], self.fields, active, ctx
        )
        domain = and_domains([list(self.domain), domain])
        context = {**self.client.context, **self.context, **search_context}
        context.pop("group_by", None)
        if group_by is not None:
            group_bys = list(group_by)
        return domain, group_bys, context

    def calls(self, view_type=None, filters=None, group_by=None, res_id=None, spec_filter=None):
        """The data calls of this action's view (its first one by default) with the search
        defaults, or these `filters` ({name: value}) and `group_by`. A form's record is read
        once here, for the calls its widgets make on what it shows."""
        view_type = view_type or self.view_types[0]
        domain, group_bys, context = self._search(filters, group_by)
        arch = self.archs[view_type]
        base = eval_context(self.client)
        company = self.client.company_id
        if view_type == "form":
            names = {
                **base,
                "context": context,
                "uid": self.client.uid,
                "allowed_company_ids": [company],
                "current_company_id": company,
            }
            spec = fields_spec(arch, self.model, self.models, names, form=True)
            if spec_filter:
                spec = {k: v for k, v in spec.items() if spec_filter(k)}
            read = (
                self.model,
                "web_read",
                [[res_id]],
                {"context": {"bin_size": True, **context}, "specification": spec},
            )
            record = self.client.call(read)[0][0]
            return [read, *self._widget_calls(arch, record, context, names, spec)]
        if view_type in ("list", "kanban"):
            if group_bys:
                spec = fields_spec(arch, self.model, self.models, {**base, **context})
                return [self._read_group_call(arch, spec, domain, group_bys, context)]
            context = {**context, "current_company_id": company}
            spec = fields_spec(arch, self.model, self.models, {**base, **context})
            default = LIST_LIMIT if view_type == "list" else KANBAN_LIMIT
            limit = int(arch.get("limit") or self.action.get("limit") or default)
            return [
                (
                    self.model,
                    "web_search_read",
                    [],
                    {
                        "specification": spec,
                        "offset": 0,
                        "order": parse_order(arch.get("default_order")),
                        "limit": limit,
                        "context": {"bin_size": True, **context},
                        "count_limit": COUNT_LIMIT + 1,
                        "domain": domain,
                    },
                )
            ]
        if view_type == "pivot":
            return self._pivot_calls(arch, domain, group_bys, context)
        if view_type == "graph":
            return self._graph_calls(arch, domain, group_bys, context)
        raise ValueError(f"view type {view_type} is not replayed")

    def _widget_calls(self, arch, record, context, names, spec):
        """The calls of the form's widgets on the record shown: a domain editor counts the
        records its domain matches."""
        calls = []
        values = {
            k: (v["id"] if isinstance(v, dict) and "id" in v else v) for k, v in record.items()
        }
        for node in field_nodes(arch):
            name = node.get("name")
            if node.get("widget") != "domain" or name not in spec or not record.get(name):
                continue
            if not rendered(node, record, names):
                continue
            try:
                model = evaluate(node.get("options") or "{}", {}).get("model")
            except Exception:  # options the bench does not read
                model = None
            if not model:
                continue
            field_ctx = partial_context(node.get("context"), {**names, **values})
            try:
                domain = evaluate(record[name], {**eval_context(self.client), **field_ctx})
            except Exception:  # the editor shows the domain as invalid
                continue
            calls.append(
                (model, "search_count", [normalize(domain)], {"context": {**context, **field_ctx}})
            )
        return calls

    def count_call(self, filters=None):
        domain, _gb, context = self._search(filters, [])
        return (self.model, "search_count", [domain], {"context": context})

    def _measure(self, name):
        field = self.fields[name.split(":")[0]]
        aggregator = "count_distinct" if field["type"] == "many2one" else field.get("aggregator")
        return f"{name}:{aggregator}"

    def _group_spec(self, name):
        field = self.fields.get(name)
        if field and field["type"] in ("date", "datetime") and ":" not in name:
            return f"{name}:month"
        return name

    def _read_group_call(self, arch, spec, domain, group_bys, context):
        aggregates = [
            f"{name}:{self.fields[name]['aggregator']}"
            for name in self.fields
            if name in spec
            and self.fields[name].get("aggregator")
            and name != group_bys[0].split(":")[0]
        ]
        return (
            self.model,
            "web_read_group",
            [],
            {
                "orderby": "",
                "lazy": True,
                "offset": 0,
                "limit": int(arch.get("groups_limit") or GROUP_LIMIT),
                "context": context,
                "groupby": [self._group_spec(group_bys[0])],
                "domain": domain,
                "fields": aggregates,
            },
        )

    def _pivot_calls(self, arch, domain, group_bys, context):
        rows, cols, measures = [], [], []
        for node in arch.iter("field"):
            if always_invisible(node):
                continue
            name = node.get("name") + (f":{node.get('interval')}" if node.get("interval") else "")
            if node.get("type") == "measure" or node.get("operator"):
                measures.append(name)
            elif node.get("type") == "col":
                cols.append(name)
            elif node.get("type") == "row":
                rows.append(name)
        if not measures or arch.get("display_quantity") in ("1", "True", "true"):
            measures.insert(0, "__count")
        rows = context.get("pivot_row_groupby") or group_bys or rows
        cols = context.get("pivot_column_groupby") or cols
        specs = [m if m == "__count" else self._measure(m) for m in measures]
        calls, seen = [], set()
        rows = [self._group_spec(r) for r in rows]
        cols = [self._group_spec(c) for c in cols]
        for left in (rows[:i] for i in range(len(rows) + 1)):
            for right in (cols[:i] for i in range(len(cols) + 1)):
                groupby = list(dict.fromkeys(left + right))
                key = tuple(groupby)
                if key in seen:
                    continue
                seen.add(key)
                calls.append(
                    (
                        self.model,
                        "read_group",
                        [],
                        {
                            "lazy": False,
                            "context": context,
                            "domain": domain,
                            "fields": specs,
                            "groupby": groupby,
                        },
                    )
                )
        # the table's total first: an empty table is not divided further
        total = self.client.call(calls[0])[0]
        if not total or not total[0].get("__count"):
            return calls[:1]
        return calls

    def _graph_calls(self, arch, domain, group_bys, context):
        arch_group_bys, measure = [], "__count"
        for node in arch.iter("field"):
            if always_invisible(node):
                continue
            if node.get("type") == "measure":
                measure = node.get("name")
            else:
                name = node.get("name")
                arch_group_bys.append(
                    name + (f":{node.get('interval')}" if node.get("interval") else "")
                )
        group_bys = context.get("graph_groupbys") or group_bys or arch_group_bys
        measures = ["__count"] + ([] if measure == "__count" else [self._measure(measure)])
        return [
            (
                self.model,
                "web_read_group",
                [],
                {
                    "lazy": False,
                    "context": {"fill_temporal": True, **context},
                    "groupby": [self._group_spec(g) for g in group_bys],
                    "domain": domain,
                    "fields": measures,
                },
            )
        ]
