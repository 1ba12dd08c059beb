from odoo import fields, models
from odoo.tools import SQL

# A row's id is its segment's id times this plus its month's number since year 0: an id
# computed from the row's key (a row number over the whole result would keep the reader's
# filters, on a segment or a period, from reaching the memberships and invoices read).
ROW_ID_MONTHS = 12 * 10000


class PulseSegmentRevenue(models.Model):
    """Revenue of each segment's members per month: the invoices and credit notes of every
    customer who was a member (now or in the past), dated while they were a member (from the
    day they entered to the day before they left). A customer counts in every segment they
    were in on the invoice's date. Read through the index of the facts on posted customer
    invoices (commercial partner, company), one membership at a time."""

    _name = "pulse.segment.revenue"
    _inherit = "pulse.report.view"
    _description = "Segment revenue over time"
    _auto = False
    _order = "date desc, segment_id"
    _rec_name = "segment_id"
    _depends = {
        "pulse.segment.member": ["segment_id", "partner_id", "date_entered", "date_left"],
        "pulse.segment": ["company_id"],
        "account.move": [
            "commercial_partner_id",
            "company_id",
            "state",
            "move_type",
            "invoice_date",
            "amount_untaxed_signed",
        ],
        "res.company": ["currency_id"],
    }

    segment_id = fields.Many2one("pulse.segment", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    date = fields.Date("Month", readonly=True, help="The month of the invoices.")
    buyer_count = fields.Integer(
        "Buyers",
        readonly=True,
        help="Members invoiced in the month (a customer invoiced in two months counts in each).",
    )
    invoice_count = fields.Integer("Invoices", readonly=True)
    revenue = fields.Monetary(
        readonly=True,
        groups="account.group_account_invoice",
        help="Invoiced to the members while they were members, untaxed, net of credit notes, "
        "in the company's currency.",
    )

    def _select(self):
        return SQL(
            """
            SELECT mem.segment_id::bigint * %(months)s
                       + EXTRACT(YEAR FROM %(month)s)::bigint * 12
                       + EXTRACT(MONTH FROM %(month)s)::bigint AS id,
                   %(month)s AS date,
                   mem.segment_id, seg.company_id, co.currency_id,
                   COUNT(DISTINCT m.commercial_partner_id) AS buyer_count,
                   COUNT(*) FILTER (WHERE m.move_type = 'out_invoice') AS invoice_count,
                   SUM(m.amount_untaxed_signed) AS revenue
            """,
            month=self._month(),
            months=ROW_ID_MONTHS,
        )

    def _from(self):
        # No invoice dated before the first membership can count: that bound, as a value,
        # lets the planner start from the invoices of the membership history's span (through
        # the invoice date's index) when they are fewer than the memberships, instead of
        # probing every membership's invoices (at a million customers: 2.5 s → 0.06 s for a
        # history of days, the same plan as before for a history of years).
        self.env["pulse.segment.member"].flush_model(["date_entered"])
        [(since,)] = self.env.execute_query(
            SQL("SELECT MIN(date_entered)::date FROM pulse_segment_member")
        )
        return SQL(
            """
              FROM pulse_segment_member mem
              JOIN pulse_segment seg ON seg.id = mem.segment_id
              JOIN res_company co ON co.id = seg.company_id
              JOIN account_move m
                ON m.commercial_partner_id = mem.partner_id AND m.company_id = seg.company_id
               AND m.state = 'posted' AND m.move_type IN ('out_invoice', 'out_refund')
               AND m.invoice_date >= mem.date_entered::date
               AND (mem.date_left IS NULL OR m.invoice_date < mem.date_left::date)
               AND m.invoice_date >= %s
            """,
            since or fields.Date.context_today(self),
        )

    def _group_by(self):
        return SQL("GROUP BY mem.segment_id, %s, seg.company_id, co.currency_id", self._month())

    def _month(self):
        return SQL("date_trunc('month', m.invoice_date)::date")
