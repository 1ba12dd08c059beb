from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.params import param_key, setting_default
from ..tools.schema import create_missing_indexes

# Forecast horizon (days) of the segment dashboard.
HORIZON = 90
# A member whose last order is older than this many times their rhythm is not expected to
# order again on their own (the forecast counts nothing for them).
STOPPED_AFTER_RHYTHMS = 2
# Orders per member are shown per this many days.
DAYS_PER_YEAR = 365
# The RFM window setting (tools/params.py), read by the query itself.
WINDOW_SETTING = "rfm_window_days"
# The stored figures, in the order of the query's SELECT after the segment and its state.
FIGURES = (
    "company_id",
    "member_count",
    "revenue",
    "revenue_share",
    "avg_order_value",
    "orders_per_member_year",
    "forecast_orders",
    "forecast_revenue",
)


class PulseSegmentKpi(models.Model):
    """Key figures of each segment's members, from the customer facts, stored with each
    refresh of the members (pulse.segment writes them when it records the refresh): the
    figures of the members of that refresh as their facts stood then. A segment's form and
    the dashboard read one row each instead of adding up every member's facts (and the
    company's revenue) at every read."""

    _name = "pulse.segment.kpi"
    _description = "Segment key figures"
    _order = "segment_id"
    _rec_name = "segment_id"
    _log_access = False

    segment_id = fields.Many2one("pulse.segment", readonly=True, required=True, ondelete="cascade")
    # archived segments have no key figures (their row stays, for when they come back)
    active = fields.Boolean(related="segment_id.active", store=True)
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

    def init(self):
        # one row per segment (what the refresh's upsert meets)
        create_missing_indexes(
            self.env.cr,
            {"pulse_segment_kpi_segment_uniq": "ON pulse_segment_kpi (segment_id)"},
            unique=True,
        )
        # segments refreshed before the figures were stored (an update from an earlier
        # version)
        self.env.cr.execute(
            "SELECT ARRAY_AGG(s.id) FROM pulse_segment s"
            " WHERE NOT EXISTS (SELECT 1 FROM pulse_segment_kpi k WHERE k.segment_id = s.id)"
        )
        missing = self.env.cr.fetchone()[0]
        if missing:
            self._store(self.env["pulse.segment"].browse(missing))

    # ------------------------------------------------------------------ query
    def _with(self, segment_ids):
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
                 WHERE m.date_left IS NULL AND m.segment_id = ANY(%(segment_ids)s)
            ), company_revenue AS (
                SELECT company_id, SUM(rfm_window_amount) AS revenue
                  FROM pulse_partner_stats GROUP BY company_id
            )
            """,
            window_key=param_key(WINDOW_SETTING),
            window_default=setting_default(WINDOW_SETTING),
            horizon=HORIZON,
            stopped=STOPPED_AFTER_RHYTHMS,
            segment_ids=list(segment_ids),
        )

    def _select(self):
        return SQL(
            """
            SELECT seg.id AS segment_id, seg.active, seg.company_id,
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

    def _where(self, segment_ids):
        return SQL("WHERE seg.id = ANY(%s)", list(segment_ids))

    def _group_by(self):
        return SQL("GROUP BY seg.id, seg.active, seg.company_id, cr.revenue")

    @api.model
    def _store(self, segments):
        """Compute and store the key figures of these segments' current members (one
        statement, each member's facts read once)."""
        if not segments:
            return
        self.env["pulse.segment.member"].flush_model()
        self.env["pulse.partner.stats"].flush_model()
        columns = SQL(", ").join(SQL.identifier(c) for c in ("segment_id", "active", *FIGURES))
        self.env.execute_query(
            SQL(
                """
                %(with)s
                INSERT INTO pulse_segment_kpi (%(columns)s)
                %(select)s %(from)s %(where)s %(group_by)s
                ON CONFLICT (segment_id) DO UPDATE SET %(update)s
                """,
                columns=columns,
                select=self._select(),
                where=self._where(segments.ids),
                group_by=self._group_by(),
                update=SQL(", ").join(
                    SQL("%s = EXCLUDED.%s", SQL.identifier(c), SQL.identifier(c))
                    for c in ("active", *FIGURES)
                ),
                **{"with": self._with(segments.ids), "from": self._from()},
            )
        )
        self.invalidate_model()

    @api.model
    def _for_segments(self, segments):
        """{segment id: kpi record} for these segments (archived ones have none): one
        query."""
        kpis = self.search_fetch([("segment_id", "in", segments.ids)], ["segment_id", *FIGURES])
        return {k.segment_id.id: k for k in kpis}
