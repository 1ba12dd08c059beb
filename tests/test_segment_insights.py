from ast import literal_eval
from datetime import date, timedelta

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import PulseFactsCase


@tagged("post_install", "-at_install")
class TestSegmentInsights(PulseFactsCase):
    """Affinity and recommendations, key figures and forecast, size history, RFM
    migration, mailing-list sync and the actions on a segment's members."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Segment = cls.env["pulse.segment"]
        all_categ = cls.env.ref("product.product_category_all")
        cls.categs = cls.env["product.category"].create(
            [{"name": name, "parent_id": all_categ.id} for name in ("Beans", "Grinders", "Cups")]
        )
        cls.items = cls.env["product.product"].create(
            [
                {
                    "name": f"{categ.name} item",
                    "list_price": 10.0,
                    "type": "consu",
                    "categ_id": categ.id,
                    "taxes_id": [],
                }
                for categ in cls.categs
            ]
        )
        cls.people = cls.env["res.partner"].create(
            [{"name": f"Buyer {i}", "email": f"buyer{i}@pulse.example"} for i in range(6)]
        )

    @classmethod
    def buy(cls, partner, day, products, price=10.0):
        order = cls.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "order_line": [
                    Command.create(
                        {
                            "product_id": p.id,
                            "product_uom_qty": 1,
                            "price_unit": price,
                            "tax_id": [],
                        }
                    )
                    for p in products
                ],
            }
        )
        order.action_confirm()
        order.date_order = f"{day} 10:00:00"
        return order

    def members(self, segment):
        return segment.member_ids.filtered(lambda m: not m.date_left).partner_id

    # ---------------------------------------------------------------- affinity
    def test_affinity_and_recommendations(self):
        beans, grinders, cups = self.items
        b0, b1, b2, b3 = self.people[:4]
        self.buy(b0, "2026-01-05", beans | grinders)
        self.buy(b1, "2026-01-06", beans | grinders)
        self.buy(b2, "2026-01-07", beans | grinders | cups)
        self.buy(b3, "2026-01-08", beans)  # only beans: grinders go with beans
        self.Facts._refresh_all()
        Affinity = self.env["pulse.category.affinity"]
        pair = Affinity.search(
            [("categ_id", "=", self.categs[0].id), ("other_categ_id", "=", self.categs[1].id)]
        )
        self.assertEqual(pair.customer_count, 3)
        self.assertEqual(pair.base_count, 4)
        self.assertAlmostEqual(pair.confidence, 75.0)
        self.assertAlmostEqual(pair.lift, 1.0)  # every grinder buyer bought beans
        # a pair bought by one customer only is not a pattern
        self.assertFalse(
            Affinity.search(
                [("categ_id", "=", self.categs[0].id), ("other_categ_id", "=", self.categs[2].id)]
            )
        )
        self.assertEqual(b3.pulse_recommended_categ_ids, self.categs[1])
        self.assertFalse(b0.pulse_recommended_categ_ids)  # nothing strong enough left
        self.assertFalse(self.categs[0] & b3.pulse_recommended_categ_ids, "bought: not advised")
        # "interested in grinders": the buyers and b3, to whom they are recommended
        Partner = self.env["res.partner"]
        interested = Partner.search([("pulse_interest_categ_ids", "in", self.categs[1].ids)])
        self.assertEqual(interested & self.people, b0 | b1 | b2 | b3)
        self.assertEqual(
            Partner.search([("pulse_recommended_categ_ids", "child_of", self.categs.ids)])
            & self.people,
            b3,
        )
        # b3 buys a grinder: the incremental refresh updates their recommendation at once
        self.buy(b3, "2026-02-01", grinders)
        self.Facts._refresh_queue()
        b3.invalidate_recordset()
        self.assertFalse(b3.pulse_recommended_categ_ids)
        self.assertIn(self.categs[1], b3.pulse_category_ids)

    def test_category_template_segment(self):
        beans = self.items[0]
        today = date.today()
        self.buy(self.people[0], today - timedelta(days=100), beans)
        self.buy(self.people[1], today - timedelta(days=400), beans)
        self.Facts._refresh_all()
        template = self.env.ref("customer_pulse.segment_category_template")
        mine = template.copy({"name": "Bought beans in the last year"})
        self.assertFalse(mine.is_builtin, "a copy is the user's own")
        all_id = self.env.ref("product.product_category_all").id
        mine.domain = mine.domain.replace(f"[{all_id}]", f"[{self.categs[0].id}]")
        mine._refresh_members()
        self.assertEqual(self.members(mine) & self.people, self.people[0])
        template._refresh_members()
        self.assertIn(self.people[0], self.members(template))
        self.assertNotIn(self.people[1], self.members(template))

    # ------------------------------------------------------- KPIs and forecast
    def test_kpis_and_forecast(self):
        today = date.today()
        a, b, c = self.people[:3]
        for days in (60, 30, 10):  # rhythm 25 days, last order 10 days ago
            self.make_order(a, today - timedelta(days=days))
        for days in (530, 500):  # rhythm 30 days but silent for 500: stopped
            self.make_order(b, today - timedelta(days=days))
        order = self.make_order(c, today - timedelta(days=100), price=200.0)  # one order
        self.make_invoice(order, today - timedelta(days=100))
        self.Facts._refresh_all()
        segment = self.Segment.create(
            {
                "name": "Hand-built",
                "kind": "static",
                "static_partner_ids": [Command.set((a | b | c).ids)],
            }
        )
        segment._refresh_members()
        self.assertEqual(segment.member_count, 3)
        # a: 90 / 25 = 3.6 orders of 100; b: none; c: 1 order a year -> 90/365 of 200
        self.assertAlmostEqual(segment.kpi_forecast_orders, 3.8, places=1)
        self.assertAlmostEqual(segment.kpi_forecast_revenue, 360 + 200 * 90 / 365, places=2)
        self.assertAlmostEqual(segment.kpi_avg_order_value, 700 / 6, places=2)
        self.assertAlmostEqual(segment.kpi_orders_per_member_year, 4 / 3, places=2)
        self.assertAlmostEqual(segment.kpi_revenue, 200)
        self.assertAlmostEqual(segment.kpi_revenue_share, 100.0)  # the only invoice
        kpi = self.env["pulse.segment.kpi"].search([("segment_id", "=", segment.id)])
        self.assertEqual(kpi.member_count, 3)

    def test_key_figures_stored_with_each_refresh(self):
        """The key figures are those of the members of the last refresh, as their facts
        stood then: stored with the refresh, read by the form and the dashboard alike (one
        row), followed by the next refresh; an archived segment has none."""
        today = date.today()
        a, b = self.people[:2]
        self.make_order(a, today - timedelta(days=40), price=100.0)
        self.make_order(b, today - timedelta(days=20), price=300.0)
        self.Facts._refresh_all()
        segment = self.Segment.create(
            {"name": "Pair", "kind": "static", "static_partner_ids": [Command.set((a | b).ids)]}
        )
        Kpi = self.env["pulse.segment.kpi"]
        self.assertEqual(Kpi.search([("segment_id", "=", segment.id)]).member_count, 0)
        segment._refresh_members()
        self.assertEqual((segment.member_count, segment.kpi_avg_order_value), (2, 200))
        kpi = Kpi.search([("segment_id", "=", segment.id)])
        self.assertEqual((kpi.member_count, kpi.avg_order_value), (2, 200))
        # a's new order: the facts follow at once, the figures at the next refresh
        self.make_order(a, today - timedelta(days=1), price=500.0)
        self.Facts._refresh_queue()
        segment.invalidate_recordset()
        self.assertEqual(segment.kpi_avg_order_value, 200)
        segment._refresh_members()
        self.assertAlmostEqual(segment.kpi_avg_order_value, 900 / 3, places=2)
        self.assertAlmostEqual(kpi.avg_order_value, 900 / 3, places=2)
        segment.static_partner_ids = [Command.set(a.ids)]
        segment._refresh_members()
        self.assertEqual((segment.member_count, kpi.member_count), (1, 1))
        self.assertEqual(segment.member_count, len(self.members(segment)))
        segment.active = False
        segment.invalidate_recordset()
        self.assertFalse(Kpi.search([("segment_id", "=", segment.id)]))
        self.assertEqual(segment.kpi_avg_order_value, 0)

    def test_category_totals_follow_the_facts(self):
        """Customers by product category grouped as the pivot opens (by category, company or
        day of last purchase) reads the totals kept with the facts: the same figures as the
        customers' rows added up, after a full refresh, an incremental one (a new category,
        a customer whose only order was cancelled) and a facts row deleted by a merge."""
        Stats = self.env["pulse.partner.category.stats"].with_user(self.pulse_user)
        beans, grinders, cups = self.items
        self.buy(self.people[0], "2026-01-05", beans | grinders)
        self.buy(self.people[1], "2026-02-10", beans, price=25.0)
        gone = self.buy(self.people[2], "2026-03-15", cups)
        self.Facts._refresh_all()
        aggregates = ["__count", "order_count:sum", "quantity:sum", "amount:sum"]
        readings = [
            ([], ["categ_id"]),
            ([], []),
            ([("last_date", ">=", "2026-02-01")], ["last_date:month", "categ_id"]),
            ([("categ_id", "child_of", self.categs[0].id)], ["company_id"]),
        ]

        def check(expected_beans):
            for domain, groupby in readings:
                with self.subTest(domain=domain, groupby=groupby):
                    self.assertTrue(Stats._reads_totals(domain, groupby, aggregates))
                    live = Stats.with_context(pulse_category_totals=False)
                    self.assertEqual(
                        Stats._read_group(domain, groupby, aggregates),
                        live._read_group(domain, groupby, aggregates),
                    )
            by_categ = {
                categ: (customers, amount)
                for categ, customers, amount in Stats._read_group(
                    [], ["categ_id"], ["__count", "amount:sum"]
                )
            }
            self.assertEqual(by_categ.get(self.categs[0]), expected_beans)
            self.env.cr.execute(
                "SELECT COUNT(*) FROM pulse_category_total WHERE customer_count = 0"
            )
            self.assertEqual(self.env.cr.fetchone()[0], 0)

        check((2, 35))
        # a grouping the totals do not keep reads the customers' rows
        self.assertFalse(Stats._reads_totals([], ["partner_id"], aggregates))
        self.assertFalse(Stats._reads_totals([("partner_id", "!=", False)], [], aggregates))
        self.assertFalse(Stats._reads_totals([], ["categ_id"], ["rank:sum"]))
        self.buy(self.people[1], "2026-04-01", grinders | beans)
        gone._action_cancel()
        self.Facts._refresh_queue()
        check((2, 45))
        self.assertNotIn(
            self.categs[2], Stats.search([]).categ_id, "the cancelled order's category left"
        )
        # a merge deletes the merged customer's facts row (the partner goes with it)
        self.env.cr.execute(
            "DELETE FROM pulse_partner_stats WHERE partner_id = %s", [self.people[0].id]
        )
        Stats.invalidate_model()
        check((1, 35))
        self.Facts._refresh_all()
        check((2, 45))

    def test_size_history(self):
        solo = self.people[0]
        segment = self.Segment.create(
            {
                "name": "Size",
                "kind": "static",
                "static_partner_ids": [Command.set(self.people[:3].ids)],
            }
        )
        today = date.today()
        with freeze_time(today - timedelta(days=5)):
            segment._refresh_members()
        with freeze_time(today - timedelta(days=2)):
            segment.static_partner_ids = [Command.unlink(solo.id)]
            segment._refresh_members()
        self.env.flush_all()
        sizes = {
            s.date: (s.member_count, s.entered, s.left)
            for s in self.env["pulse.segment.size"].search([("segment_id", "=", segment.id)])
        }
        self.assertEqual(len(sizes), 6)  # one row a day from the first entry to today
        self.assertEqual(sizes[today - timedelta(days=5)], (3, 3, 0))
        self.assertEqual(sizes[today - timedelta(days=3)], (3, 0, 0))
        self.assertEqual(sizes[today - timedelta(days=2)], (2, 0, 1))
        self.assertEqual(sizes[today], (2, 0, 0))

    # ----------------------------------------------------------- RFM migration
    def test_previous_rfm_equals_a_refresh_thirty_days_ago(self):
        """The segment computed for 30 days ago is the one a full refresh made that day."""
        plans = [(400, 300), (200, 120, 60, 40), (35,), (90, 80, 70, 45, 40, 33), (500,), ()]
        later = [(20,), (), (10, 5), (), (), (3,)]
        today = date(2026, 6, 15)
        for partner, days in zip(self.people, plans, strict=True):
            for d in days:
                self.make_order(partner, today - timedelta(days=d))
        with freeze_time(today - timedelta(days=30)):
            self.Facts._refresh_all()
            then = {s.partner_id: s.rfm_segment for s in self.Stats.search([])}
        for partner, days in zip(self.people, later, strict=True):
            for d in days:
                self.make_order(partner, today - timedelta(days=d))
        with freeze_time(today):
            self.Facts._refresh_all()
            now = {s.partner_id: s for s in self.Stats.search([])}
        for partner in self.people:
            self.assertEqual(now[partner].rfm_segment_previous or False, then.get(partner, False))
        self.assertFalse(now[self.people[5]].rfm_segment_previous, "not a customer then")
        self.assertTrue(self.env.ref("customer_pulse.action_pulse_rfm_migration"))

    # ------------------------------------------------------------ mailing list
    def test_mailing_list_sync_respects_opt_out_and_blacklist(self):
        mailing_list = self.env["mailing.list"].create({"name": "Segment list"})
        keen, leaver, blacklisted, opted_out = self.people[:4]
        company = self.env["res.partner"].create({"name": "No Mail Inc", "is_company": True})
        self.env["res.partner"].create(
            {"name": "Buyer at No Mail", "parent_id": company.id, "email": "buyer@nomail.example"}
        )
        self.env["mail.blacklist"]._add(blacklisted.email)
        Contact = self.env["mailing.contact"]
        Contact.create(
            {
                "email": opted_out.email,
                "subscription_ids": [Command.create({"list_id": mailing_list.id, "opt_out": True})],
            }
        )
        stranger = Contact.create({"email": "stranger@pulse.example", "list_ids": mailing_list.ids})
        segment = self.Segment.create(
            {
                "name": "Listed",
                "kind": "static",
                "mailing_list_id": mailing_list.id,
                "static_partner_ids": [
                    Command.set((keen | leaver | blacklisted | opted_out | company).ids)
                ],
            }
        )
        segment._refresh_safely()

        def subscribed():
            mailing_list.invalidate_recordset()
            subs = mailing_list.subscription_ids
            return set(subs.filtered(lambda s: not s.opt_out).contact_id.mapped("email_normalized"))

        self.assertEqual(
            subscribed(), {keen.email, leaver.email, "buyer@nomail.example"}, "no blacklisted"
        )
        opted = mailing_list.subscription_ids.filtered("opt_out")
        self.assertEqual(opted.contact_id.email, opted_out.email, "the opt-out is kept")
        self.assertFalse(stranger.exists().subscription_ids, "not a member: removed")
        self.assertEqual(segment._sync_mailing_list(), (0, 0), "idempotent")
        # a member leaves; a blacklisted customer is never subscribed again
        segment.static_partner_ids = [Command.unlink(leaver.id)]
        segment._refresh_safely()
        self.assertEqual(subscribed(), {keen.email, "buyer@nomail.example"})
        self.env["mail.blacklist"]._add(keen.email)
        self.assertEqual(segment._sync_mailing_list(), (0, 1))
        self.assertEqual(len(mailing_list.subscription_ids.filtered("opt_out")), 1)

    def test_mailing_list_leaves_out_who_objects_to_profiling(self):
        """Attack: a customer objected to profiling, yet a segment's list kept mailing them."""
        mailing_list = self.env["mailing.list"].create({"name": "Segment list"})
        keen, objector = self.people[:2]
        segment = self.Segment.create(
            {
                "name": "Listed",
                "kind": "static",
                "mailing_list_id": mailing_list.id,
                "static_partner_ids": [Command.set((keen | objector).ids)],
            }
        )
        segment._refresh_safely()
        emails = lambda: set(  # noqa: E731
            mailing_list.subscription_ids.filtered(lambda s: not s.opt_out).contact_id.mapped(
                "email_normalized"
            )
        )
        self.assertEqual(emails(), {keen.email, objector.email})
        objector.sudo().write({"pulse_profiling_objection": True})
        segment._sync_mailing_list()
        mailing_list.invalidate_recordset()
        self.assertEqual(emails(), {keen.email}, "an objection unsubscribes")
        segment._sync_mailing_list()
        mailing_list.invalidate_recordset()
        self.assertEqual(emails(), {keen.email}, "and never subscribes again")

    def test_mailing_list_created_from_segment_and_access(self):
        segment = self.Segment.create(
            {
                "name": "From segment",
                "kind": "static",
                "static_partner_ids": [Command.set(self.people[:2].ids)],
            }
        )
        segment._refresh_members()
        with self.assertRaises(AccessError):
            segment.with_user(self.pulse_user).action_create_mailing_list()
        segment.with_user(self.pulse_marketer).action_create_mailing_list()
        self.assertEqual(segment.mailing_list_id.name, "From segment")
        self.assertEqual(segment.mailing_list_id.contact_count, 2)
        action = segment.action_mass_mailing()
        self.assertEqual(action["context"]["default_contact_list_ids"], segment.mailing_list_id.ids)
        segment.mailing_list_id = False
        with self.assertRaises(UserError):
            segment.action_sync_mailing_list()
        action = segment.action_mass_mailing()
        mailing = (
            self.env["mailing.mailing"]
            .with_context(**action["context"])
            .create({"subject": "Come back", "body_html": "<p>Hello</p>"})
        )
        self.assertEqual(
            self.env["res.partner"].search(mailing._get_recipients_domain()), self.people[:2]
        )
        sms = segment.action_send_sms()
        self.assertEqual(literal_eval(sms["context"]["default_res_ids"]), self.people[:2].ids)

    # -------------------------------------------------------------- activities
    def test_activity_wizard_assigns_salespeople(self):
        seller = self.pulse_marketer
        with_seller, without = self.people[:2]
        with_seller.user_id = seller
        segment = self.Segment.create(
            {
                "name": "Call them",
                "kind": "static",
                "static_partner_ids": [Command.set((with_seller | without).ids)],
            }
        )
        segment._refresh_members()
        call = self.env.ref("mail.mail_activity_data_call")
        wizard = (
            self.env["pulse.segment.activity"]
            .with_user(self.pulse_user)
            .create({"segment_id": segment.id, "activity_type_id": call.id, "summary": "Win back"})
        )
        wizard.action_apply()
        activities = self.env["mail.activity"].search(
            [("res_model", "=", "res.partner"), ("res_id", "in", self.people.ids)]
        )
        self.assertEqual(len(activities), 2)
        by_partner = {a.res_id: a.user_id for a in activities}
        self.assertEqual(by_partner[with_seller.id], seller)
        self.assertEqual(by_partner[without.id], self.pulse_user, "the fallback: who asked")
        wizard.action_apply()  # already open: not doubled
        self.assertEqual(
            self.env["mail.activity"].search_count(
                [("res_model", "=", "res.partner"), ("res_id", "in", self.people.ids)]
            ),
            2,
        )
        wizard.fallback_user_id = False
        wizard.skip_existing = False
        with self.assertRaises(UserError):
            wizard.action_apply()
        empty = self.Segment.create({"name": "Empty", "kind": "static"})
        with self.assertRaises(UserError):
            self.env["pulse.segment.activity"].create(
                {"segment_id": empty.id, "activity_type_id": call.id}
            ).action_apply()

    # ------------------------------------------------------------------ access
    def test_reports_access_and_companies(self):
        self.buy(self.people[0], "2026-01-05", self.items[:2])
        self.buy(self.people[1], "2026-01-05", self.items[:2])
        self.Facts._refresh_all()
        for model in ("pulse.category.affinity", "pulse.segment.kpi", "pulse.segment.size"):
            self.env[model].with_user(self.pulse_user).search([])
            with self.assertRaises(AccessError):
                self.env[model].with_user(self.portal_user).search([])
        affinity = self.env["pulse.category.affinity"]
        self.assertTrue(affinity.with_user(self.pulse_user).search([]))
        company_b = self.env["res.company"].create({"name": "Affinity B"})
        self.env.cr.execute("UPDATE pulse_category_affinity SET company_id = %s", [company_b.id])
        affinity.invalidate_model()
        self.assertFalse(affinity.with_user(self.pulse_user).search([]))
