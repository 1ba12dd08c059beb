from odoo import fields, models
from odoo.tools import SQL


class PulseSegmentSize(models.Model):
    """Members of each segment day by day, rebuilt from the membership history (who
    entered and who left when): no snapshot table to keep."""

    _name = "pulse.segment.size"
    _inherit = "pulse.report.view"
    _description = "Segment size over time"
    _auto = False
    _order = "date desc, segment_id"
    _rec_name = "segment_id"

    segment_id = fields.Many2one("pulse.segment", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    date = fields.Date(readonly=True)
    member_count = fields.Integer(
        "Members", readonly=True, aggregator="avg", help="Members at the end of the day."
    )
    entered = fields.Integer(readonly=True, help="Customers who entered that day.")
    left = fields.Integer(readonly=True, help="Customers who left that day.")

    def _with(self):
        # entries and exits per segment and day, and each segment's first day
        return SQL(
            """
            WITH events AS (
                SELECT segment_id, date_entered::date AS day, COUNT(*) AS entered, 0 AS left_
                  FROM pulse_segment_member GROUP BY 1, 2
                 UNION ALL
                SELECT segment_id, date_left::date, 0, COUNT(*)
                  FROM pulse_segment_member WHERE date_left IS NOT NULL GROUP BY 1, 2
            ), per_day AS (
                SELECT segment_id, day, SUM(entered) AS entered, SUM(left_) AS left_
                  FROM events GROUP BY 1, 2
            ), bounds AS (
                SELECT p.segment_id, s.company_id, MIN(p.day) AS first_day
                  FROM per_day p JOIN pulse_segment s ON s.id = p.segment_id
                 GROUP BY 1, 2
            )
            """
        )

    def _select(self):
        return SQL(
            """
            SELECT ROW_NUMBER() OVER (ORDER BY b.segment_id, d.day) AS id,
                   b.segment_id, b.company_id, d.day::date AS date,
                   SUM(COALESCE(p.entered, 0) - COALESCE(p.left_, 0))
                       OVER (PARTITION BY b.segment_id ORDER BY d.day)::integer AS member_count,
                   COALESCE(p.entered, 0)::integer AS entered,
                   COALESCE(p.left_, 0)::integer AS left
            """
        )

    def _from(self):
        # every day from the segment's first to today, with or without events
        return SQL(
            """
              FROM bounds b
             CROSS JOIN LATERAL GENERATE_SERIES(b.first_day, CURRENT_DATE, INTERVAL '1 day')
                   AS d(day)
              LEFT JOIN per_day p ON p.segment_id = b.segment_id AND p.day = d.day::date
            """
        )
