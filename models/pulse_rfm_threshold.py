from odoo import fields, models

from ..tools.schema import add_missing_columns

# The quintile boundaries, as arrays (no field type holds one), by SQL type: what the full
# refresh computes (pulse.facts.engine) and the incremental one scores against.
THRESHOLD_COLUMNS = {
    "recency": "date[]",  # of the last order date
    "frequency": "integer[]",  # of the orders in the RFM window (customers with one or more)
    "monetary": "numeric[]",  # of the amount invoiced in the window (customers with some)
    # the same, of the figures of 30 days ago (the RFM segment of then)
    "previous_recency": "date[]",
    "previous_frequency": "integer[]",
    "previous_monetary": "numeric[]",
    # thirds of the average baskets, the purchase habits' basket band (pulse.attribute.value)
    "basket": "float8[]",
}


class PulseRfmThreshold(models.Model):
    """Each company's RFM quintile boundaries, written by the facts engine: recomputed by the
    full and the nightly refresh, read by the incremental one, so that a customer refreshed
    during the day is scored against the same boundaries as the others; and the basket
    thirds of the purchase habits, kept the same way. Internal: no screen reads it."""

    _name = "pulse.rfm.threshold"
    _description = "RFM quintile boundaries"
    _rec_name = "company_id"
    _log_access = False

    company_id = fields.Many2one("res.company", required=True, readonly=True, ondelete="cascade")
    computed_at = fields.Datetime(readonly=True, help="When the boundaries were computed.")

    _sql_constraints = [
        # the engine writes with ON CONFLICT (company_id)
        ("company_uniq", "unique(company_id)", "One set of RFM boundaries per company."),
    ]

    def init(self):
        """Add the boundary columns when missing (and only then: no lock on an update)."""
        add_missing_columns(self.env.cr, self._table, THRESHOLD_COLUMNS)
