from odoo import api, models
from odoo.tools import SQL, email_normalize

from .pulse_step_run import RunSkipped


class PulseActionList(models.AbstractModel):
    """Add the customer's email to a mailing list, or remove it. Also the one rule of who
    may be put on a mailing list, for the steps and the segments' lists (`_blocks_sql`)."""

    _name = "pulse.action.list"
    _inherit = "pulse.action"
    _description = "Rule action: mailing list"

    @api.model
    def _check(self, step):
        if not step.mailing_list_id:
            return [self.env._("choose a mailing list")]
        return []

    # ------------------------------------------------------------ eligibility
    @api.model
    def _blocks_sql(self, email, list_id):
        """Why an email may not be put on the mailing list `list_id`, as SQL conditions
        named by reason, in the order they are told: it is missing or invalid, it opted out
        of the list (the opted-out subscription stays: the record of their choice), it is
        blacklisted. `email` is an SQL expression of a normalized email. Customers who
        object to profiling or are held by a payment follow-up are left out before, by
        the rules' policies (pulse.rule.policy) and the segments' own query."""
        return {
            "no_email": SQL("%s IS NULL", email),
            "opted_out": SQL(
                """EXISTS (SELECT 1 FROM mailing_subscription s
                             JOIN mailing_contact mc ON mc.id = s.contact_id
                            WHERE s.list_id = %s AND s.opt_out
                              AND mc.email_normalized = %s)""",
                list_id,
                email,
            ),
            "blacklisted": SQL(
                "EXISTS (SELECT 1 FROM mail_blacklist b WHERE b.email = %s AND b.active)", email
            ),
        }

    @api.model
    def _subscribable_sql(self, email, list_id, reasons=None):
        """SQL: `email` may be put on the list (none of the `reasons` of _blocks_sql, all by
        default, holds)."""
        blocks = self._blocks_sql(email, list_id)
        return SQL(" AND ").join(
            SQL("NOT (%s)", block)
            for reason, block in blocks.items()
            if reasons is None or reason in reasons
        )

    @api.model
    def _subscription_refusal(self, email, mailing_list):
        """Why `email` (normalized, or False) may not be put on `mailing_list`, in words
        (None: it may)."""
        self.env["mailing.subscription"].flush_model(["list_id", "contact_id", "opt_out"])
        self.env["mailing.contact"].flush_model(["email_normalized"])
        self.env["mail.blacklist"].flush_model(["email", "active"])
        blocks = self._blocks_sql(SQL("%s::varchar", email or None), mailing_list.id)
        row = self.env.execute_query(SQL("SELECT %s", SQL(", ").join(blocks.values())))[0]
        reason = next(
            (reason for reason, blocked in zip(blocks, row, strict=True) if blocked), None
        )
        return {
            None: None,
            "no_email": self.env._("no valid email"),
            "opted_out": self.env._("opted out of %(list)s", list=mailing_list.name),
            "blacklisted": self.env._("email blacklisted"),
        }[reason]

    # ----------------------------------------------------------------- acting
    @api.model
    def _act(self, run):
        partner, mailing_list = run.partner_id, run.step_id.mailing_list_id
        email = email_normalize(partner.email or "")
        if run.step_id.action == "list_remove":
            if not email:
                raise RunSkipped(self.env._("no valid email"))
            existing = self._subscription(email, mailing_list)
            if existing and not existing.opt_out:
                existing.unlink()
            return None
        refusal = self._subscription_refusal(email, mailing_list)
        if refusal:
            raise RunSkipped(refusal)
        existing = self._subscription(email, mailing_list)
        if existing:
            return existing
        # sudo: the engine finds or makes the list's contact, for the company
        Contact = self.env["mailing.contact"].sudo()
        contact = Contact.search([("email_normalized", "=", email)], limit=1) or Contact.create(
            {"name": partner.name, "email": email}
        )
        # sudo: the engine subscribes the contact, for the company
        return (
            self.env["mailing.subscription"]
            .sudo()
            .create({"contact_id": contact.id, "list_id": mailing_list.id})
        )

    @api.model
    def _subscription(self, email, mailing_list):
        # sudo: the engine changes the list the marketer chose, for the company
        return (
            self.env["mailing.subscription"]
            .sudo()
            .search(
                [("list_id", "=", mailing_list.id), ("contact_id.email_normalized", "=", email)],
                limit=1,
            )
        )
