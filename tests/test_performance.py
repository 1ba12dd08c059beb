"""Query counts of what a user feels: opening a customer's pulse card, the Customers list,
a segment form, one batch of the rule engine. The counts are today's: a change that adds
queries fails here (one that saves some is logged by Odoo, then lower the count)."""

import re
from contextlib import closing

from freezegun import freeze_time
from lxml import etree

from odoo.tests import tagged, users, warmup

from ..models.pulse_step_run import MIN_BATCH
from .common import PulseFactsCase

CUSTOMERS = 12  # customers with history, more than one of each kind of row on a page
LIST_PAGE = 80  # the web client's first page
# one batch of emails, savepoints aside, whatever its size: the template rendered once, the
# emails, their links and traces inserted once each, the runs and enrolments updated together
# (a batch after the rule's first one: its tracking mailing made, the caches warm)
ENGINE_BATCH_QUERIES = 29
SAVEPOINT = re.compile(r"\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT) ")


@tagged("post_install", "-at_install")
class TestPerformance(PulseFactsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.buyers = cls.env["res.partner"]
        with freeze_time("2026-03-01"):
            for i in range(CUSTOMERS):
                buyer = cls.make_customer(f"Perf Buyer {i}", email=f"perf{i}@pulse.example")
                for day in ("2025-06-02", "2025-11-03", "2026-01-05"):
                    invoice = cls.make_invoice(cls.make_order(buyer, day, qty=i + 1), day)
                    if i % 2:
                        cls.pay(invoice, day)
                cls.buyers |= buyer
            cls.Facts._refresh_all()
            cls.segment = cls.env["pulse.segment"].create(
                {"name": "Perf buyers", "domain": "[('name', 'ilike', 'Perf Buyer')]"}
            )
            cls.segment._refresh_safely()
        cls.buyer = cls.buyers[-1]

    # ------------------------------------------------------------------ helpers
    def view_spec(self, model, view_type, xpath):
        """The web_read specification of the fields under `xpath` in the user's view:
        relational fields with their display name, as the web client asks."""
        Model = self.env[model]
        arch = Model.get_views([(False, view_type)])["views"][view_type]["arch"]
        spec = {}
        for node in etree.fromstring(arch).xpath(xpath):
            field = Model._fields[node.get("name")]
            spec[field.name] = {"fields": {"display_name": {}}} if field.relational else {}
        return spec

    # ------------------------------------------------------------------ tests
    @users("pulse_accountant", "pulse_user")
    @warmup
    def test_open_pulse_card(self):
        """The pulse card on a customer's form: facts, segments, categories, profile,
        follow-up."""
        spec = self.view_spec("res.partner", "form", "//div[@name='pulse_card']//field")
        self.assertIn("pulse_last_order_date", spec)
        partner = self.env["res.partner"].browse(self.buyer.id)
        with self.assertQueryCount(pulse_accountant=16, pulse_user=16):
            partner.web_read(spec)

    @users("pulse_accountant", "pulse_user")
    @warmup
    def test_customers_list(self):
        """The first page of the Customers list."""
        spec = self.view_spec("pulse.partner.stats", "list", "/list/field")
        Stats = self.env["pulse.partner.stats"]
        with self.assertQueryCount(pulse_accountant=5, pulse_user=5):
            page = Stats.web_search_read([], spec, limit=LIST_PAGE)
        self.assertGreaterEqual(page["length"], CUSTOMERS)

    @users("pulse_manager", "pulse_marketer")
    @warmup
    def test_segment_form(self):
        """A segment's form with its key figures."""
        spec = self.view_spec("pulse.segment", "form", "/form//field[not(ancestor::field)]")
        self.assertIn("kpi_forecast_orders", spec)
        segment = self.env["pulse.segment"].browse(self.segment.id)
        with self.assertQueryCount(pulse_manager=8, pulse_marketer=8):
            segment.web_read(spec)


@tagged("post_install", "-at_install")
class TestEnginePerformance(PulseFactsCase):
    """One batch of the rule engine reads and writes with the same queries for 5 emails as
    for 20, savepoints included."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].set_param("customer_pulse.cap_touches", 0)

    def email_batch_queries(self, count):
        """(queries, savepoint statements) of the engine's batch that sends a rule's email
        to `count` enrolled customers, once its first batch has run (its tracking mailing
        made, the caches the setup cleared read again), all undone afterwards."""
        with closing(self.cr.savepoint(flush=False)):
            queries = self._email_batch_queries(count)
        self.env.invalidate_all()
        return queries

    def _email_batch_queries(self, count):
        Engine = self.env["pulse.rule.engine"]
        with freeze_time("2026-01-10 09:00:00"):
            partners = self.env["res.partner"].create(
                [
                    {"name": f"Lapsed {count} {i}", "email": f"lapsed{count}_{i}@pulse.example"}
                    for i in range(count + MIN_BATCH)
                ]
            )
            for partner in partners:
                self.make_order(partner, "2024-06-01")
            self.Facts._refresh_all()
            rule = self.make_rule(name=f"Perf rule {count}")
            rule.action_start()
            Engine._enrol_all()
            runs = self.env["pulse.step.run"].search([("rule_id", "=", rule.id)])
            self.assertEqual(len(runs), count + MIN_BATCH)
            self.assertEqual(Engine._process_due(limit=MIN_BATCH), MIN_BATCH)  # the first batch
            self.env.flush_all()
            self.env.invalidate_all()
            # the queries, as Odoo's cursor logs them in debug
            with self.assertLogs("odoo.sql_db", "DEBUG") as logs:
                done = Engine._process_due(limit=count)
                self.env.flush_all()
        self.assertEqual(done, count)
        self.assertEqual(set(runs.mapped("state")), {"done"})
        statements = [line.split("query: ", 1)[1] for line in logs.output if "query: " in line]
        savepoints = [q for q in statements if SAVEPOINT.match(q)]
        return len(statements) - len(savepoints), len(savepoints)

    def test_engine_batch_does_not_grow_with_runs(self):
        self.email_batch_queries(2)  # warm the caches (templates, rules, access)
        few, few_savepoints = self.email_batch_queries(5)
        many, many_savepoints = self.email_batch_queries(20)
        self.assertEqual((few, many), (ENGINE_BATCH_QUERIES, ENGINE_BATCH_QUERIES))
        # a savepoint (SAVEPOINT, RELEASE) for the batch and one for its rendering; the checks
        # take none per run
        self.assertEqual((few_savepoints, many_savepoints), (4, 4))
