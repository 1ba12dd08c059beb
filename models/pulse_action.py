from odoo import api, models


class PulseAction(models.AbstractModel):
    """What a rule step does: one family of actions per model, `pulse.action.<family>`,
    each in its own file (models/pulse_action_<family>.py), all with this interface:

    - `_check(step)`: what is wrong with the step's configuration, in words (refused when
      the rule is switched on);
    - `_act(run)`: do it for one run, returning the record it made (or None); raises
      RunSkipped (pulse_step_run.py) with the reason when the customer cannot get it;
    - `_act_batch(runs)`: do it for many runs of one step at once ({run: record, or the
      error that run failed with, alone}), or None when the family has no batch form: the
      runs then act alone;
    - external families (webhook, SMS gateway) answer `_is_external(run)` and build the
      call in `_request(run)`: the engine makes it exactly once (pulse.step.run
      `_call_external`);
    - `_preview(step, partner)`: what the customer would get, for the rule's preview.

    Adding an action: a new file with an AbstractModel inheriting `pulse.action`, its value
    in ACTIONS and its model in ACTION_MODELS (pulse_rule_step.py), its fields on the step.
    """

    _name = "pulse.action"
    _description = "Rule step action"

    @api.model
    def _check(self, step):
        """What prevents `step` from running, in words (empty: nothing)."""
        return []

    @api.model
    def _act(self, run):
        """Do the step for `run`; returns the record made (or None)."""
        raise NotImplementedError(run.step_id.action)

    @api.model
    def _act_batch(self, runs):
        """{run: record, or the error (RunSkipped: the reason) that kept that run from
        acting} when the step acted for all these runs at once (one per customer), None when
        the family has no batch form."""
        return None

    @api.model
    def _is_external(self, run):
        """True when this run's action calls out of the machine: it is made exactly once,
        outside the batch's transaction, from `_request`."""
        return False

    @api.model
    def _request(self, run):
        """The external call of `run`: {url, body, headers, what, secrets (kept out of
        errors), check (a last check made right before the call), done (what follows a
        successful call)...}. Raises RunSkipped or an error."""
        raise NotImplementedError(run.step_id.action)

    @api.model
    def _preview(self, step, partner):
        """HTML of what `partner` would get from `step` (None: nothing to show)."""
        return None
