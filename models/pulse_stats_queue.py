from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.schema import create_trigger_functions, create_triggers

# The queue triggers: database triggers fill the queue, so that every way a fact can change
# (business methods, stored computes, partner merges, raw SQL of other modules) is caught,
# inside the transaction that made the change: the queue row commits or rolls back with it.
# Bodies of the trigger functions (plpgsql), by function name.
QUEUE_FUNCTIONS = {
    "pulse_queue_sale_order": """
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO pulse_stats_queue (partner_id)
        SELECT COALESCE(p.commercial_partner_id, p.id) FROM res_partner p
         WHERE p.id = OLD.partner_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO pulse_stats_queue (partner_id)
        SELECT COALESCE(p.commercial_partner_id, p.id) FROM res_partner p
         WHERE p.id = NEW.partner_id;
    END IF;
    RETURN NULL;
END
""",
    "pulse_queue_account_move": """
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.commercial_partner_id IS NOT NULL
       AND OLD.move_type IN ('out_invoice', 'out_refund', 'entry') THEN
        INSERT INTO pulse_stats_queue (partner_id) VALUES (OLD.commercial_partner_id);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.commercial_partner_id IS NOT NULL
       AND NEW.move_type IN ('out_invoice', 'out_refund', 'entry') THEN
        INSERT INTO pulse_stats_queue (partner_id) VALUES (NEW.commercial_partner_id);
    END IF;
    RETURN NULL;
END
""",
    "pulse_queue_res_partner": """
BEGIN
    INSERT INTO pulse_stats_queue (partner_id)
    SELECT DISTINCT x FROM unnest(ARRAY[
        OLD.commercial_partner_id, NEW.commercial_partner_id, NEW.id]) x
     WHERE x IS NOT NULL;
    RETURN NULL;
END
""",
}
QUEUE_TRIGGER = "pulse_queue"
# The trigger on each source table: what follows CREATE TRIGGER pulse_queue.
QUEUE_TRIGGERS = {
    "sale_order": """
        AFTER INSERT OR DELETE OR UPDATE OF
            state, partner_id, date_order, amount_untaxed, company_id, currency_rate
        ON sale_order FOR EACH ROW EXECUTE FUNCTION pulse_queue_sale_order()""",
    "account_move": """
        AFTER INSERT OR DELETE OR UPDATE OF
            state, commercial_partner_id, amount_residual_signed, amount_untaxed_signed,
            invoice_date, invoice_date_due, payment_state, company_id
        ON account_move FOR EACH ROW EXECUTE FUNCTION pulse_queue_account_move()""",
    "res_partner": """
        AFTER UPDATE OF commercial_partner_id, parent_id, active
        ON res_partner FOR EACH ROW
        WHEN (OLD.commercial_partner_id IS DISTINCT FROM NEW.commercial_partner_id
              OR OLD.active IS DISTINCT FROM NEW.active)
        EXECUTE FUNCTION pulse_queue_res_partner()""",
}
# The fields whose ORM writes fire the triggers above: flushed before the queue is read.
QUEUE_SOURCE_FIELDS = {
    "sale.order": [
        "state",
        "partner_id",
        "date_order",
        "amount_untaxed",
        "company_id",
        "currency_rate",
    ],
    "account.move": [
        "state",
        "commercial_partner_id",
        "amount_residual_signed",
        "amount_untaxed_signed",
        "invoice_date",
        "invoice_date_due",
        "payment_state",
        "company_id",
    ],
    "res.partner": ["commercial_partner_id", "parent_id", "active"],
}
# The database default of queued_at: the triggers insert the partner only.
QUEUED_AT_DEFAULT = "(now() AT TIME ZONE 'UTC')"


class PulseStatsQueue(models.Model):
    """The customers whose facts changed since the last refresh, filled by database triggers
    on orders, invoices and partners (QUEUE_TRIGGERS) and emptied by the facts engine
    (pulse.facts.engine): an incremental refresh claims a batch, a full one clears it.
    Internal: no screen reads it. A partner may be queued many times (one row per change:
    an insert without a uniqueness check is the cheapest thing a trigger can do)."""

    _name = "pulse.stats.queue"
    _description = "Customers whose facts are to refresh"
    _order = "queued_at, id"
    # rows are written by the triggers in the ERP's transactions: no user columns to fill
    _log_access = False

    # a commercial partner or a contact (the refresh takes its commercial partner); no
    # foreign key: no check on every order written, and a partner merged away since it was
    # queued is simply found without documents
    partner_id = fields.Integer(required=True, readonly=True, index=True)
    queued_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)

    def init(self):
        """Create what is missing or changed, and nothing else: an update of the module
        takes no lock on the ERP's tables (dropping and re-creating a trigger locks its
        table exclusively, account_move included)."""
        cr = self.env.cr
        cr.execute(
            SQL(
                "SELECT column_default FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = %s"
                " AND column_name = 'queued_at'",
                self._table,
            )
        )
        if not cr.fetchone()[0]:
            cr.execute(
                SQL(
                    "ALTER TABLE %s ALTER COLUMN queued_at SET DEFAULT %s",
                    SQL.identifier(self._table),
                    SQL(QUEUED_AT_DEFAULT),
                )
            )
        create_trigger_functions(cr, QUEUE_FUNCTIONS)
        create_triggers(cr, QUEUE_TRIGGER, QUEUE_TRIGGERS)

    @api.model
    def _flush_sources(self):
        """Write the ORM's pending changes of orders, invoices and partners: the triggers
        queue their customers as they are written."""
        for model, fnames in QUEUE_SOURCE_FIELDS.items():
            self.env[model].flush_model(fnames)

    @api.model
    def _claim(self, limit):
        """Take up to `limit` of the oldest queue rows and return their partners. Rows locked
        by a concurrent claim are skipped (SKIP LOCKED), so a concurrent run or an invoice
        being posted never waits; they are deleted in the caller's transaction, and come
        back if it rolls back."""
        rows = self.env.execute_query(
            SQL(
                """
                DELETE FROM pulse_stats_queue q
                 WHERE q.ctid IN (SELECT ctid FROM pulse_stats_queue
                                   ORDER BY queued_at LIMIT %s FOR UPDATE SKIP LOCKED)
                RETURNING q.partner_id
                """,
                limit,
            )
        )
        return {row[0] for row in rows}

    @api.model
    def _clear(self):
        """Empty the queue (a full refresh recomputes everyone)."""
        self.env.execute_query(SQL("DELETE FROM pulse_stats_queue"))

    @api.model
    def _pending(self):
        """The number of queue rows left."""
        return self.env.execute_query(SQL("SELECT COUNT(*) FROM pulse_stats_queue"))[0][0]
