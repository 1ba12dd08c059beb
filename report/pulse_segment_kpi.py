from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.params import param_key, setting_default

# Forecast horizon (days) of the segment dashboard.
HORIZON = 90
# A member whose last order is older than this many times their rhythm is not expected to
# order again on their own (the forecast counts nothing for them).
STOPPED_AFTER_RHYTHMS = 2
# Orders per member are shown per this many days.
DAYS_PER_YEAR = 365
# The RFM window setting (tools/params.py), read by the view itself.
WINDOW_SETTING = "rfm_window_days"


class PulseSegmentKpi(models.Model):
    """Key figures of each segment's current members, computed live from the customer
    facts (a view: always in step with the last refresh of the segments and the facts)."""

    _name = "pulse.segment.kpi"
    _inherit = "pulse.report.view"
    _description = "Segment key figures"
    _auto = False
    _order = "segment_id"
    _rec_name = "segment_id"

    segment_id = fields.Many2one("pulse.segment", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one(related="company_id.currency_id", string="Currency")
    member_count = fields.Integer("Members", readonly=True)
    revenue = fields.Monetary(
        "Revenue (RFM window)",
        readonly=True,
        groups="account.group_account_invoice",
        help="Invoiced to the members, net of refunds, over the RFM window (12 months by "
        "default).",
    )
    revenue_share = fields.Float(
        "Share of revenue (%)",
        readonly=True,
        groups="account.group_account_invoice",
        digits=(16, 1),
        aggregator="sum",
        help="The members' revenue over the RFM window as a share of the company's.",
    )
    avg_order_value = fields.Monetary(
        "Average order", readonly=True, aggregator="avg", help="Ordered amount per order."
    )
    orders_per_member_year = fields.Float(
        "Orders per member per year",
        readonly=True,
        digits=(16, 2),
        aggregator="avg",
        help="Confirmed orders in the RFM window per member, per 365 days.",
    )
    forecast_orders = fields.Float(
        "Forecast orders (90 days)",
        readonly=True,
        digits=(16, 1),
        help="Orders expected from the members in the next 90 days: for a member with a "
        "rhythm (two orders or more), 90 days divided by the rhythm, and nothing when their "
        "last order is older than twice the rhythm (they stopped); for a member with one "
        "order, their orders in the RFM window scaled to 90 days.",
    )
    forecast_revenue = fields.Monetary(
        "Forecast revenue (90 days)",
        readonly=True,
        groups="account.group_account_invoice",
        help="Forecast orders of each member times their average order value.",
    )

    def _with(self):
        # the RFM window, each current member's figures and forecast, each company's revenue
        return SQL(
            """
            WITH params AS (
                -- anything but a positive whole number reads as the default (as everywhere
                -- else, tools/params.py): a typo in the system parameters breaks no screen
                SELECT COALESCE((SELECT CASE WHEN value ~ '^ *0*[1-9][0-9]{0,5} *$'
                                             THEN value::integer END
                                   FROM ir_config_parameter
                                  WHERE key = %(window_key)s), %(window_default)s)
                       AS window_days
            ), per_member AS (
                SELECT m.segment_id, seg.company_id,
                       COALESCE(s.rfm_window_amount, 0) AS revenue,
                       COALESCE(s.order_count, 0) AS order_count,
                       COALESCE(s.order_amount, 0) AS order_amount,
                       COALESCE(s.rfm_window_orders, 0) AS window_orders,
                       CASE
                           WHEN s.avg_days_between_orders > 0 THEN
                               CASE WHEN CURRENT_DATE - s.last_order_date
                                         <= %(stopped)s * s.avg_days_between_orders
                                    THEN %(horizon)s / s.avg_days_between_orders
                                    ELSE 0 END
                           ELSE COALESCE(s.rfm_window_orders, 0) * %(horizon)s::numeric
                                / (SELECT window_days FROM params)
                       END AS forecast_orders,
                       COALESCE(s.order_amount / NULLIF(s.order_count, 0), 0) AS member_aov
                  FROM pulse_segment_member m
                  JOIN pulse_segment seg ON seg.id = m.segment_id
                  LEFT JOIN pulse_partner_stats s
                    ON s.partner_id = m.partner_id AND s.company_id = seg.company_id
                 WHERE m.date_left IS NULL
            ), company_revenue AS (
                SELECT company_id, SUM(rfm_window_amount) AS revenue
                  FROM pulse_partner_stats GROUP BY company_id
            )
            """,
            window_key=param_key(WINDOW_SETTING),
            window_default=setting_default(WINDOW_SETTING),
            horizon=HORIZON,
            stopped=STOPPED_AFTER_RHYTHMS,
        )

    def _select(self):
        return SQL(
            """
            SELECT seg.id, seg.id AS segment_id, seg.company_id,
                   COUNT(pm.segment_id) AS member_count,
                   COALESCE(SUM(pm.revenue), 0) AS revenue,
                   COALESCE(ROUND(100 * SUM(pm.revenue) / NULLIF(cr.revenue, 0), 1), 0)
                       AS revenue_share,
                   COALESCE(ROUND(SUM(pm.order_amount) / NULLIF(SUM(pm.order_count), 0), 2), 0)
                       AS avg_order_value,
                   COALESCE(ROUND(SUM(pm.window_orders)::numeric * %(days_per_year)s
                                  / (SELECT window_days FROM params)
                                  / NULLIF(COUNT(pm.segment_id), 0), 2), 0)
                       AS orders_per_member_year,
                   COALESCE(ROUND(SUM(pm.forecast_orders), 1), 0) AS forecast_orders,
                   COALESCE(ROUND(SUM(pm.forecast_orders * pm.member_aov), 2), 0)
                       AS forecast_revenue
            """,
            days_per_year=DAYS_PER_YEAR,
        )

    def _from(self):
        return SQL(
            """
              FROM pulse_segment seg
              LEFT JOIN per_member pm ON pm.segment_id = seg.id
              LEFT JOIN company_revenue cr ON cr.company_id = seg.company_id
            """
        )

    def _where(self):
        # archived segments have no key figures
        return SQL("WHERE seg.active")

    def _group_by(self):
        return SQL("GROUP BY seg.id, seg.company_id, cr.revenue")

    @api.model
    def _for_segments(self, segments):
        """{segment id: kpi record} for these segments (archived ones have none)."""
        return {k.segment_id.id: k for k in self.search([("segment_id", "in", segments.ids)])}
