from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models


class PulseActionActivity(models.AbstractModel):
    """Work for people, on the customer: schedule an activity (action 'activity') or log a
    note (action 'note'). Also the one rule of who gets an activity on a customer, for the
    steps and the segment's activity wizard (`_assignee`)."""

    _name = "pulse.action.activity"
    _inherit = "pulse.action"
    _description = "Rule action: activity or note"

    @api.model
    def _check(self, step):
        if step.action == "note":
            return [] if step.note_body else [self.env._("write the note")]
        errors = []
        if not step.activity_type_id:
            errors.append(self.env._("choose an activity type"))
        if step.activity_assign == "user" and not step.activity_user_id:
            errors.append(self.env._("choose the user"))
        return errors

    @api.model
    def _assignee(self, partner, assign, fallbacks=()):
        """Who gets an activity on `partner`: by `assign`, the customer's salesperson
        ('salesperson') or the leader of the salesperson's sales team ('team_leader'), or
        else the first of `fallbacks` that is set (a chosen user first). An empty
        recordset when nobody is."""
        user = self.env["res.users"]
        if assign == "salesperson":
            user = partner.user_id
        elif assign == "team_leader":
            user = partner.user_id.sale_team_id.user_id
        return user or next((u for u in fallbacks if u), self.env["res.users"])

    @api.model
    def _run_assignee(self, run):
        """The activity of a run goes to the step's choice, falling back on the step's
        user, the rule's responsible, then whoever runs the engine; in test mode to the
        rule's responsible."""
        step = run.step_id
        if run.test_mode:
            return run.rule_id.user_id
        fallbacks = (step.activity_user_id, run.rule_id.user_id, self.env.user)
        return self._assignee(run.partner_id, step.activity_assign, fallbacks)

    @api.model
    def _activity_vals(self, run):
        step = run.step_id
        return {
            "res_model_id": self.env["ir.model"]._get_id("res.partner"),
            "res_id": run.partner_id.id,
            "activity_type_id": step.activity_type_id.id,
            "summary": step.activity_summary or step.name,
            "note": step.activity_note,
            "date_deadline": fields.Date.context_today(run)
            + timedelta(days=step.activity_deadline_days),
            "user_id": self._run_assignee(run).id,
        }

    @api.model
    def _act(self, run):
        if run.step_id.action == "note":
            # sudo: the engine logs the step's note on the customer for the company
            return run.partner_id.sudo().message_post(
                body=run.step_id.note_body, subtype_xmlid="mail.mt_note"
            )
        # sudo: the engine schedules the step's activity for the company
        return self.env["mail.activity"].sudo().create(self._activity_vals(run))

    @api.model
    def _act_batch(self, runs):
        """All the activities in one create (notes act one by one)."""
        if runs[0].step_id.action == "note":
            return None
        # sudo: the engine schedules the step's activities for the company
        activities = (
            self.env["mail.activity"].sudo().create([self._activity_vals(run) for run in runs])
        )
        return dict(zip(runs, activities, strict=True))

    @api.model
    def _preview(self, step, partner):
        if step.action != "activity":
            return None
        return Markup("<p>%s: %s</p>") % (
            step.activity_type_id.name or "",
            step.activity_summary or "",
        )
