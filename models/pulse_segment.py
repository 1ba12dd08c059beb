import ast
import logging

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL
from odoo.tools.safe_eval import datetime as safe_datetime
from odoo.tools.safe_eval import safe_eval
from odoo.tools.safe_eval import time as safe_time

from ..tools.params import setting

_logger = logging.getLogger(__name__)


class PulseSegment(models.Model):
    _name = "pulse.segment"
    _description = "Customer segment"
    _inherit = ["mail.thread"]
    _order = "sequence, name, id"

    name = fields.Char(required=True, tracking=True, translate=True)
    description = fields.Text(translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    color = fields.Integer()
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        default=lambda self: self._default_responsible(),
        required=True,
        tracking=True,
        help="The filter is evaluated with this user's access rights and companies: members "
        "are the customers they may see, matched on the fields they may read. Only a "
        "Customer Pulse manager can make someone else responsible.",
    )
    kind = fields.Selection(
        [("dynamic", "Dynamic (a filter)"), ("static", "Static (a hand-picked list)")],
        default="dynamic",
        required=True,
        tracking=True,
    )
    is_builtin = fields.Boolean(
        "Shipped",
        readonly=True,
        copy=False,
        help="Shipped with Customer Pulse; copy it to change it.",
    )
    domain = fields.Char(
        "Filter",
        default="[]",
        tracking=True,
        help="Customers (companies and individuals) whose record, or one of whose contacts' "
        "records, matches this filter are members. It may use "
        "every customer fact (last order, rhythm, RFM segment, amounts due), categories "
        "bought, tags, country, salesperson and any field of the contact. Dates can be "
        "relative: context_today() - relativedelta(days=365); lapsed_days is the "
        "Lapsed customers setting.",
    )
    lapsed_days = fields.Integer(
        compute="_compute_lapsed_days",
        help="The Lapsed customers setting, for the filter editor to show filters that use it.",
    )
    static_partner_ids = fields.Many2many(
        "res.partner",
        "pulse_segment_static_partner_rel",
        "segment_id",
        "partner_id",
        string="Customers",
    )
    member_ids = fields.One2many("pulse.segment.member", "segment_id", string="Memberships")
    member_count = fields.Integer("Members", compute="_compute_kpis")
    last_refresh = fields.Datetime(readonly=True, copy=False)
    refresh_state = fields.Selection(
        [("never", "Never refreshed"), ("ok", "Up to date"), ("error", "In error")],
        default="never",
        readonly=True,
        copy=False,
    )
    refresh_error = fields.Text(readonly=True, copy=False)
    mailing_list_id = fields.Many2one(
        "mailing.list",
        string="Mailing list",
        copy=False,
        tracking=True,
        help="Kept in step with the members at each refresh: members who enter are subscribed "
        "with their email, members who leave are unsubscribed. Contacts who opted out of "
        "the list or are blacklisted are never subscribed again; contacts added by hand who "
        "are not members are removed.",
    )
    # key figures of the current members, stored with each refresh (pulse.segment.kpi)
    currency_id = fields.Many2one(related="company_id.currency_id", string="Currency")
    kpi_revenue = fields.Monetary(
        "Revenue (RFM window)", compute="_compute_kpis", groups="account.group_account_invoice"
    )
    kpi_revenue_share = fields.Float(
        "Share of revenue (%)", compute="_compute_kpis", groups="account.group_account_invoice"
    )
    kpi_avg_order_value = fields.Monetary("Average order", compute="_compute_kpis")
    kpi_orders_per_member_year = fields.Float(
        "Orders per member per year", compute="_compute_kpis", digits=(16, 2)
    )
    kpi_forecast_orders = fields.Float(
        "Forecast orders (90 days)", compute="_compute_kpis", digits=(16, 1)
    )
    kpi_forecast_revenue = fields.Monetary(
        "Forecast revenue (90 days)",
        compute="_compute_kpis",
        groups="account.group_account_invoice",
    )

    def _compute_lapsed_days(self):
        self.lapsed_days = self._lapsed_days()

    @api.model
    def _lapsed_days(self):
        """Settings › Customer Pulse › Lapsed customers (days)."""
        return setting(self.env, "lapsed_days")

    def _compute_kpis(self):
        # sudo: one read for every figure, the members' count with them (both stored with
        # the refresh); the revenue fields carry the invoice group, so a reader without it
        # never gets them from this compute
        kpis = self.env["pulse.segment.kpi"].sudo()._for_segments(self)
        counts = {}
        if any(segment.id not in kpis for segment in self):
            # never refreshed since the figures are stored: the members are counted
            counts = dict(
                self.env["pulse.segment.member"]._read_group(
                    [("segment_id", "in", self.ids), ("date_left", "=", False)],
                    ["segment_id"],
                    ["__count"],
                )
            )
        for segment in self:
            kpi = kpis.get(segment.id)
            segment.member_count = kpi.member_count if kpi else counts.get(segment, 0)
            segment.kpi_revenue = kpi.revenue if kpi else 0
            segment.kpi_revenue_share = kpi.revenue_share if kpi else 0
            segment.kpi_avg_order_value = kpi.avg_order_value if kpi else 0
            segment.kpi_orders_per_member_year = kpi.orders_per_member_year if kpi else 0
            segment.kpi_forecast_orders = kpi.forecast_orders if kpi else 0
            segment.kpi_forecast_revenue = kpi.forecast_revenue if kpi else 0

    @api.constrains("domain", "kind", "user_id", "company_id")
    def _check_domain(self):
        for segment in self.filtered(lambda s: s.kind == "dynamic"):
            segment._check_filter(
                segment.domain,
                segment.company_id,
                segment.user_id,
                self.env._("The filter of segment %(name)s", name=segment.name),
            )

    @api.model
    def _default_responsible(self):
        """Who a new filter runs as: its author, or the administrator for what the system
        creates (install, scheduled jobs): never the superuser, which no rule binds."""
        if self.env.user._is_superuser():
            return self.env.ref("base.user_admin", raise_if_not_found=False)
        return self.env.user

    @api.model
    def _check_filter(self, text, company, responsible, what):
        """Refuse a filter that its author (the user saving it) or its responsible (the
        user it runs as) could not evaluate: invalid, or on a field they may not read."""
        for user in (self.env.user | responsible).filtered(lambda u: not u._is_superuser()):
            try:
                self._customers_query(text, company, user)
            except Exception as e:
                raise ValidationError(
                    self.env._(
                        "%(what)s is not valid for %(user)s: %(error)s",
                        what=what,
                        user=user.name,
                        error=e.args[0] if e.args else e,
                    )
                ) from e

    @api.model
    def _check_responsible(self, vals):
        """Only a manager hands a filter to someone else: the filter runs with the
        responsible's rights."""
        user_id = vals.get("user_id")
        if (
            user_id
            and user_id != self.env.uid
            and not self.env.su
            and not self.env.user.has_group("customer_pulse.group_pulse_manager")
        ):
            raise UserError(
                self.env._(
                    "Only a Customer Pulse manager can make someone else responsible: the "
                    "filter runs with the responsible's access rights."
                )
            )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_responsible(vals)
        segments = super().create(vals_list)
        # sudo: the key figures are computed, not edited by users
        self.env["pulse.segment.kpi"].sudo()._store(segments)
        return segments

    def write(self, vals):
        self._check_responsible(vals)
        result = super().write(vals)
        if "last_refresh" in vals:
            # the members were refreshed: their key figures are stored with them (sudo: the
            # figures are computed, not edited by users)
            self.env["pulse.segment.kpi"].sudo()._store(self)
            self.invalidate_recordset(
                [name for name, field in self._fields.items() if field.compute == "_compute_kpis"]
            )
        return result

    # ------------------------------------------------------------------ domain
    @api.model
    def _eval_domain_text(self, text, company):
        """A filter's text as a domain, relative dates evaluated today (segments and the
        audience, exit and step filters of rules share it)."""
        text = (text or "[]").strip()
        context = {
            "context_today": lambda: fields.Date.context_today(self),
            "relativedelta": relativedelta,
            "datetime": safe_datetime,
            "time": safe_time,
            "uid": self.env.uid,  # the user the filter runs as (see _customers_query)
            "company_id": company.id,
            # Settings › Customer Pulse › Lapsed customers
            "lapsed_days": self._lapsed_days(),
        }
        try:
            domain = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            domain = safe_eval(text, context)
        if not isinstance(domain, list):
            raise ValueError(self.env._("a filter is a list of conditions"))
        return domain

    def _partner_query(self):
        """SQL selecting the customers matching the segment's filter."""
        self.ensure_one()
        return self._customers_query(self.domain, self.company_id, self.user_id)

    @api.model
    def _customers_query(self, text, company, user):
        """SQL selecting the customers (commercial partners) whose contact records match a
        filter: a contact that matches brings in its company. Built by the ORM's own query
        builder with the rights of `user` (the segment's or rule's responsible) in
        `company`, never as the superuser: their record rules, field groups and company
        apply, so a filter reveals nothing they could not search themselves, and membership
        does not depend on who presses Refresh."""
        if not user or user._is_superuser():
            raise UserError(self.env._("A filter runs as a person: choose its responsible user."))
        if company not in user.sudo().company_ids:  # sudo: read the user's companies only
            raise UserError(
                self.env._(
                    "%(user)s has no access to the company %(company)s.",
                    user=user.name,
                    company=company.name,
                )
            )
        partners = (
            self.env["res.partner"]
            .with_user(user)
            .with_context(allowed_company_ids=[company.id], active_test=True)
        )
        query = partners._search(partners.env["pulse.segment"]._eval_domain_text(text, company))
        query.order = None
        # one pass over the partners: the matching rows' commercial partners
        return query.select(
            SQL(
                "DISTINCT COALESCE(%s, %s) AS id",
                SQL.identifier(query.table, "commercial_partner_id"),
                SQL.identifier(query.table, "id"),
            )
        )

    def _target_sql(self):
        self.ensure_one()
        if self.kind == "static":
            return SQL(
                "SELECT DISTINCT COALESCE(p.commercial_partner_id, p.id) AS id"
                " FROM pulse_segment_static_partner_rel r"
                " JOIN res_partner p ON p.id = r.partner_id WHERE r.segment_id = %s",
                self.id,
            )
        return self._partner_query()

    # ----------------------------------------------------------------- refresh
    def _refresh_members(self):
        """Bring the membership history up to date with anti-joins: matching customers
        without an open membership enter, open members who no longer match leave (their
        row is closed; coming back opens a new one). Returns
        {segment: (entered, left)}."""
        result = {}
        now = fields.Datetime.now()
        # a filter may read any field of any model (through the customers' search
        # methods too): everything pending is written once, before the statements below,
        # which write nothing through the ORM
        self.env.flush_all()
        for segment in self:
            # One statement: the matching customers and the open members meet in a FULL
            # JOIN (hash or merge join only: no per-row probing, whatever the planner
            # estimates for the filter); the rows on one side only are the changes. Both
            # writes read the same snapshot, so the INSERT never probes rows it adds.
            [counts] = self.env.execute_query(
                SQL(
                    """
                    WITH target AS MATERIALIZED (%(target)s),
                    open_members AS MATERIALIZED (
                        SELECT id, partner_id FROM pulse_segment_member
                         WHERE segment_id = %(segment)s AND date_left IS NULL
                    ), changes AS MATERIALIZED (
                        SELECT t.id AS newcomer, m.id AS leaver
                          FROM target t FULL JOIN open_members m ON m.partner_id = t.id
                         WHERE t.id IS NULL OR m.id IS NULL
                    ), closed AS (
                        UPDATE pulse_segment_member x SET date_left = %(now)s
                          FROM changes c WHERE x.id = c.leaver
                        RETURNING 1
                    ), opened AS (
                        INSERT INTO pulse_segment_member (segment_id, partner_id, date_entered)
                        SELECT %(segment)s, newcomer, %(now)s FROM changes
                         WHERE newcomer IS NOT NULL ORDER BY newcomer
                        RETURNING 1
                    )
                    SELECT (SELECT COUNT(*) FROM opened), (SELECT COUNT(*) FROM closed)
                    """,
                    target=segment._target_sql(),
                    segment=segment.id,
                    now=now,
                )
            )
            result[segment] = counts
        self.env["pulse.segment.member"]._analyze_after_refresh(sum(map(sum, result.values())))
        self.env["pulse.segment.member"].invalidate_model()
        self.write({"last_refresh": now, "refresh_state": "ok", "refresh_error": False})
        return result

    def _refresh_safely(self):
        """Refresh each segment in a savepoint: one whose filter fails (a field removed since)
        is marked in error with the reason and keeps its previous membership; the others
        go on."""
        for segment in self:
            try:
                with self.env.cr.savepoint():
                    segment._refresh_members()
                    if segment.mailing_list_id:
                        segment._sync_mailing_list()
            except Exception as e:
                _logger.warning("segment %s (%s) not refreshed: %s", segment.id, segment.name, e)
                segment.write({"refresh_state": "error", "refresh_error": str(e)})

    @api.model
    def _cron_refresh(self):
        self.search([("active", "=", True)])._refresh_safely()

    def action_refresh(self):
        self.check_access("write")
        self.sudo()._refresh_safely()  # sudo: memberships are computed, not edited by users
        errors = self.filtered(lambda s: s.refresh_state == "error")
        if errors:
            raise UserError(
                self.env._(
                    "%(name)s could not be refreshed: %(error)s",
                    name=errors[0].name,
                    error=errors[0].refresh_error,
                )
            )
        return True

    # ------------------------------------------------------------ mailing list
    def _sync_mailing_list(self):
        """Subscribe the members' emails to the segment's mailing list and unsubscribe
        the others. A customer's email is their own, or else their first contact's.
        Blacklisted emails and contacts who opted out of the list are left alone: the
        opted-out subscription stays (it is the record of their choice). Customers who
        object to profiling are never subscribed (and unsubscribed if they were). The differences
        are computed in SQL; contacts and subscriptions are written through the ORM.
        Returns (subscribed, unsubscribed)."""
        self.ensure_one()
        mailing_list = self.mailing_list_id
        # the one rule of who may be put on a mailing list, the rule steps' too
        ListAction = self.env["pulse.action.list"]
        cr = self.env.cr
        self.env.flush_all()
        cr.execute(
            SQL(
                """
                WITH emails AS (
                    SELECT DISTINCT ON (e.email_normalized) e.email_normalized, e.email,
                           e.name, e.country_id, p.name AS company_name
                      FROM pulse_segment_member m
                      JOIN res_partner p ON p.id = m.partner_id
                     CROSS JOIN LATERAL (
                           SELECT c.email_normalized, c.email, c.name, c.country_id
                             FROM res_partner c
                            WHERE (c.id = p.id OR (c.parent_id = p.id AND c.active))
                              AND c.email_normalized IS NOT NULL
                            ORDER BY c.id <> p.id, c.id LIMIT 1) e
                     WHERE m.segment_id = %(segment)s AND m.date_left IS NULL
                       AND NOT COALESCE(p.pulse_profiling_objection, FALSE)
                       AND NOT EXISTS (SELECT 1 FROM pulse_followup f
                                        WHERE f.hold AND f.partner_id
                                              = COALESCE(p.commercial_partner_id, p.id)
                                          AND f.company_id = %(company)s)
                       AND %(subscribable)s
                     ORDER BY e.email_normalized, m.partner_id
                )
                SELECT e.email_normalized, e.email, e.name, e.country_id, e.company_name,
                       (SELECT MIN(mc.id) FROM mailing_contact mc
                         WHERE mc.email_normalized = e.email_normalized)
                  FROM emails e
                 WHERE NOT EXISTS (
                       SELECT 1 FROM mailing_subscription s
                         JOIN mailing_contact mc ON mc.id = s.contact_id
                        WHERE s.list_id = %(list)s
                          AND mc.email_normalized = e.email_normalized)
                """,
                segment=self.id,
                list=mailing_list.id,
                company=self.company_id.id,
                subscribable=ListAction._subscribable_sql(
                    SQL("e.email_normalized"), mailing_list.id
                ),
            )
        )
        to_subscribe = cr.fetchall()
        Contact = self.env["mailing.contact"].with_context(
            tracking_disable=True, mail_create_nolog=True
        )
        Subscription = self.env["mailing.subscription"]
        existing = [row for row in to_subscribe if row[5]]
        Subscription.create(
            [{"contact_id": row[5], "list_id": mailing_list.id} for row in existing]
        )
        Contact.create(
            [
                {
                    "email": email,
                    "name": name,
                    "country_id": country,
                    "company_name": company if company != name else False,
                    "list_ids": [(4, mailing_list.id)],
                }
                for _normalized, email, name, country, company, contact in to_subscribe
                if not contact
            ]
        )
        # leavers (and anyone not a member, or blacklisted since): unsubscribed, unless they
        # opted out (their choice is kept)
        self.env.flush_all()
        cr.execute(
            SQL(
                """
                SELECT s.id FROM mailing_subscription s
                  JOIN mailing_contact mc ON mc.id = s.contact_id
                 WHERE s.list_id = %(list)s AND NOT COALESCE(s.opt_out, FALSE)
                   AND (NOT (%(stays)s)
                        OR NOT EXISTS (
                           SELECT 1 FROM pulse_segment_member m
                             JOIN res_partner c
                               ON c.id = m.partner_id
                               OR (c.parent_id = m.partner_id AND c.active)
                             JOIN res_partner cp ON cp.id = m.partner_id
                            WHERE m.segment_id = %(segment)s AND m.date_left IS NULL
                              AND NOT COALESCE(cp.pulse_profiling_objection, FALSE)
                              AND NOT EXISTS (SELECT 1 FROM pulse_followup f
                                               WHERE f.hold AND f.partner_id
                                                     = COALESCE(cp.commercial_partner_id, cp.id)
                                                 AND f.company_id = %(company)s)
                              AND c.email_normalized = mc.email_normalized))
                """,
                segment=self.id,
                list=mailing_list.id,
                company=self.company_id.id,
                # no longer fit for a list (opted-out subscriptions are kept, above)
                stays=ListAction._subscribable_sql(
                    SQL("mc.email_normalized"), mailing_list.id, ("no_email", "blacklisted")
                ),
            )
        )
        leavers = Subscription.browse([r[0] for r in cr.fetchall()])
        leavers.unlink()
        return len(to_subscribe), len(leavers)

    def action_create_mailing_list(self):
        """Create a mailing list named after the segment, link it and fill it."""
        self.ensure_one()
        self.check_access("write")
        if not self.mailing_list_id:
            self.mailing_list_id = self.env["mailing.list"].create(
                {"name": self.name, "is_public": False}
            )
        # sudo: the list is filled as the segments' refresh fills it; write access to
        # the segment is checked above
        self.sudo()._sync_mailing_list()
        return self.action_open_mailing_list()

    def action_sync_mailing_list(self):
        self.ensure_one()
        self.check_access("write")
        if not self.mailing_list_id:
            raise UserError(self.env._("Choose or create a mailing list first."))
        # sudo: the list is filled as the segments' refresh fills it; write access to
        # the segment is checked above
        subscribed, unsubscribed = self.sudo()._sync_mailing_list()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Mailing list updated"),
                "message": self.env._(
                    "%(subscribed)s subscribed, %(unsubscribed)s unsubscribed.",
                    subscribed=subscribed,
                    unsubscribed=unsubscribed,
                ),
                "type": "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_open_mailing_list(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "mailing.list",
            "res_id": self.mailing_list_id.id,
            "view_mode": "form",
            "views": [(False, "form")],
        }

    # ----------------------------------------------------------------- acting
    def _members_domain(self):
        """The segment's members as a partner domain (customers only, not every contact
        of a member company)."""
        return [("pulse_segment_ids", "in", self.ids), ("parent_id", "=", False)]

    def action_mass_mailing(self):
        """A new mass mailing to the members: to the synced mailing list when there is one
        (opt-outs honoured by the list), else to the members' own emails."""
        self.ensure_one()
        context = {"default_mailing_type": "mail", "default_subject": self.name}
        if self.mailing_list_id:
            context.update(
                default_mailing_model_id=self.env["ir.model"]._get_id("mailing.list"),
                default_contact_list_ids=self.mailing_list_id.ids,
            )
        else:
            context.update(
                default_mailing_model_id=self.env["ir.model"]._get_id("res.partner"),
                default_mailing_domain=repr(self._members_domain()),
            )
        return {
            "type": "ir.actions.act_window",
            "res_model": "mailing.mailing",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
            "context": context,
        }

    def action_send_sms(self):
        """Odoo's SMS composer in mass mode on the members (blacklist honoured)."""
        self.ensure_one()
        partners = self.env["res.partner"].search(self._members_domain())
        if not partners:
            raise UserError(self.env._("%(name)s has no members to text.", name=self.name))
        return {
            "type": "ir.actions.act_window",
            "res_model": "sms.composer",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "name": self.env._("Text the members of %(name)s", name=self.name),
            "context": {
                "default_composition_mode": "mass",
                "default_res_model": "res.partner",
                "default_res_ids": repr(partners.ids),
                "default_mass_keep_log": True,
            },
        }

    def action_schedule_activity(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "pulse.segment.activity",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "name": self.env._("Activity for the salespeople of %(name)s", name=self.name),
            "context": {"default_segment_id": self.id},
        }

    def action_open_members(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Members of %(name)s", name=self.name),
            "res_model": "res.partner",
            "view_mode": "list,kanban,form",
            "views": [
                (self.env.ref("customer_pulse.res_partner_view_list_pulse").id, "list"),
                (False, "kanban"),
                (False, "form"),
            ],
            "domain": [("pulse_segment_ids", "in", self.ids)],
            "context": {"create": False},
        }

    def action_open_history(self):
        self.ensure_one()
        action = self.env["ir.actions.actions"]._for_xml_id(
            "customer_pulse.action_pulse_segment_member"
        )
        action["domain"] = [("segment_id", "=", self.id)]
        action["context"] = {"search_default_open": 0}
        return action

    @api.ondelete(at_uninstall=False)
    def _unlink_except_builtin(self):
        if any(self.mapped("is_builtin")):
            raise UserError(self.env._("Shipped segments cannot be deleted: archive them instead."))
        # sudo: any rule the segment triggers blocks its deletion, archived or
        # another company's
        rules = (
            self.env["pulse.rule"]
            .sudo()
            .with_context(active_test=False)
            .search([("trigger_segment_id", "in", self.ids)])
        )
        if rules:
            # name only a rule the user may read: the others stay anonymous
            readable = rules.with_env(self.env)._filtered_access("read")
            raise UserError(
                self.env._(
                    "%(segment)s is used by the rule %(rule)s: archive the segment instead.",
                    segment=rules[0].trigger_segment_id.name,
                    rule=readable[:1].name or self.env._("of a company you do not work in"),
                )
            )
