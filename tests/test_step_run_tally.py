from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools import SQL

from ..models.pulse_quote_milestone import MILESTONE_FUNCTIONS
from ..models.pulse_step_run_tally import TALLY_FUNCTIONS
from .common import PulseFactsCase


@tagged("post_install", "-at_install")
class TestStepRunTally(PulseFactsCase):
    """The run counts kept by the database as runs are written (pulse.step.run.tally) are
    the runs counted one by one, whatever writes or deletes them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].set_param("customer_pulse.cap_touches", 0)
        cls.rule = cls.make_rule(name="Counted rule")
        cls.step_1 = cls.rule.step_ids
        cls.step_2 = cls.add_email_step(cls.step_1, delay=0)
        cls.customers = cls.env["res.partner"].concat(
            *(cls.make_customer(f"Counted {n}", email=f"{n}@tally.example") for n in "ABCD")
        )
        with freeze_time("2026-03-10 09:00:00"):
            for partner in cls.customers:
                cls.make_order(partner, "2024-06-01")
            cls.Facts._refresh_all()
            cls.rule.action_start()
            cls.env["pulse.rule.engine"]._cron_run_engine()

    def counted(self):
        """(rule, step, company, month, state, test mode): runs, as the tally adds them up
        and as the runs are, one by one."""
        self.env.flush_all()
        tally = self.env.execute_query(
            SQL(
                """
                SELECT rule_id, step_id, company_id, month, state, test_mode, SUM(run_count)
                  FROM pulse_step_run_tally
                 GROUP BY 1, 2, 3, 4, 5, 6 HAVING SUM(run_count) <> 0
                """
            )
        )
        runs = self.env.execute_query(
            SQL(
                """
                SELECT e.rule_id, run.step_id, e.company_id,
                       date_trunc('month', e.date_enrolled)::date, run.state,
                       COALESCE(run.test_mode, FALSE), COUNT(*)
                  FROM pulse_step_run run JOIN pulse_enrolment e ON e.id = run.enrolment_id
                 GROUP BY 1, 2, 3, 4, 5, 6
                """
            )
        )
        return sorted(tally), sorted(runs)

    def assertCounted(self):
        tally, runs = self.counted()
        self.assertTrue(runs, "the set-up ran no step")
        self.assertEqual(tally, runs)

    def test_engine_runs_are_counted(self):
        self.assertCounted()
        self.assertEqual(self.rule.run_done_count, 8, "two emails to four customers")
        self.assertEqual(self.step_1.run_done_count, 4)
        self.assertEqual(self.step_2.run_done_count, 4)

    def test_merging_keeps_the_sums(self):
        Tally = self.env["pulse.step.run.tally"]
        self.assertEqual(Tally.search_count([]), 2, "the engine merged its rows: one per step")
        self.second_run().write({"state": "failed", "error": "bounced"})
        self.env.flush_all()
        self.assertEqual(Tally.search_count([]), 4, "the write added a row per key it moved")
        Tally._compact()
        self.assertCounted()
        self.assertEqual(Tally.search_count([]), 3, "one row per step and state")

    def second_run(self):
        return self.rule.enrolment_ids.run_ids.filtered(lambda r: r.step_id == self.step_2)[0]

    def test_runs_written_by_hand_are_counted(self):
        self.second_run().write({"state": "failed", "error": "bounced"})
        self.assertCounted()
        self.assertEqual(self.step_2.run_failed_count, 1)
        self.assertEqual(self.step_2.run_done_count, 3)

    def test_deleted_customer_step_and_rule_leave_the_counts(self):
        self.env["pulse.step.run.tally"]._compact()
        # an enrolment deleted (as with its customer): its runs go with it
        self.rule.enrolment_ids[0].unlink()
        self.assertCounted()
        self.assertEqual(self.rule.run_done_count, 6)
        self.step_2.unlink()
        self.assertCounted()
        self.assertEqual(self.rule.run_done_count, 3)
        # the rule deleted in the database (Odoo forbids it once it enrolled): its steps,
        # enrolments and runs cascade, its counts with them, in any order
        self.env.cr.execute(SQL("DELETE FROM pulse_rule WHERE id = %s", self.rule.id))
        self.env.invalidate_all()
        tally, runs = self.counted()
        self.assertEqual(tally, runs)
        self.assertFalse(self.env["pulse.step.run.tally"].search_count([]))

    def test_rebuild_counts_the_same(self):
        Tally = self.env["pulse.step.run.tally"]
        Tally._rebuild()
        self.assertCounted()

    def test_counts_by_company_and_group(self):
        """The tally has the runs' company rule, and only the runs' readers read it."""
        Tally = self.env["pulse.step.run.tally"]
        self.assertEqual(
            Tally.with_user(self.pulse_marketer).search_count([]), Tally.search_count([])
        )
        other = self.make_company("Tally Other Co")
        elsewhere = self.make_user("tally_elsewhere", "marketer", companies=other)
        self.assertFalse(Tally.with_user(elsewhere).search_count([]))
        self.assertEqual(self.rule.with_user(self.pulse_marketer).run_done_count, 8)
        with self.assertRaises(AccessError):
            Tally.with_user(self.internal_user).search_count([])

    def test_trigger_statements_planned_at_each_call(self):
        """Trigger functions reading transition tables plan their statements when they run
        (a plan kept from the session's first, empty statement made a later statement of
        19,000 runs quadratic)."""
        functions = [*TALLY_FUNCTIONS, *MILESTONE_FUNCTIONS]
        rows = self.env.execute_query(
            SQL("SELECT proname, prosrc FROM pg_proc WHERE proname = ANY(%s)", functions)
        )
        self.assertEqual(sorted(name for name, _src in rows), sorted(functions))
        for name, source in rows:
            self.assertIn("EXECUTE $statement$", source, name)
