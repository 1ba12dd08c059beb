from datetime import timedelta

from freezegun import freeze_time

from odoo import Command, fields
from odoo.tests import new_test_user, tagged

from .test_quote_funnel import QuoteCase


class WorkCase(QuoteCase):
    """Salespeople in a team and a department, and helpers that do their work through
    Odoo's own methods."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.department = cls.env["pulse.department"].create(
            {"name": "Work sales", "code": "work_sales", "sequence": 1}
        )
        cls.department.user_ids = [Command.link(cls.alice.id)]
        cls.lead = cls.env["crm.lead"].create(
            {
                "name": "Work deal",
                "partner_id": cls.customer.id,
                "type": "opportunity",
                "user_id": False,
            }
        )

    def work(self, domain=(), groupby=("user_id", "kind"), user=None):
        """{(group values…): count} of the work done report."""
        Work = self.env["pulse.work.done"]
        if user:
            Work = Work.with_user(user)
        groups = Work.read_group(list(domain), ["count:sum"], list(groupby), lazy=False)
        return {
            tuple(g[name][0] if isinstance(g[name], tuple) else g[name] for name in groupby): g[
                "count"
            ]
            for g in groups
        }

    def done(self, record, xmlid, user, when=None):
        """``user`` completes an activity of type ``xmlid`` on ``record``."""
        activity = record.activity_schedule(xmlid, user_id=user.id)
        if when:
            with freeze_time(when):
                activity.with_user(user).action_feedback(feedback="Done")
        else:
            activity.with_user(user).action_feedback(feedback="Done")
        self.env.flush_all()


@tagged("post_install", "-at_install")
class TestWorkDone(WorkCase):
    def test_activity_on_a_contact_counts(self):
        """Odoo's activity report reads activities done on opportunities only; completing a
        call on a contact is work done too."""
        self.done(self.customer, "mail.mail_activity_data_call", self.alice)
        message = self.env["mail.message"].search(
            [("model", "=", "res.partner"), ("res_id", "=", self.customer.id)],
            order="id desc",
            limit=1,
        )
        self.assertTrue(message.mail_activity_type_id)
        self.assertFalse(
            self.env["crm.activity.report"].search([("id", "=", message.id)]),
            "Odoo's own activity report misses it",
        )
        mine = [("user_id", "=", self.alice.id)]
        partner_model = self.env["ir.model"]._get_id("res.partner")
        self.assertEqual(
            self.work(mine, groupby=["kind", "model_id"]), {("call", partner_model): 1}
        )
        row = self.env["pulse.work.done"].search(mine)
        self.assertEqual(row.date, message.date.date())

    def test_activities_on_any_document_by_category(self):
        order = self.quote(self.alice, "2024-05-02 10:00:00")
        invoice = self.env["account.move"].create(
            {"move_type": "out_invoice", "partner_id": self.customer.id}
        )
        self.done(self.customer, "mail.mail_activity_data_call", self.alice)
        self.done(self.customer, "mail.mail_activity_data_meeting", self.alice)
        self.done(order, "mail.mail_activity_data_todo", self.alice)
        self.done(invoice, "mail.mail_activity_data_todo", self.alice)
        self.done(self.lead, "mail.mail_activity_data_call", self.alice)
        # an activity done by Bob is Bob's, whoever it was assigned to
        self.done(self.lead, "mail.mail_activity_data_call", self.bob)
        activities = [("kind", "in", ("call", "meeting", "activity"))]
        self.assertEqual(
            self.work(
                [*activities, ("user_id", "=", self.alice.id)], groupby=["kind", "res_model"]
            ),
            {
                ("call", "res.partner"): 1,
                ("meeting", "res.partner"): 1,
                ("activity", "sale.order"): 1,
                ("activity", "account.move"): 1,
                ("call", "crm.lead"): 1,
            },
        )
        self.assertEqual(
            self.work([*activities, ("user_id", "=", self.bob.id)]), {(self.bob.id, "call"): 1}
        )

    def test_emails_to_customers(self):
        portal = new_test_user(self.env, login="work_portal", groups="base.group_portal")
        as_alice = self.customer.with_user(self.alice)
        as_alice.message_post(
            body="Our offer",
            partner_ids=self.customer.ids,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )
        # a portal user is a customer too
        as_alice.message_post(
            body="Your access",
            partner_ids=portal.partner_id.ids,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )
        # not emails to customers: an internal note, a message to a colleague only, and
        # the customer's own email
        as_alice.message_post(body="Note", message_type="comment", subtype_xmlid="mail.mt_note")
        self.bob.partner_id.with_user(self.alice).message_post(
            body="FYI",
            partner_ids=self.bob.partner_id.ids,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )
        self.customer.message_post(
            body="Thanks",
            author_id=self.customer.id,
            partner_ids=self.alice.partner_id.ids,
            message_type="email",
            subtype_xmlid="mail.mt_comment",
        )
        self.env.flush_all()
        self.assertEqual(
            self.work([("kind", "=", "email")], groupby=["user_id", "res_model"]),
            {(self.alice.id, "res.partner"): 2},
        )

    def test_quotes_and_orders_are_the_salespersons(self):
        """A quotation made by someone else for Alice is Alice's; its confirmation counts
        on the day it was confirmed."""
        order = self.quote(self.alice, "2024-01-20 09:00:00")
        self.confirm(order, "2024-02-10 15:00:00")
        self.assertEqual(
            self.work(
                [("user_id", "=", self.alice.id), ("kind", "in", ("quote", "order"))],
                groupby=["kind", "date:day"],
            ),
            {("quote", "20 Jan 2024"): 1, ("order", "10 Feb 2024"): 1},
        )

    def test_surveys_filled_match_the_surveys_report(self):
        survey = self.env["survey.survey"].create(
            {"title": "Work survey", "question_and_page_ids": [Command.create({"title": "Q"})]}
        )
        vals = {"survey_id": survey.id, "state": "done", "partner_id": self.customer.id}
        self.env["survey.user_input"].create(
            [
                {**vals, "pulse_interviewer_id": self.alice.id, "end_datetime": "2024-05-01"},
                {**vals, "pulse_interviewer_id": self.alice.id, "end_datetime": "2024-05-02"},
                {**vals, "pulse_interviewer_id": self.bob.id, "end_datetime": "2024-05-02"},
                # answered by the customer: nobody's work
                {**vals, "end_datetime": "2024-05-02"},
                # not finished
                {**vals, "state": "in_progress", "pulse_interviewer_id": self.bob.id},
            ]
        )
        surveys = self.env["pulse.survey.work"].read_group(
            [("kind", "=", "interview")], ["count:sum"], ["user_id"]
        )
        expected = {g["user_id"][0]: g["count"] for g in surveys}
        self.assertEqual(expected, {self.alice.id: 2, self.bob.id: 1})
        work = self.work([("kind", "=", "survey")], groupby=["user_id"])
        self.assertEqual(work, {(uid,): count for uid, count in expected.items()})

    def test_followup_reminders_sent_by_hand_and_promises(self):
        Level = self.env["pulse.followup.level"]
        Level._ensure_company_levels()
        level = Level.search([("company_id", "=", self.company.id)], limit=1)
        Event = self.env["pulse.followup.event"]
        common = {"partner_id": self.customer.id, "company_id": self.company.id}
        Event.create(
            [
                {
                    **common,
                    "level_id": level.id,
                    "cycle": 1,
                    "state": "done",
                    "user_id": self.alice.id,
                    "executed_at": "2024-05-03 10:00:00",
                },
                # the daily run's reminders are nobody's work
                {**common, "level_id": level.id, "cycle": 2, "state": "done"},
                # not sent
                {**common, "level_id": level.id, "cycle": 3, "user_id": self.alice.id},
            ]
        )
        # a promise is for an amount the customer owes
        self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.customer.id,
                "invoice_line_ids": [
                    Command.create({"name": "Work", "price_unit": 100, "tax_ids": []})
                ],
            }
        ).action_post()
        followup = self.env["pulse.followup"].create(common)
        self.env["pulse.followup.promise"].with_user(self.alice).sudo().create(
            {
                "followup_id": followup.id,
                "date": fields.Date.today() + timedelta(days=7),
                "amount": 10,
            }
        )
        self.assertEqual(
            self.work([("kind", "in", ("followup", "promise"))], groupby=["user_id", "kind"]),
            {(self.alice.id, "followup"): 1, (self.alice.id, "promise"): 1},
        )

    def test_meetings_attended(self):
        now = fields.Datetime.now()
        Event = self.env["calendar.event"]
        attendees = [Command.link(self.alice.partner_id.id), Command.link(self.bob.partner_id.id)]
        past = Event.create(
            {
                "name": "Review",
                "start": now - timedelta(days=2),
                "stop": now - timedelta(days=2, hours=-1),
                "partner_ids": attendees,
            }
        )
        Event.create(
            {
                "name": "Next week",
                "start": now + timedelta(days=7),
                "stop": now + timedelta(days=7, hours=1),
                "partner_ids": attendees,
            }
        )
        past.attendee_ids.filtered(lambda a: a.partner_id == self.alice.partner_id).do_accept()
        past.attendee_ids.filtered(lambda a: a.partner_id == self.bob.partner_id).do_decline()
        self.assertEqual(
            self.work([("kind", "=", "event")], groupby=["user_id"]), {(self.alice.id,): 1}
        )

    def test_team_department_and_team_leader(self):
        self.done(self.customer, "mail.mail_activity_data_call", self.alice)
        self.done(self.customer, "mail.mail_activity_data_call", self.bob)
        rows = self.env["pulse.work.done"].search([("kind", "=", "call")])
        alice = rows.filtered(lambda r: r.user_id == self.alice)
        bob = rows.filtered(lambda r: r.user_id == self.bob)
        self.assertEqual(
            (alice.team_id, alice.team_leader_id, alice.department_id),
            (self.team, self.manager, self.department),
        )
        self.assertEqual(
            (bob.team_id, bob.team_leader_id, bob.department_id.id),
            (
                bob.user_id.sale_team_id,
                bob.user_id.sale_team_id.user_id,
                False,
            ),
        )
        self.assertEqual(
            self.work([("kind", "=", "call")], groupby=["department_id"]),
            {(self.department.id,): 1, (False,): 1},
        )

    def test_period_over_period(self):
        """The pivot's comparison reads the same groups for two periods: last month's
        calls beside this month's."""
        self.done(self.customer, "mail.mail_activity_data_call", self.alice, "2024-04-10 10:00")
        self.done(self.customer, "mail.mail_activity_data_call", self.alice, "2024-05-10 10:00")
        self.done(self.customer, "mail.mail_activity_data_call", self.alice, "2024-05-11 10:00")
        may = [("date", ">=", "2024-05-01"), ("date", "<=", "2024-05-31")]
        april = [("date", ">=", "2024-04-01"), ("date", "<=", "2024-04-30")]
        mine = [("user_id", "=", self.alice.id)]
        self.assertEqual(self.work([*mine, *may]), {(self.alice.id, "call"): 2})
        self.assertEqual(self.work([*mine, *april]), {(self.alice.id, "call"): 1})
        self.assertEqual(
            self.work(mine, groupby=["date:month"]), {("April 2024",): 1, ("May 2024",): 2}
        )

    def test_salespersons_own_reading_has_the_same_figures(self):
        """A salesperson's reading of a period selects their quotations and orders first
        (their rule and the days reach the orders' indexes): the counts are those the
        manager reads for them, day by day."""
        for user in (self.alice, self.bob):
            q1 = self.quote(user, "2024-05-02 10:00:00")
            self.confirm(q1, "2024-05-03 10:00:00")
            self.quote(user, "2024-05-03 11:00:00")
            untracked = self.quote(user, "2024-05-06 10:00:00")
            with freeze_time("2024-05-07 10:00:00"):  # no tracking: its order date counts
                untracked.with_context(tracking_disable=True).action_confirm()
            self.quote(user, "2024-06-01 10:00:00")  # after the period
        self.env.flush_all()
        may = [("date", ">=", "2024-05-01"), ("date", "<=", "2024-05-31")]
        sales = [("kind", "in", ("quote", "order"))]
        for user in (self.alice, self.bob):
            with self.subTest(user=user.login):
                own = self.work([*may, *sales], groupby=["date:day", "kind"], user=user)
                managers = self.work(
                    [*may, *sales, ("user_id", "=", user.id)],
                    groupby=["date:day", "kind"],
                    user=self.manager,
                )
                self.assertEqual(own, managers)
                self.assertEqual(
                    self.work([*may, *sales], groupby=["kind"], user=user),
                    {("quote",): 3, ("order",): 2},
                )


@tagged("post_install", "-at_install")
class TestWorkDoneAccess(WorkCase):
    def test_salesperson_sees_own_manager_everyone(self):
        self.done(self.customer, "mail.mail_activity_data_call", self.alice)
        self.done(self.customer, "mail.mail_activity_data_call", self.bob)
        Work = self.env["pulse.work.done"]
        self.assertEqual(Work.with_user(self.alice).search([]).user_id, self.alice)
        self.assertEqual(
            Work.with_user(self.manager).search([("kind", "=", "call")]).user_id,
            self.alice | self.bob,
        )
        self.assertEqual(
            self.work([("kind", "=", "call")], groupby=["user_id"], user=self.alice),
            {(self.alice.id,): 1},
        )
        # the web client's reads work for her (document types are ir.model records, which
        # salespeople may not read themselves)
        as_alice = Work.with_user(self.alice)
        spec = {name: {"fields": {"display_name": {}}} for name in ("model_id", "team_id")}
        rows = as_alice.web_search_read([], spec)["records"]
        self.assertEqual(rows[0]["model_id"]["display_name"], "Contact")
        groups = as_alice.web_read_group([], ["count:sum"], ["model_id", "date:week"])
        self.assertEqual(groups["length"], 1)

    def test_company_isolation(self):
        other = self.env["res.company"].create({"name": "Work Other Co"})
        theirs = self.env["res.partner"].create({"name": "Their customer", "company_id": other.id})
        self.alice.company_ids = [Command.link(other.id)]
        self.done(theirs.with_company(other), "mail.mail_activity_data_call", self.alice)
        self.done(self.customer, "mail.mail_activity_data_call", self.alice)
        Work = self.env["pulse.work.done"].with_user(self.manager)
        self.assertEqual(Work.search([("kind", "=", "call")]).company_id, self.company)
        both = new_test_user(
            self.env,
            login="work_two_companies",
            groups="base.group_user,customer_pulse.group_pulse_manager",
            company_ids=[Command.set((self.company | other).ids)],
        )
        rows = (
            self.env["pulse.work.done"]
            .with_user(both)
            .with_context(allowed_company_ids=other.ids)
            .search([("kind", "=", "call")])
        )
        self.assertEqual((rows.company_id, rows.count), (other, 1))


@tagged("post_install", "-at_install")
class TestDemoQuotes(WorkCase):
    def test_demo_fills_both_reports(self):
        from odoo.addons.customer_pulse.tools import demo_quotes

        self.customer.write({"is_company": True, "customer_rank": 1, "user_id": self.alice.id})
        self.product.sale_ok = True
        counts = demo_quotes.generate(self.env, seed=3, months=2)
        self.assertTrue(counts["quotes"] and counts["activities_done"] and counts["emails"])
        # the history's only work is the demo's
        funnel = self.funnel(groupby=[])[0]
        self.assertEqual(funnel["issued"], counts["quotes"])
        self.assertEqual(funnel["confirmed"], counts["quotes_confirmed"])
        work = self.work(groupby=["kind"])
        self.assertEqual(
            sum(work.get((kind,), 0) for kind in ("call", "meeting", "activity")),
            counts["activities_done"],
        )
        self.assertEqual(work[("email",)], counts["emails"])
        self.assertEqual(work[("quote",)], counts["quotes"])
