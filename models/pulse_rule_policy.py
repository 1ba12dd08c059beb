import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL, email_normalize

from ..tools.params import setting
from .pulse_rule_step import CUSTOMER_FACING, TOUCHES
from .pulse_step_run import RunSkipped

_logger = logging.getLogger(__name__)


class PulseRulePolicy(models.AbstractModel):
    """The policies that keep the rules polite, in one place, checked when a step is due:
    the enrolment ends (bought since entering, matches the exit filter), the step's
    condition no longer holds, or the customer is left out of this step (archived,
    objects to profiling, no address, blacklisted, held by a payment follow-up, owes money,
    frequency cap). What the checks need is read set-based once per batch (_due_facts)."""

    _name = "pulse.rule.policy"
    _description = "Rule policies"

    # --------------------------------------------------------------- purchases
    @api.model
    def _bought_since_sql(self, partner, company, since, trigger_key=None):
        """SQL: the commercial partner `partner` confirmed an order in `company` from
        `since` on, its very second included (SQL expressions all). The order that made an
        enrolment (its `trigger_key`, rule 'Order confirmed') is not bought since."""
        not_the_trigger = (
            SQL("AND %s IS DISTINCT FROM 'order,' || so.id", trigger_key)
            if trigger_key is not None
            else SQL()
        )
        # the customer's contacts written out (not COALESCE(commercial_partner_id, id)), so
        # that a few customers are looked up through the indexes instead of every order
        return SQL(
            """EXISTS (
                SELECT 1 FROM sale_order so JOIN res_partner p ON p.id = so.partner_id
                 WHERE (p.commercial_partner_id = %(partner)s
                        OR (p.commercial_partner_id IS NULL AND p.id = %(partner)s))
                   AND so.state = 'sale' AND so.company_id = %(company)s
                   AND so.date_order >= %(since)s %(not_the_trigger)s)""",
            partner=partner,
            company=company,
            since=since,
            not_the_trigger=not_the_trigger,
        )

    @api.model
    def _bought_since_entering_sql(self, alias):
        """SQL: the customer of the enrolment `alias` (of pulse_enrolment) bought since
        entering."""
        return self._bought_since_sql(
            SQL.identifier(alias, "partner_id"),
            SQL.identifier(alias, "company_id"),
            SQL.identifier(alias, "date_enrolled"),
            SQL.identifier(alias, "trigger_key"),
        )

    # ------------------------------------------------------------------ facts
    @api.model
    def _cap(self):
        """The frequency cap across rules: (touches at most, per days); 0 touches: none."""
        return setting(self.env, "cap_touches"), setting(self.env, "cap_days")

    @api.model
    def _due_facts(self, runs):
        """What the checks of these runs need, read set-based once for the batch: who
        bought since entering, who matches the exit filters and step conditions, who owes
        money, how many touches each customer had lately. A rule whose filter no longer
        evaluates (a field removed since…) is in facts['broken'] with the error: its runs
        wait, the other rules' go on."""
        cr = self.env.cr
        self.env.flush_all()  # the filters read any model
        partners = runs.partner_id
        # prefetch what the per-run checks read
        partners.mapped("email")
        partners.mapped("is_blacklisted")
        partners.mapped("pulse_profiling_objection")
        facts = {"bought": set(), "matches": {}, "overdue": set(), "touches": {}, "broken": {}}
        enrolments = runs.enrolment_id.filtered(lambda e: e.rule_id.exit_on_purchase)
        if enrolments:
            cr.execute(
                SQL(
                    "SELECT e.id FROM pulse_enrolment e WHERE e.id = ANY(%s) AND %s",
                    enrolments.ids,
                    self._bought_since_entering_sql("e"),
                )
            )
            facts["bought"] = {r[0] for r in cr.fetchall()}
        filters = {
            (run.rule_id, run.rule_id.exit_domain) for run in runs if run.rule_id.exit_domain
        }
        filters |= {(run.rule_id, run.step_id.condition) for run in runs if run.step_id.condition}
        for rule, text in filters:
            if rule in facts["broken"]:
                continue
            try:
                with cr.savepoint():
                    query = rule._partner_query(text)
                    if query is None:
                        matches = set(partners.ids)
                    else:
                        cr.execute(
                            SQL("SELECT id FROM (%s) q WHERE id = ANY(%s)", query, partners.ids)
                        )
                        matches = {r[0] for r in cr.fetchall()}
            except Exception as e:
                _logger.warning("rule %s (%s): a filter fails: %s", rule.id, rule.name, e)
                facts["broken"][rule] = self.env._(
                    "the filter %(filter)s cannot be evaluated: %(error)s", filter=text, error=e
                )
                continue
            # per rule: the same text reads with each rule's responsible and company
            facts["matches"][rule.id, text] = matches
        # who owes money: read only for the touches of rules under a marketing hold
        hold_rules = runs.rule_id.filtered("marketing_hold")
        held = (
            runs.filtered(
                lambda r: r.rule_id in hold_rules
                and r.step_id.action in TOUCHES
                and not r.test_mode
            )
            if hold_rules
            else runs.browse()
        )
        if held:
            cr.execute(
                SQL(
                    """
                    SELECT partner_id FROM pulse_partner_stats
                     WHERE partner_id = ANY(%s) AND company_id = ANY(%s)
                       AND amount_overdue > 0
                    """,
                    held.partner_id.ids,
                    held.company_id.ids,
                )
            )
            facts["overdue"] = {r[0] for r in cr.fetchall()}
        # the payment follow-up's marketing hold: {(customer, company): level name}
        facts["followup_hold"] = self.env["pulse.followup"]._held(
            partners.commercial_partner_id.ids, runs.company_id.ids
        )
        facts["cap"] = self._cap()
        touches, days = facts["cap"]
        if touches > 0 and days > 0:
            cr.execute(
                SQL(
                    """
                    SELECT partner_id, COUNT(*) FROM pulse_step_run
                     WHERE partner_id = ANY(%s) AND state = 'done' AND NOT test_mode
                       AND action = ANY(%s) AND executed_at > %s
                     GROUP BY partner_id
                    """,
                    partners.ids,
                    list(TOUCHES),
                    fields.Datetime.now() - timedelta(days=days),
                )
            )
            facts["touches"] = dict(cr.fetchall())
        return facts

    # ----------------------------------------------------------------- checks
    @api.model
    def _check_due(self, run, facts, reserved):
        """True when `run` may act now (a touch it makes is then reserved toward the
        frequency cap); otherwise its final state is written, or RunSkipped raised.
        facts: from _due_facts; reserved: touches already granted in this batch, per
        customer."""
        enrolment, step = run.enrolment_id, run.step_id
        partner = enrolment.partner_id
        if enrolment.state != "running":
            run.write({"state": "cancelled", "reason": self.env._("enrolment closed")})
            return False
        reason = self._exit_reason(run, facts)
        if reason:
            enrolment._close(reason[0], reason[1])
            run.write({"state": "cancelled", "reason": reason[1]})
            return False
        matches = facts["matches"].get((run.rule_id.id, step.condition), ())
        if step.condition and partner.id not in matches:
            run.write(
                {
                    "state": "skipped",
                    "reason": self.env._("the condition no longer holds"),
                    "executed_at": fields.Datetime.now(),
                }
            )
            return False  # the branch stops here
        exclusion = self._exclusion_reason(run, facts, reserved)
        if exclusion:
            raise RunSkipped(exclusion)
        if step.action in TOUCHES and not run.test_mode:
            reserved[run.partner_id.id] = reserved.get(run.partner_id.id, 0) + 1
        return True

    @api.model
    def _exit_reason(self, run, facts):
        """(state, reason) when the enrolment of `run` must end now, else None."""
        enrolment, rule = run.enrolment_id, run.rule_id
        if enrolment.id in facts["bought"]:
            return "converted", self.env._("bought since entering")
        matches = facts["matches"].get((rule.id, rule.exit_domain), ())
        if rule.exit_domain and enrolment.partner_id.id in matches:
            return "exited", self.env._("matches the exit filter")
        return None

    @api.model
    def _exclusion_reason(self, run, facts, reserved):
        """Why this customer must not get the step of `run` now (checked when it is
        due), in this order: consent, address, holds, frequency cap."""
        return (
            self._consent_reason(run)
            or self._address_reason(run)
            or self._hold_reason(run, facts)
            or self._cap_reason(run, facts, reserved)
        )

    @api.model
    def _consent_reason(self, run):
        """Archived, or objects to profiling (a customer-facing step)."""
        partner = run.partner_id
        if not partner.active:
            return self.env._("archived")
        # in test mode too: what the customer would get is shown as it will be
        if (
            run.step_id.action in CUSTOMER_FACING
            and partner.commercial_partner_id.pulse_profiling_objection
        ):
            return self.env._("objects to profiling")
        return None

    @api.model
    def _address_reason(self, run):
        """No valid address for an email, a survey or a text, or it is blacklisted (test
        mode sends nothing to the customer: not checked)."""
        partner, action = run.partner_id, run.step_id.action
        if run.test_mode:
            return None
        if action in ("email", "survey"):
            if not email_normalize(partner.email or ""):
                return self.env._("no valid email")
            if partner.is_blacklisted:
                return self.env._("email blacklisted")
        if action == "sms":
            if not (partner.mobile or partner.phone):
                return self.env._("no phone number")
            if partner.phone_sanitized_blacklisted:
                return self.env._("phone blacklisted")
        return None

    @api.model
    def _hold_reason(self, run, facts):
        """Held by a payment follow-up (touches and mailing lists), or owes money under the
        rule's marketing hold (touches); not in test mode."""
        partner, action = run.partner_id, run.step_id.action
        if run.test_mode:
            return None
        held = facts.get("followup_hold", {}).get(
            (partner.commercial_partner_id.id, run.company_id.id)
        )
        if held and (action in TOUCHES or action == "list_add"):
            return self.env._("follow-up level %(level)s", level=held)
        if action in TOUCHES and run.rule_id.marketing_hold and partner.id in facts["overdue"]:
            return self.env._("owes money (marketing hold)")
        return None

    @api.model
    def _cap_reason(self, run, facts, reserved):
        """The frequency cap across rules is reached (touches only; not in test mode)."""
        if run.test_mode or run.step_id.action not in TOUCHES:
            return None
        partner = run.partner_id
        touches, days = facts["cap"]
        recent = facts["touches"].get(partner.id, 0) + reserved.get(partner.id, 0)
        if touches > 0 and days > 0 and recent >= touches:
            return self.env._(
                "frequency cap: %(touches)s touches in %(days)s days",
                touches=touches,
                days=days,
            )
        return None
