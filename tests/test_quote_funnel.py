from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase


class QuoteCase(TransactionCase):
    """Salespeople, a customer and a product; quotations issued and confirmed on chosen
    days, with the chatter's tracking (each step in a transaction of its own, as in the
    browser)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.currency = cls.company.currency_id
        sales = "base.group_user,customer_pulse.group_pulse_user"
        cls.alice = new_test_user(cls.env, login="funnel_alice", name="Alice", groups=sales)
        cls.bob = new_test_user(cls.env, login="funnel_bob", name="Bob", groups=sales)
        cls.manager = new_test_user(
            cls.env,
            login="funnel_manager",
            groups="base.group_user,customer_pulse.group_pulse_manager",
        )
        cls.team = cls.env["crm.team"].create(
            {"name": "Funnel team", "user_id": cls.manager.id, "member_ids": [cls.alice.id]}
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Funnel Customer", "email": "buyer@funnel.example"}
        )
        cls.product = cls.env["product.product"].create(
            {"name": "Funnel widget", "list_price": 100.0, "taxes_id": []}
        )

    def flush_tracking(self):
        """End of a request: the tracking of what changed becomes a chatter message."""
        self.env.flush_all()
        self.env.cr.precommit.run()

    def quote(self, user, issued, price=100.0, **vals):
        """A quotation of ``user`` issued at ``issued`` (its creation date and, as Odoo sets
        it on creation, its order date)."""
        with freeze_time(issued):
            order = self.env["sale.order"].create(
                {
                    "partner_id": self.customer.id,
                    "user_id": user.id if user else False,
                    "order_line": [
                        Command.create(
                            {"product_id": self.product.id, "price_unit": price, "tax_id": []}
                        )
                    ],
                    **vals,
                }
            )
            self.flush_tracking()
        # the transaction's timestamp is the ORM's creation date: set it as the browser would
        self.env.cr.execute(
            "UPDATE sale_order SET create_date = %s WHERE id = %s", [issued, order.id]
        )
        order.invalidate_recordset(["create_date"])
        return order

    def confirm(self, order, when):
        with freeze_time(when):
            order.action_confirm()
            self.flush_tracking()

    def mark_sent(self, order, when):
        with freeze_time(when):
            order.action_quotation_sent()
            self.flush_tracking()

    def email_quote(self, order, when):
        """Send by email, as the composer does: the message to the customer marks it sent
        (without tracking: Odoo writes that status silently)."""
        with freeze_time(when):
            order.with_context(mark_so_as_sent=True).message_post(
                body="Your quotation",
                partner_ids=self.customer.ids,
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
            )
            self.flush_tracking()

    def cancel(self, order, when):
        with freeze_time(when):
            order._action_cancel()
            self.flush_tracking()

    def funnel(self, user=None, domain=(), groupby=("user_id",), env=None):
        Funnel = (env or self.env)["pulse.quote.funnel"]
        if user is not None:
            Funnel = Funnel.with_user(user)
        fields = ["issued:sum", "sent:sum", "confirmed:sum", "lost:sum", "conversion:avg"]
        return Funnel.read_group(list(domain), fields, list(groupby), lazy=False)


@tagged("post_install", "-at_install")
class TestQuoteFunnel(QuoteCase):
    def test_january_quote_confirmed_in_february_counts_in_january(self):
        order = self.quote(self.alice, "2024-01-20 09:00:00")
        self.confirm(order, "2024-02-10 15:00:00")
        # Odoo overwrote the order date with the confirmation date
        self.assertEqual(str(order.date_order), "2024-02-10 15:00:00")
        row = self.env["pulse.quote.funnel"].search([("order_id", "=", order.id)])
        self.assertEqual(str(row.issue_date), "2024-01-20 09:00:00")
        self.assertEqual(str(row.confirmation_date), "2024-02-10 15:00:00")
        self.assertAlmostEqual(row.days_to_confirm, 21.25)
        months = self.funnel(domain=[("user_id", "=", self.alice.id)], groupby=["issue_date:month"])
        self.assertEqual(len(months), 1, "one cohort: the month of issue")
        self.assertEqual(months[0]["issue_date:month"], "January 2024")
        self.assertEqual(
            (months[0]["issued"], months[0]["confirmed"], months[0]["conversion"]), (1, 1, 100)
        )

    def test_confirmation_date_from_tracking_not_the_order_date(self):
        """The order date can be changed after the confirmation (as imports and history
        fixes do): the confirmation date is the tracked one."""
        order = self.quote(self.alice, "2024-01-05 09:00:00")
        self.confirm(order, "2024-01-25 09:00:00")
        order.date_order = "2024-03-01 00:00:00"
        self.flush_tracking()
        row = self.env["pulse.quote.funnel"].search([("order_id", "=", order.id)])
        self.assertEqual(str(row.confirmation_date), "2024-01-25 09:00:00")
        self.assertAlmostEqual(row.days_to_confirm, 20)

    def test_untracked_confirmed_order_uses_its_order_date(self):
        """Orders confirmed without tracking (imports, generated history) fall back to the
        order date, which Odoo sets on confirmation."""
        order = self.quote(self.alice, "2024-04-01 09:00:00")
        order.with_context(tracking_disable=True).action_confirm()
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE sale_order SET date_order = '2024-04-03 09:00:00' WHERE id = %s", [order.id]
        )
        self.env.invalidate_all()
        row = self.env["pulse.quote.funnel"].search([("order_id", "=", order.id)])
        self.assertEqual(str(row.confirmation_date), "2024-04-03 09:00:00")
        self.assertAlmostEqual(row.days_to_confirm, 2)

    def test_conversion_per_salesperson_matches_hand_count(self):
        # Alice: 5 quotations in March — 2 confirmed (one in April), 1 cancelled,
        # 1 expired (past its validity), 1 still open
        a1 = self.quote(self.alice, "2024-03-01 10:00:00")
        self.mark_sent(a1, "2024-03-02 10:00:00")
        self.confirm(a1, "2024-03-05 10:00:00")
        a2 = self.quote(self.alice, "2024-03-10 10:00:00")
        self.email_quote(a2, "2024-03-11 10:00:00")
        self.confirm(a2, "2024-04-09 10:00:00")
        a3 = self.quote(self.alice, "2024-03-12 10:00:00")
        self.cancel(a3, "2024-03-20 10:00:00")
        self.quote(self.alice, "2024-03-15 10:00:00", validity_date="2024-04-15")
        self.quote(self.alice, "2024-03-20 10:00:00", validity_date=False)
        # Bob: 3 quotations in March, 1 confirmed; and one in April, open
        b1 = self.quote(self.bob, "2024-03-03 10:00:00", price=300.0)
        self.confirm(b1, "2024-03-04 10:00:00")
        self.quote(self.bob, "2024-03-04 10:00:00", validity_date=False)
        self.quote(self.bob, "2024-03-05 10:00:00", validity_date=False)
        self.quote(self.bob, "2024-04-05 10:00:00", validity_date=False)

        march = [
            ("issue_date", ">=", "2024-03-01"),
            ("issue_date", "<", "2024-04-01"),
            ("user_id", "in", (self.alice | self.bob).ids),
        ]
        by_user = {g["user_id"][0]: g for g in self.funnel(domain=march)}
        alice, bob = by_user[self.alice.id], by_user[self.bob.id]
        self.assertEqual(
            (alice["issued"], alice["sent"], alice["confirmed"], alice["lost"]), (5, 2, 2, 2)
        )
        self.assertAlmostEqual(alice["conversion"], 100 * 2 / 5)
        self.assertEqual((bob["issued"], bob["confirmed"], bob["lost"]), (3, 1, 0))
        self.assertAlmostEqual(bob["conversion"], 100 * 1 / 3)
        # the rate of the total is confirmed / issued of the total, not a mean of rates
        (total,) = self.funnel(domain=march, groupby=[])
        self.assertAlmostEqual(total["conversion"], 100 * 3 / 8)
        # average days to confirm over the confirmed quotations only: (4 + 30) / 2
        Funnel = self.env["pulse.quote.funnel"]
        (days,) = Funnel.read_group(
            [*march, ("user_id", "=", self.alice.id)], ["days_to_confirm:avg"], []
        )
        self.assertAlmostEqual(days["days_to_confirm"], 17)
        rows = Funnel.search(march)
        sent = rows.filtered(lambda r: r.sent)
        self.assertEqual(
            {str(r.sent_date) for r in sent},
            {"2024-03-02 10:00:00", "2024-03-11 10:00:00"},
            "sent: tracked to Quotation Sent, or emailed to the customer",
        )
        self.assertEqual(sum(rows.mapped("amount_confirmed")), 500)
        self.assertEqual(sum(rows.mapped("amount_lost")), 200)

    def test_lost_means_cancelled_or_expired(self):
        with freeze_time("2024-06-01"):
            expired = self.quote(self.alice, "2024-05-01 10:00:00", validity_date="2024-05-31")
            valid = self.quote(self.alice, "2024-05-02 10:00:00", validity_date="2024-06-01")
            undated = self.quote(self.alice, "2024-05-03 10:00:00", validity_date=False)
            cancelled = self.quote(self.alice, "2024-05-04 10:00:00")
            self.cancel(cancelled, "2024-05-05 10:00:00")
            # a confirmed order cancelled later is lost too
            regret = self.quote(self.alice, "2024-05-06 10:00:00")
            self.confirm(regret, "2024-05-07 10:00:00")
            self.cancel(regret, "2024-05-08 10:00:00")
            orders = expired | valid | undated | cancelled | regret
            rows = self.env["pulse.quote.funnel"].search([("order_id", "in", orders.ids)])
            state = {
                r.order_id: (r.lost, r.expired, r.cancelled, r.pending, r.confirmed) for r in rows
            }
        self.assertEqual(state[expired], (1, 1, 0, 0, 0))
        self.assertEqual(state[valid], (0, 0, 0, 1, 0))
        self.assertEqual(state[undated], (0, 0, 0, 1, 0))
        self.assertEqual(state[cancelled], (1, 0, 1, 0, 0))
        self.assertEqual(state[regret], (1, 0, 1, 0, 0))

    def test_quote_without_salesperson_is_grouped_under_none(self):
        order = self.quote(False, "2024-02-01 10:00:00")
        self.confirm(order, "2024-02-02 10:00:00")
        groups = self.funnel(domain=[("order_id", "=", order.id)])
        self.assertEqual(len(groups), 1)
        self.assertFalse(groups[0]["user_id"])
        self.assertEqual(groups[0]["confirmed"], 1)
        rows = self.env["pulse.quote.funnel"].search_read(
            [("order_id", "=", order.id)], ["user_id", "team_leader_id", "conversion"]
        )
        self.assertEqual(rows[0]["user_id"], False)
        # the work done report reads it too, without an employee
        work = self.env["pulse.work.done"].search(
            [("user_id", "=", False), ("kind", "in", ("quote", "order"))]
        )
        self.assertEqual(sum(work.filtered(lambda w: w.kind == "quote").mapped("count")), 1)

    def test_salespersons_own_reading_has_the_same_figures(self):
        """A salesperson's reading selects their quotations before the history of each is
        read (their rule and the period reach the orders first): the figures and dates are
        those the manager reads for them, month by month and row by row."""
        for user, price in ((self.alice, 100.0), (self.bob, 300.0)):
            q1 = self.quote(user, "2024-03-01 10:00:00", price=price)
            self.mark_sent(q1, "2024-03-02 10:00:00")
            self.confirm(q1, "2024-03-09 10:00:00")
            q2 = self.quote(user, "2024-03-10 10:00:00", price=price)
            self.email_quote(q2, "2024-03-11 10:00:00")
            q3 = self.quote(user, "2024-04-01 10:00:00", price=price, validity_date="2024-04-02")
            self.cancel(q3, "2024-04-05 10:00:00")
            self.quote(user, "2023-12-20 10:00:00", price=price)  # before the period
        period = [("issue_date", ">=", "2024-01-01"), ("issue_date", "<", "2025-01-01")]
        fields = ["name", "issue_date", "sent_date", "confirmation_date", "sent", "lost"]
        for user in (self.alice, self.bob):
            with self.subTest(user=user.login):
                own = self.funnel(user, period, groupby=["issue_date:month"])
                managers = self.funnel(
                    self.manager, [*period, ("user_id", "=", user.id)], ["issue_date:month"]
                )
                self.assertEqual(
                    [{k: v for k, v in g.items() if k != "__domain"} for g in own],
                    [{k: v for k, v in g.items() if k != "__domain"} for g in managers],
                )
                self.assertEqual(
                    [(g["issue_date:month"], g["issued"], g["sent"], g["confirmed"]) for g in own],
                    [("March 2024", 2, 2, 1), ("April 2024", 1, 0, 0)],
                )
                Funnel = self.env["pulse.quote.funnel"]
                self.assertEqual(
                    Funnel.with_user(user).search_read(period, fields, order="id"),
                    Funnel.with_user(self.manager).search_read(
                        [*period, ("user_id", "=", user.id)], fields, order="id"
                    ),
                )

    def test_team_and_team_leader(self):
        order = self.quote(self.alice, "2024-02-01 10:00:00", team_id=self.team.id)
        row = self.env["pulse.quote.funnel"].search([("order_id", "=", order.id)])
        self.assertEqual(row.team_id, self.team)
        self.assertEqual(row.team_leader_id, self.manager)
        self.assertEqual(row.amount_untaxed, 100)
        self.assertEqual(row.currency_id, self.currency)


@tagged("post_install", "-at_install")
class TestQuoteMilestones(QuoteCase):
    """The dates the funnel reads are kept by triggers as the chatter is written; a rebuild
    from the whole history gives the same rows."""

    def milestones(self, orders):
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT order_id, sent_at, confirmed_at, emailed_at FROM pulse_quote_milestone"
            " WHERE order_id = ANY(%s) ORDER BY order_id",
            [orders.ids],
        )
        return [tuple(str(v) if v else None for v in row) for row in self.env.cr.fetchall()]

    def test_triggers_keep_the_first_dates(self):
        sent = self.quote(self.alice, "2024-05-01 10:00:00")
        self.mark_sent(sent, "2024-05-02 10:00:00")
        self.email_quote(sent, "2024-05-03 10:00:00")
        self.confirm(sent, "2024-05-04 10:00:00")
        self.email_quote(sent, "2024-05-05 10:00:00")  # the order confirmation, later
        quiet = self.quote(self.alice, "2024-05-01 11:00:00")  # no history of its own
        note = self.quote(self.alice, "2024-05-01 12:00:00")
        with freeze_time("2024-05-06 10:00:00"):
            # an internal note to a colleague is no email to the customer
            note.message_post(
                body="Check the price",
                partner_ids=self.bob.partner_id.ids,
                message_type="comment",
                subtype_xmlid="mail.mt_note",
            )
            self.flush_tracking()
        orders = sent | quiet | note
        kept = self.milestones(orders)
        self.assertEqual(
            kept,
            [
                (str(sent.id), "2024-05-02 10:00:00", "2024-05-04 10:00:00", "2024-05-03 10:00:00"),
            ],
        )
        self.env["pulse.quote.milestone"]._rebuild()
        self.assertEqual(self.milestones(orders), kept, "a rebuild reads the same dates")
        row = self.env["pulse.quote.funnel"].search([("order_id", "=", sent.id)])
        self.assertEqual(str(row.sent_date), "2024-05-02 10:00:00")
        self.assertEqual(str(row.confirmation_date), "2024-05-04 10:00:00")

    def test_status_tracked_in_another_language(self):
        """Odoo tracks a status by its label in the language of the user who changed it: a
        Hungarian salesperson's confirmation is one too."""
        self.env["res.lang"]._activate_lang("hu_HU")
        state = self.env["ir.model.fields"]._get("sale.order", "state")
        selection = state.selection_ids.filtered(lambda s: s.value == "sale")
        selection.with_context(lang="hu_HU").name = "Vevői rendelés"
        order = self.quote(self.alice, "2024-06-01 10:00:00")
        with freeze_time("2024-06-03 10:00:00"):
            order.with_context(lang="hu_HU").action_confirm()
            self.flush_tracking()
        tracked = order.message_ids.tracking_value_ids.filtered(lambda v: v.field_id == state)
        self.assertEqual(tracked.new_value_char, "Vevői rendelés")
        self.assertEqual(
            self.milestones(order), [(str(order.id), None, "2024-06-03 10:00:00", None)]
        )


@tagged("post_install", "-at_install")
class TestQuoteFunnelAccess(QuoteCase):
    def test_salesperson_sees_own_manager_everyone(self):
        self.quote(self.alice, "2024-03-01 10:00:00")
        self.quote(self.bob, "2024-03-02 10:00:00")
        self.quote(False, "2024-03-03 10:00:00")
        Funnel = self.env["pulse.quote.funnel"]
        self.assertEqual(Funnel.with_user(self.alice).search([]).user_id, self.alice)
        seen = Funnel.with_user(self.manager).search([])
        self.assertEqual(len(seen), Funnel.search_count([]))
        sales_manager = new_test_user(
            self.env,
            login="funnel_sales_manager",
            groups="customer_pulse.group_pulse_user,sales_team.group_sale_manager",
        )
        self.assertEqual(len(Funnel.with_user(sales_manager).search([])), len(seen))

    def test_company_isolation(self):
        other = self.env["res.company"].create({"name": "Funnel Other Co"})
        self.quote(self.alice, "2024-03-01 10:00:00")
        theirs = self.quote(self.alice, "2024-03-02 10:00:00", company_id=other.id, team_id=False)
        Funnel = self.env["pulse.quote.funnel"]
        self.assertNotIn(theirs, Funnel.with_user(self.manager).search([]).order_id)
        both = new_test_user(
            self.env,
            login="funnel_two_companies",
            groups="base.group_user,customer_pulse.group_pulse_manager",
            company_ids=[Command.set((self.company | other).ids)],
        )
        rows = Funnel.with_user(both).with_context(allowed_company_ids=other.ids).search([])
        self.assertEqual(rows.order_id, theirs)

    def test_plain_user_has_no_access(self):
        plain = new_test_user(self.env, login="funnel_plain", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.env["pulse.quote.funnel"].with_user(plain).search([])
