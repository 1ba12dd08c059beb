from odoo import models


class SurveyUserInput(models.Model):
    _inherit = "survey.user_input"

    def _mark_done(self):
        result = super()._mark_done()
        # rules triggered by a completed survey react now
        self.env["pulse.step.run"].sudo()._wake_up_for(("survey_done",))
        return result
