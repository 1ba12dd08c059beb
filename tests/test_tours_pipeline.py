from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestToursPipeline(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        new_test_user(
            cls.env,
            login="tour_pipeline_manager",
            password="tour_pipeline_manager",
            groups="base.group_user,customer_pulse.group_pulse_manager",
        )
        team = cls.env["crm.team"].create({"name": "Tour pipeline team"})
        new, proposal = cls.env["crm.stage"].create(
            [
                {"name": "Tour New", "sequence": 1, "team_id": team.id},
                {"name": "Tour Proposal", "sequence": 2, "team_id": team.id},
            ]
        )
        leads = cls.env["crm.lead"].create(
            [
                {
                    "name": name,
                    "type": "opportunity",
                    "team_id": team.id,
                    "stage_id": new.id,
                    "expected_revenue": 1000,
                }
                for name in ("Tour Pipeline Deal", "Tour Other Deal", "Tour Idle Deal")
            ]
        )
        leads[:2].write({"stage_id": proposal.id})

    def test_manager_drills_from_stage_count_to_deals(self):
        self.start_tour("/odoo", "customer_pulse_pipeline", login="tour_pipeline_manager")
