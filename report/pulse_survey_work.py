from odoo import fields, models
from odoo.tools import SQL


class PulseSurveyWork(models.Model):
    """Completed survey participations: who filled them (the interviewer for an interview,
    else the customer), their department, the customer profiled and what it recorded."""

    _name = "pulse.survey.work"
    _inherit = "pulse.report.view"
    _description = "Surveys filled"
    _auto = False
    _order = "date desc"

    date = fields.Datetime("Completed", readonly=True)
    survey_id = fields.Many2one("survey.survey", readonly=True)
    user_input_id = fields.Many2one("survey.user_input", "Participation", readonly=True)
    user_id = fields.Many2one("res.users", "Interviewer", readonly=True)
    department_id = fields.Many2one("pulse.department", readonly=True)
    partner_id = fields.Many2one("res.partner", "Customer", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    kind = fields.Selection(
        [("interview", "Interview by staff"), ("self", "Answered by the customer")],
        readonly=True,
    )
    profile_state = fields.Selection(
        [
            ("none", "No mapped question"),
            ("unmatched", "Waiting for a customer"),
            ("done", "Recorded"),
            ("error", "Failed"),
        ],
        readonly=True,
    )
    value_count = fields.Integer("Values recorded", readonly=True)
    count = fields.Integer("Surveys", readonly=True)

    def _select(self):
        return SQL(
            """
            SELECT ui.id, ui.id AS user_input_id, ui.end_datetime AS date,
                   ui.survey_id, ui.pulse_interviewer_id AS user_id,
                   (SELECT r.department_id FROM pulse_department_res_users_rel r
                      JOIN pulse_department d ON d.id = r.department_id
                     WHERE r.user_id = ui.pulse_interviewer_id
                     ORDER BY d.sequence, d.id LIMIT 1) AS department_id,
                   -- a customer only suggested by a typed email is not theirs yet
                   CASE WHEN ui.pulse_profile_state = 'unmatched' THEN ui.partner_id
                        ELSE COALESCE(ui.pulse_partner_id, ui.partner_id)
                   END AS partner_id,
                   ui.pulse_company_id AS company_id,
                   CASE WHEN ui.pulse_interviewer_id IS NOT NULL THEN 'interview'
                        ELSE 'self' END AS kind,
                   COALESCE(ui.pulse_profile_state, 'none') AS profile_state,
                   (SELECT COUNT(*) FROM pulse_attribute_value v
                     WHERE v.user_input_id = ui.id) AS value_count,
                   1 AS count
            """
        )

    def _from(self):
        return SQL("FROM survey_user_input ui")

    def _where(self):
        # completed participations, test entries left out
        return SQL("WHERE ui.state = 'done' AND NOT COALESCE(ui.test_entry, false)")
