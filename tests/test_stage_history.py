from datetime import datetime, time, timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.addons.customer_pulse.tools import demo_pipeline
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase

# the columns compared between the history kept live and the one read from the tracking
# (not the probability: Odoo does not track it, the backfill can only estimate it)
COMPARED = (
    "lead_id",
    "kind",
    "from_stage_id",
    "to_stage_id",
    "date",
    "lead_active",
    "user_id",
    "team_id",
    "team_leader_id",
    "company_id",
    "round(days_in_previous::numeric, 4)",
    "expected_revenue",
)


class StageHistoryCase(TransactionCase):
    """Leads moved through stages with Odoo's tracking on, a day at a time (the clock moves
    forward from today, so the history's order and the tracking's agree)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Change = cls.env["pulse.lead.stage.change"]
        cls.Snapshot = cls.env["pulse.pipeline.snapshot"]
        cls.company = cls.env.company
        cls.leader = new_test_user(
            cls.env, login="stage_leader", groups="base.group_user,sales_team.group_sale_manager"
        )
        cls.seller_a = new_test_user(
            cls.env,
            login="stage_seller_a",
            groups="base.group_user,customer_pulse.group_pulse_user",
        )
        cls.seller_b = new_test_user(
            cls.env,
            login="stage_seller_b",
            groups="base.group_user,customer_pulse.group_pulse_user",
        )
        cls.manager = new_test_user(
            cls.env,
            login="stage_manager",
            groups="base.group_user,customer_pulse.group_pulse_manager",
        )
        cls.team = cls.env["crm.team"].create(
            {"name": "Pulse stage team", "user_id": cls.leader.id, "company_id": cls.company.id}
        )
        Stage = cls.env["crm.stage"]
        cls.new, cls.qualified, cls.proposal, cls.won = Stage.create(
            [
                {"name": "PS New", "sequence": 1, "team_id": cls.team.id},
                {"name": "PS Qualified", "sequence": 2, "team_id": cls.team.id},
                {"name": "PS Proposal", "sequence": 3, "team_id": cls.team.id},
                {"name": "PS Won", "sequence": 4, "team_id": cls.team.id, "is_won": True},
            ]
        )
        cls.today = fields.Date.today()

    @classmethod
    def make_leads(cls, count, user, revenue=1000.0, stage=None, company=None):
        company = company or cls.company
        team = cls.team if company == cls.company else cls.env["crm.team"]
        leads = cls.env["crm.lead"].create(
            [
                {
                    "name": f"Stage deal {user.login} {index}",
                    "type": "opportunity",
                    "user_id": user.id,
                    "team_id": team.id,
                    "company_id": company.id,
                    "stage_id": (stage or cls.new).id,
                    "expected_revenue": revenue * (index + 1),
                    # set by hand: Odoo's automated probability would follow the stage
                    "probability": 30,
                }
                for index in range(count)
            ]
        )
        # the creation's transaction ends: Odoo tracks nothing of a lead in the
        # transaction that created it
        cls.env.flush_all()
        cls.env.cr.flush()
        return leads

    def flush_tracking(self):
        """Odoo writes tracking values at the end of the transaction: now."""
        self.env.flush_all()
        self.env.cr.flush()

    def at(self, days, hour=10):
        """A moment `days` days after today."""
        return datetime.combine(self.today + timedelta(days=days), time(hour))

    def history(self, leads):
        self.env.flush_all()
        self.env.cr.execute(
            f"SELECT {', '.join(COMPARED)} FROM pulse_lead_stage_change"
            " WHERE lead_id = ANY(%s) ORDER BY lead_id, date, id",
            [leads.ids],
        )
        return self.env.cr.fetchall()

    def tracked_stage_changes(self, leads):
        self.env.cr.execute(
            """
            SELECT m.res_id, NULLIF(v.old_value_integer, 0), NULLIF(v.new_value_integer, 0)
              FROM mail_tracking_value v
              JOIN mail_message m ON m.id = v.mail_message_id
              JOIN ir_model_fields f ON f.id = v.field_id
             WHERE m.model = 'crm.lead' AND f.model = 'crm.lead' AND f.name = 'stage_id'
               AND m.res_id = ANY(%s)
            """,
            [leads.ids],
        )
        return sorted(self.env.cr.fetchall())

    def move_around(self, leads):
        """Day 1: every lead qualified; day 2: the first to proposal, the second lost;
        day 4: the first won, the third back to new."""
        first, second, third = leads[0], leads[1], leads[2]
        with freeze_time(self.at(1)):
            leads.write({"stage_id": self.qualified.id})
            self.flush_tracking()
        with freeze_time(self.at(2)):
            first.stage_id = self.proposal
            second.action_set_lost()
            self.flush_tracking()
        with freeze_time(self.at(4)):
            first.action_set_won()
            third.stage_id = self.new
            self.flush_tracking()


@tagged("post_install", "-at_install")
class TestStageHistory(StageHistoryCase):
    def test_transitions_equal_tracked_changes(self):
        """Every tracked stage change is one move in the history, and nothing else is."""
        leads = self.make_leads(3, self.seller_a)
        self.move_around(leads)
        moves = self.Change.search([("lead_id", "in", leads.ids), ("kind", "=", "moved")])
        tracked = self.tracked_stage_changes(leads)
        self.assertEqual(len(tracked), 6)
        self.assertEqual(
            sorted((m.lead_id.id, m.from_stage_id.id, m.to_stage_id.id) for m in moves), tracked
        )
        created = self.Change.search([("lead_id", "in", leads.ids), ("kind", "=", "created")])
        self.assertEqual(created.to_stage_id, self.new)
        self.assertEqual(len(created), 3)
        lost = self.Change.search([("lead_id", "in", leads.ids), ("kind", "=", "lost")])
        self.assertEqual(lost.lead_id, leads[1])
        self.assertEqual(lost.from_stage_id, self.qualified)
        self.assertFalse(lost.lead_active)
        self.assertEqual(lost.probability, 0)
        won = moves.filtered(lambda m: m.to_stage_id == self.won)
        self.assertEqual(won.lead_id, leads[0])
        self.assertEqual(won.probability, 100)
        # two days in proposal before it was won
        self.assertAlmostEqual(won.days_in_previous, 2.0, places=4)
        self.assertEqual(won.user_id, self.seller_a)
        self.assertEqual(won.team_leader_id, self.leader)

    def test_backfill_equals_live_history(self):
        """The history read from the tracking is the one kept live, row for row: salesperson
        and revenue as they were at each change (both changed on the way)."""
        leads = self.make_leads(3, self.seller_a)
        with freeze_time(self.at(1)):
            leads[0].write({"user_id": self.seller_b.id, "expected_revenue": 5000})
            self.flush_tracking()
        self.move_around(leads)
        live = self.history(leads)
        self.assertEqual(len(live), 3 + 6 + 1)
        reassigned = self.Change.search([("lead_id", "=", leads[0].id), ("kind", "=", "created")])
        self.assertEqual(reassigned.user_id, self.seller_a)
        self.env.cr.execute(
            "DELETE FROM pulse_lead_stage_change WHERE lead_id = ANY(%s)", [leads.ids]
        )
        self.assertEqual(self.Change._backfill(), len(live))
        self.assertEqual(self.history(leads), live)
        # leads that have a history are left alone
        self.assertEqual(self.Change._backfill(), 0)

    def test_pipeline_rebuilt_equals_snapshots(self):
        """The pipeline rebuilt from the history for a past day is that day's snapshot,
        whether taken by the daily job then or rebuilt later for a range of days."""
        leads_a = self.make_leads(3, self.seller_a)
        leads_b = self.make_leads(2, self.seller_b, revenue=700, stage=self.qualified)
        self.Snapshot._take_snapshot()
        with freeze_time(self.at(1)):
            leads_a.write({"stage_id": self.qualified.id})
        with freeze_time(self.at(1, 23)):
            self.Snapshot._cron_snapshot()
        with freeze_time(self.at(2)):
            leads_a[0].stage_id = self.proposal
            leads_a[1].action_set_lost()
        with freeze_time(self.at(2, 23)):
            self.Snapshot._cron_snapshot()
        with freeze_time(self.at(3)):
            leads_b[0].stage_id = self.proposal
            leads_b[1].action_set_lost()
        with freeze_time(self.at(4)):
            leads_a[0].action_set_won()
            leads_a[2].stage_id = self.new
        with freeze_time(self.at(4, 23)):
            # day 3 missed by the job: rebuilt from the history
            self.Snapshot._cron_snapshot()
        with freeze_time(self.at(6)):
            days = [self.today + timedelta(days=n) for n in range(5)]
            taken = {day: self.Snapshot._snapshot_of(day) for day in days}
            for day in days:
                self.assertEqual(self.Snapshot._pipeline_on(day), taken[day], day)

            def key(stage, user):
                return (stage.id, self.team.id, user.id, self.leader.id, self.company.id)

            # day 2: the first in proposal, the third qualified (the second lost), both of
            # seller b qualified
            self.assertEqual(
                taken[days[2]],
                {
                    key(self.proposal, self.seller_a): (1, 1000.0, 300.0),
                    key(self.qualified, self.seller_a): (1, 3000.0, 900.0),
                    key(self.qualified, self.seller_b): (2, 2100.0, 630.0),
                },
            )
            # day 4: the first won, the third back to new, one of seller b in proposal
            self.assertEqual(
                taken[days[4]],
                {
                    key(self.won, self.seller_a): (1, 1000.0, 1000.0),
                    key(self.new, self.seller_a): (1, 3000.0, 900.0),
                    key(self.proposal, self.seller_b): (1, 700.0, 210.0),
                },
            )
            written = self.Snapshot._rebuild(days[0], days[4])
            self.assertEqual(written, sum(map(len, taken.values())))
            for day in days:
                self.assertEqual(self.Snapshot._snapshot_of(day), taken[day], day)

    def test_restored_lead_back_in_pipeline(self):
        """A lost lead restored is counted again from the day it came back."""
        lead = self.make_leads(1, self.seller_a)
        with freeze_time(self.at(1)):
            lead.action_set_lost()
            self.flush_tracking()
        with freeze_time(self.at(3)):
            lead.action_unarchive()
            self.flush_tracking()
        kinds = self.Change.search([("lead_id", "=", lead.id)], order="date, id").mapped("kind")
        self.assertEqual(kinds, ["created", "lost", "restored"])
        with freeze_time(self.at(4)):
            key = (self.new.id, self.team.id, self.seller_a.id, self.leader.id, self.company.id)
            self.assertNotIn(key, self.Snapshot._pipeline_on(self.today + timedelta(days=2)))
            self.assertEqual(self.Snapshot._pipeline_on(self.today + timedelta(days=3))[key][0], 1)

    def test_conversion_and_time_in_stage(self):
        leads = self.make_leads(3, self.seller_a)
        self.move_around(leads)
        Conversion = self.env["pulse.stage.conversion"]
        rows = Conversion.search([("lead_id", "in", leads.ids)])
        self.assertEqual(len(rows), 6 + 1)  # every move and the loss leave a stage
        from_qualified = rows.filtered(lambda r: r.from_stage_id == self.qualified)
        self.assertEqual(sorted(from_qualified.mapped("outcome")), ["back", "forward", "lost"])
        groups = Conversion.read_group(
            [("lead_id", "in", leads.ids), ("from_stage_id", "=", self.qualified.id)],
            ["forward_rate:avg", "won_rate:avg", "days_in_stage:avg", "lost_rate:avg"],
            ["from_stage_id"],
        )
        self.assertAlmostEqual(groups[0]["forward_rate"], 100 / 3, places=4)
        self.assertAlmostEqual(groups[0]["lost_rate"], 100 / 3, places=4)
        self.assertAlmostEqual(groups[0]["won_rate"], 100 / 3, places=4)
        # qualified on day 1, left on day 2, 2 and 4
        self.assertAlmostEqual(groups[0]["days_in_stage"], (1 + 1 + 3) / 3, places=4)
        self.assertEqual(rows[0].action_open_lead()["res_model"], "crm.lead")

    def test_bad_input(self):
        """A day that has not come yet is refused; an empty range writes nothing."""
        with self.assertRaises(UserError):
            self.Snapshot._pipeline_on(self.today + timedelta(days=1))
        with self.assertRaises(UserError):
            self.Snapshot._pipeline_on(False)
        self.assertEqual(self.Snapshot._rebuild(self.today, self.today - timedelta(days=1)), 0)
        # a day before any history: an empty pipeline, not an error
        self.assertEqual(self.Snapshot._pipeline_on("2001-01-01"), {})


@tagged("post_install", "-at_install")
class TestStageHistoryAccess(StageHistoryCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "Pulse stage company B"})
        cls.seller_other_company = new_test_user(
            cls.env,
            login="stage_seller_company_b",
            groups="base.group_user,customer_pulse.group_pulse_manager",
            company_id=cls.company_b.id,
            company_ids=[cls.company_b.id],
        )
        cls.leads_a = cls.make_leads(2, cls.seller_a)
        cls.leads_b = cls.make_leads(1, cls.seller_b)
        cls.leads_other = cls.make_leads(
            1, cls.seller_other_company, company=cls.company_b, stage=cls.qualified
        )
        cls.all_leads = cls.leads_a | cls.leads_b | cls.leads_other
        cls.env["crm.lead"].browse(cls.all_leads.ids).write({"stage_id": cls.proposal.id})
        cls.env["pulse.pipeline.snapshot"]._take_snapshot()

    def visible(self, user, model):
        records = self.env[model].with_user(user).search([])
        field = "lead_id" if model != "pulse.pipeline.snapshot" else "user_id"
        return records, records.mapped(field)

    def test_salesperson_sees_own(self):
        for model in ("pulse.lead.stage.change", "pulse.stage.conversion"):
            records, leads = self.visible(self.seller_a, model)
            self.assertEqual(leads & self.all_leads, self.leads_a, model)
            self.assertEqual(set(records.mapped("user_id.id")) - {False}, {self.seller_a.id})
        _snapshots, users = self.visible(self.seller_a, "pulse.pipeline.snapshot")
        self.assertEqual(users, self.seller_a)

    def test_manager_sees_all_of_own_companies(self):
        for model in ("pulse.lead.stage.change", "pulse.stage.conversion"):
            _records, leads = self.visible(self.manager, model)
            self.assertEqual(leads & self.all_leads, self.leads_a | self.leads_b, model)
        _records, leads = self.visible(self.seller_other_company, "pulse.lead.stage.change")
        self.assertEqual(leads & self.all_leads, self.leads_other)
        _snapshots, users = self.visible(self.manager, "pulse.pipeline.snapshot")
        self.assertEqual(
            users & (self.seller_a | self.seller_b | self.seller_other_company),
            self.seller_a | self.seller_b,
        )

    def test_users_only_read(self):
        change = self.Change.search([("lead_id", "=", self.leads_a[0].id)], limit=1)
        for user in (self.seller_a, self.manager):
            with self.assertRaises(AccessError):
                change.with_user(user).write({"probability": 1})
            with self.assertRaises(AccessError):
                change.with_user(user).unlink()

    def test_salesperson_move_is_recorded(self):
        """A salesperson moves their own deal: the history is written for them."""
        lead = self.leads_a[0].with_user(self.seller_a)
        lead.stage_id = self.won
        last = self.Change.with_user(self.seller_a).search(
            [("lead_id", "=", lead.id)], order="date desc, id desc", limit=1
        )
        self.assertEqual((last.from_stage_id, last.to_stage_id), (self.proposal, self.won))


@tagged("post_install", "-at_install")
class TestDemoPipeline(StageHistoryCase):
    """The demo's three years of pipeline: replayed through the ORM day by day, so the
    tracking, the history and the snapshots agree."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.team.member_ids = cls.seller_a | cls.seller_b
        cls.counts = demo_pipeline.generate(cls.env, seed=7, leads_per_salesperson=6)
        cls.leads = (
            cls.env["crm.lead"]
            .with_context(active_test=False)
            .search([("team_id", "=", cls.team.id)])
        )

    def test_history_agrees_with_tracking(self):
        # six deals per salesperson of the team
        self.assertEqual(len(self.leads), 6 * len(self.team.member_ids))
        self.assertGreaterEqual(self.counts["pipeline_leads"], len(self.leads))
        moves = self.Change.search([("lead_id", "in", self.leads.ids), ("kind", "=", "moved")])
        self.assertEqual(
            sorted((m.lead_id.id, m.from_stage_id.id, m.to_stage_id.id) for m in moves),
            self.tracked_stage_changes(self.leads),
        )
        first = min(self.Change.search([("lead_id", "in", self.leads.ids)]).mapped("date"))
        self.assertLess(first.date(), self.today - timedelta(days=365))
        live = self.history(self.leads)
        self.env.cr.execute(
            "DELETE FROM pulse_lead_stage_change WHERE lead_id = ANY(%s)", [self.leads.ids]
        )
        # as the install does it: the foreign keys checked once, after the insert
        self.Change._backfill(bulk=True)
        self.assertEqual(self.history(self.leads), live)

    def test_snapshots_agree_with_history(self):
        """The snapshots rebuilt for the past (one INSERT for every day) hold, day after
        day, the pipeline rebuilt from the history for that day alone."""
        Snapshot = self.Snapshot
        for days_back in range(1, 3 * 365, 29):
            day = self.today - timedelta(days=days_back)
            self.assertEqual(Snapshot._pipeline_on(day), Snapshot._snapshot_of(day), day)
        self.assertTrue(Snapshot.search_count([("day", "<", self.today - timedelta(days=365))]))
