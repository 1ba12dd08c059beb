from odoo import api, fields, models

from ..tools.analyze import analyze_if_large
from ..tools.schema import create_missing_indexes

# at most one open stay per customer and segment
OPEN_UNIQUE_INDEX = "pulse_segment_member_open_uniq"


class PulseSegmentMember(models.Model):
    """One stay of a customer in a segment: entering opens a row, leaving closes it,
    coming back opens a new one. Rules react to these rows (entered / left)."""

    _name = "pulse.segment.member"
    _description = "Segment membership"
    _order = "date_entered desc, id desc"
    _rec_name = "partner_id"
    # Written in bulk by the refresh (a first refresh may open a million rows): no
    # create/write user columns, whose foreign-key checks cost a fifth of the insert;
    # date_entered and date_left are the row's history.
    _log_access = False

    segment_id = fields.Many2one(
        "pulse.segment", required=True, ondelete="cascade", index=True, readonly=True
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        ondelete="cascade",
        index=True,
        readonly=True,
    )
    # the segment's company (not stored: one foreign-key check less per row written)
    company_id = fields.Many2one(related="segment_id.company_id", string="Company")
    date_entered = fields.Datetime("Entered", required=True, readonly=True)
    date_left = fields.Datetime("Left", readonly=True)
    is_open = fields.Boolean("Member now", compute="_compute_is_open", search="_search_is_open")

    def init(self):
        # at most one open stay per customer and segment (columns of earlier versions:
        # migrations/18.0.1.1.0/pre-30-reports.py)
        create_missing_indexes(
            self.env.cr,
            {
                OPEN_UNIQUE_INDEX: "ON pulse_segment_member (segment_id, partner_id)"
                " WHERE date_left IS NULL"
            },
            unique=True,
        )

    @api.model
    def _analyze_after_refresh(self, written):
        """Fresh planner statistics once a segment refresh opened and closed `written`
        memberships, when that is many: the segment's form reads its key figures
        (pulse.segment.kpi) through this table right after, and planned on the statistics of
        the empty table the first read at 100k customers took 418 s instead of 125 ms."""
        analysed = analyze_if_large(self.env.cr, self._table, written)
        if analysed:
            # and the segments' few rows: with memberships of a segment created since their
            # last ANALYZE (autovacuum waits for 50 changes), the planner took a merge join of
            # segments and memberships for one that ends early (segment revenue at a million
            # customers: 2.5 s instead of 60 ms)
            analyze_if_large(self.env.cr, "pulse_segment", 1, full=True)
        return analysed

    def _compute_is_open(self):
        for member in self:
            member.is_open = not member.date_left

    def _search_is_open(self, operator, value):
        if operator not in ("=", "!="):
            return NotImplemented
        open_wanted = (operator == "=") == bool(value)
        return [("date_left", "=" if open_wanted else "!=", False)]
