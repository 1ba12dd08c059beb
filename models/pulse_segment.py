import ast
import logging

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL
from odoo.tools.safe_eval import datetime as safe_datetime
from odoo.tools.safe_eval import safe_eval
from odoo.tools.safe_eval import time as safe_time

_logger = logging.getLogger(__name__)


class PulseSegment(models.Model):
    _name = "pulse.segment"
    _description = "Customer segment"
    _inherit = ["mail.thread"]
    _order = "sequence, name, id"

    name = fields.Char(required=True, tracking=True)
    description = fields.Text()
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    color = fields.Integer()
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    kind = fields.Selection(
        [("dynamic", "Dynamic (a filter)"), ("static", "Static (a hand-picked list)")],
        default="dynamic",
        required=True,
        tracking=True,
    )
    is_builtin = fields.Boolean(
        "Shipped", readonly=True, help="Shipped with Customer Pulse; copy it to change it."
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
    static_partner_ids = fields.Many2many(
        "res.partner",
        "pulse_segment_static_partner_rel",
        "segment_id",
        "partner_id",
        string="Customers",
    )
    member_ids = fields.One2many("pulse.segment.member", "segment_id", string="Memberships")
    member_count = fields.Integer("Members", compute="_compute_member_count")
    last_refresh = fields.Datetime(readonly=True, copy=False)
    refresh_state = fields.Selection(
        [("never", "Never refreshed"), ("ok", "Up to date"), ("error", "In error")],
        default="never",
        readonly=True,
        copy=False,
    )
    refresh_error = fields.Text(readonly=True, copy=False)

    def _compute_member_count(self):
        counts = dict(
            self.env["pulse.segment.member"]._read_group(
                [("segment_id", "in", self.ids), ("date_left", "=", False)],
                ["segment_id"],
                ["__count"],
            )
        )
        for segment in self:
            segment.member_count = counts.get(segment, 0)

    @api.constrains("domain", "kind")
    def _check_domain(self):
        for segment in self.filtered(lambda s: s.kind == "dynamic"):
            try:
                segment._partner_query()
            except Exception as e:
                raise ValidationError(
                    self.env._(
                        "The filter of segment %(name)s is not valid: %(error)s",
                        name=segment.name,
                        error=e,
                    )
                ) from e

    # ------------------------------------------------------------------ domain
    def _eval_domain(self):
        """The segment's domain, with relative dates evaluated today."""
        self.ensure_one()
        text = (self.domain or "[]").strip()
        context = {
            "context_today": lambda: fields.Date.context_today(self),
            "relativedelta": relativedelta,
            "datetime": safe_datetime,
            "time": safe_time,
            "uid": self.env.uid,
            "company_id": self.company_id.id,
            # Settings › Customer Pulse › Lapsed customers
            "lapsed_days": int(
                self.env["ir.config_parameter"].sudo().get_param("customer_pulse.lapsed_days", 365)
                or 365
            ),
        }
        try:
            domain = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            domain = safe_eval(text, context)
        if not isinstance(domain, list):
            raise ValueError(self.env._("a filter is a list of conditions"))
        return domain

    def _partner_query(self):
        """SQL selecting the customers (commercial partners) whose contact records match the
        segment's filter: a contact that matches brings in its company. Built by the ORM's
        own query builder in the segment's company, as the superuser (membership does not
        depend on who presses Refresh)."""
        self.ensure_one()
        partners = self.env["res.partner"].sudo().with_company(self.company_id)
        query = partners._search(self._eval_domain())
        query.order = None
        return SQL(
            "SELECT DISTINCT COALESCE(p.commercial_partner_id, p.id) AS id"
            " FROM res_partner p WHERE p.id IN %s",
            query.subselect(),
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
        cr = self.env.cr
        for segment in self:
            self.env.flush_all()
            # The matching customers go into an indexed, analysed temporary table, so that
            # both anti-joins are planned from real sizes (the membership table may have
            # grown since its statistics were taken).
            cr.execute("DROP TABLE IF EXISTS pulse_segment_target")
            cr.execute(
                "CREATE TEMP TABLE pulse_segment_target (id integer PRIMARY KEY) ON COMMIT DROP"
            )
            cr.execute(SQL("INSERT INTO pulse_segment_target %s", segment._target_sql()))
            cr.execute("ANALYZE pulse_segment_target")
            # 1. open members no longer matching leave
            cr.execute(
                SQL(
                    """
                    UPDATE pulse_segment_member m SET date_left = %(now)s,
                           write_date = %(now)s, write_uid = %(uid)s
                     WHERE m.segment_id = %(segment)s AND m.date_left IS NULL
                       AND NOT EXISTS (SELECT 1 FROM pulse_segment_target t
                                        WHERE t.id = m.partner_id)
                    """,
                    now=now,
                    uid=self.env.uid,
                    segment=segment.id,
                )
            )
            left = cr.rowcount
            # 2. matching customers already in stay in (the anti-join reads the memberships
            #    before any is added: probing a table that grows under the same statement
            #    was quadratic, 130 s for 156,000 newcomers)
            cr.execute(
                SQL(
                    """
                    DELETE FROM pulse_segment_target t USING pulse_segment_member m
                     WHERE m.segment_id = %s AND m.date_left IS NULL AND m.partner_id = t.id
                    """,
                    segment.id,
                )
            )
            # 3. the others enter
            cr.execute(
                SQL(
                    """
                    INSERT INTO pulse_segment_member (segment_id, partner_id, company_id,
                           date_entered, create_uid, write_uid, create_date, write_date)
                    SELECT %(segment)s, t.id, %(company)s, %(now)s, %(uid)s, %(uid)s,
                           %(now)s, %(now)s
                      FROM pulse_segment_target t
                    """,
                    now=now,
                    uid=self.env.uid,
                    segment=segment.id,
                    company=segment.company_id.id,
                )
            )
            result[segment] = (cr.rowcount, left)
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
