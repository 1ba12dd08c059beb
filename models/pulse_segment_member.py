from odoo import fields, models


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
        # at most one open stay per customer and segment; columns of earlier versions
        self.env.cr.execute(
            """
            -- reports reading memberships are recreated after this (their models follow)
            DROP VIEW IF EXISTS pulse_segment_kpi, pulse_segment_size;
            ALTER TABLE pulse_segment_member
                DROP COLUMN IF EXISTS company_id,
                DROP COLUMN IF EXISTS create_uid,
                DROP COLUMN IF EXISTS write_uid,
                DROP COLUMN IF EXISTS create_date,
                DROP COLUMN IF EXISTS write_date;
            CREATE UNIQUE INDEX IF NOT EXISTS pulse_segment_member_open_uniq
                ON pulse_segment_member (segment_id, partner_id) WHERE date_left IS NULL
            """
        )

    def _compute_is_open(self):
        for member in self:
            member.is_open = not member.date_left

    def _search_is_open(self, operator, value):
        if operator not in ("=", "!="):
            return NotImplemented
        open_wanted = (operator == "=") == bool(value)
        return [("date_left", "=" if open_wanted else "!=", False)]
