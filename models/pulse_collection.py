import logging

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

STATES = [
    ("to_invoice", "To invoice"),
    ("invoiced", "Invoiced"),
    ("partly_paid", "Partly paid"),
    ("paid", "Paid"),
    ("overdue", "Overdue"),
    ("disputed", "Disputed"),
    ("cancelled", "Cancelled"),
]
# what finance still has to act on
OPEN_STATES = ("to_invoice", "invoiced", "partly_paid", "overdue", "disputed")

# the invoices and credit notes of an order are reached through stored fields only (order
# lines -> invoice lines -> move), so that a change on an invoice finds its item through
# the ORM's inverse searches, like sale.order.line's own invoiced quantities
MOVES = "order_id.order_line.invoice_lines.move_id"


COLLECTION_DEPENDS = [
    "order_id.state",
    "order_id.amount_total",
    "order_id.currency_id",
    "order_id.currency_rate",
    "order_id.date_order",
    "order_id.payment_term_id",
    f"{MOVES}.state",
    f"{MOVES}.move_type",
    f"{MOVES}.currency_id",
    f"{MOVES}.amount_total",
    f"{MOVES}.amount_residual",
    f"{MOVES}.amount_residual_signed",
    f"{MOVES}.invoice_date_due",
    f"{MOVES}.pulse_disputed",
]


class PulseCollection(models.Model):
    """What finance is to collect from a confirmed order, from the order's confirmation to
    its payment: one item per order, kept up to date from the order, its invoices (down
    payments included), its credit notes and the payments matched with them."""

    _name = "pulse.collection"
    _description = "To collect"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "expected_date, id"
    _check_company_auto = True

    name = fields.Char(related="order_id.name", store=True, string="Order reference")
    order_id = fields.Many2one(
        "sale.order",
        string="Order",
        required=True,
        readonly=True,
        ondelete="cascade",
        index=True,
        check_company=True,
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        related="order_id.partner_id.commercial_partner_id",
        store=True,
        index=True,
    )
    company_id = fields.Many2one(
        "res.company", related="order_id.company_id", store=True, index=True
    )
    user_id = fields.Many2one(
        "res.users", related="order_id.user_id", store=True, string="Salesperson", index=True
    )
    accountant_id = fields.Many2one(
        "res.users",
        string="Responsible accountant",
        index=True,
        tracking=True,
        domain="[('company_ids', 'in', company_id), ('share', '=', False)]",
    )
    currency_id = fields.Many2one(related="order_id.currency_id", store=True)
    company_currency_id = fields.Many2one(
        related="company_id.currency_id", string="Company currency"
    )
    date_order = fields.Datetime(related="order_id.date_order", string="Order date")
    payment_term_id = fields.Many2one(related="order_id.payment_term_id")

    # amounts come from invoices and payments: for invoice users only (design §7), in
    # searches too (stored fields with groups are checked there)
    amount_total = fields.Monetary(
        "Order total",
        compute="_compute_collection",
        aggregator=None,  # in each order's currency: no sum
        store=True,
        groups="account.group_account_invoice",
    )
    amount_total_company = fields.Monetary(
        "Order total (company currency)",
        currency_field="company_currency_id",
        compute="_compute_collection",
        store=True,
        aggregator="sum",
        groups="account.group_account_invoice",
    )
    amount_invoiced = fields.Monetary(
        "Invoiced",
        compute="_compute_collection",
        aggregator=None,
        store=True,
        groups="account.group_account_invoice",
        help="Posted invoices (down payments included) less posted credit notes.",
    )
    amount_to_invoice = fields.Monetary(
        "Not invoiced yet",
        compute="_compute_collection",
        aggregator=None,
        store=True,
        groups="account.group_account_invoice",
    )
    amount_paid = fields.Monetary(
        "Paid",
        compute="_compute_collection",
        aggregator=None,
        store=True,
        groups="account.group_account_invoice",
        help="What was invoiced and is no longer due: payments (and credit notes matched with "
        "the invoices).",
    )
    amount_due = fields.Monetary(
        "Due",
        compute="_compute_collection",
        aggregator=None,
        store=True,
        groups="account.group_account_invoice",
        help="Open invoices less open credit notes.",
    )
    amount_due_company = fields.Monetary(
        "Due (company currency)",
        currency_field="company_currency_id",
        compute="_compute_collection",
        store=True,
        aggregator="sum",
        groups="account.group_account_invoice",
    )
    expected_date = fields.Date(
        "Expected payment",
        compute="_compute_collection",
        store=True,
        index=True,
        help="From the order's payment terms and date until invoiced; then the latest due date "
        "of its open invoices.",
    )
    date_due = fields.Date(
        "First due date",
        compute="_compute_collection",
        store=True,
        help="Oldest due date of the open invoices (disputed ones aside).",
    )
    state = fields.Selection(
        STATES,
        compute="_compute_collection",
        store=True,
        index=True,
        group_expand=True,
        string="Status",
    )
    invoice_ids = fields.Many2many(
        "account.move",
        string="Invoices and credit notes",
        compute="_compute_invoice_ids",
        groups="account.group_account_invoice",
    )
    invoice_count = fields.Integer(
        compute="_compute_invoice_ids", groups="account.group_account_invoice"
    )

    _sql_constraints = [
        ("order_uniq", "unique(order_id)", "An order has one item to collect."),
    ]

    @api.depends(*COLLECTION_DEPENDS)
    def _compute_collection(self):
        today = fields.Date.today()
        for item in self:
            order = item.order_id
            currency = order.currency_id or item.company_id.currency_id
            company = order.company_id or self.env.company
            moves = order.order_line.invoice_lines.move_id.filtered(
                lambda m: m.state == "posted" and m.move_type in ("out_invoice", "out_refund")
            )
            invoices = moves.filtered(lambda m: m.move_type == "out_invoice")
            refunds = moves - invoices

            def total(moves, fname, currency=currency, company=company):
                # an order's invoices are in its currency (sale's _prepare_invoice); one
                # switched to another currency by hand is converted at its date
                return sum(
                    move[fname]
                    if move.currency_id == currency
                    else move.currency_id._convert(
                        move[fname], currency, company, move.invoice_date or today
                    )
                    for move in moves
                )

            gross = total(invoices, "amount_total")
            credited = total(refunds, "amount_total")
            due = max(total(invoices, "amount_residual") - total(refunds, "amount_residual"), 0.0)
            rate = order.currency_rate or 1.0
            item.amount_total = order.amount_total
            item.amount_total_company = item.company_currency_id.round(order.amount_total / rate)
            item.amount_invoiced = gross - credited
            item.amount_to_invoice = max(order.amount_total - gross, 0.0)
            item.amount_due = due
            item.amount_paid = max(gross - credited - due, 0.0)
            # signed residuals are in company currency, credit notes' negative
            item.amount_due_company = max(sum(moves.mapped("amount_residual_signed")), 0.0)

            open_invoices = invoices.filtered(
                lambda m: not m.currency_id.is_zero(m.amount_residual)
            )
            disputed = open_invoices.filtered("pulse_disputed")
            due_dates = (open_invoices - disputed).mapped("invoice_date_due")
            item.date_due = min(due_dates) if due_dates else False
            if open_invoices:
                item.expected_date = max(d for d in open_invoices.mapped("invoice_date_due") if d)
            else:
                item.expected_date = item._expected_from_terms()

            is_zero = currency.is_zero
            if order.state == "cancel":
                state = "cancelled"
            elif disputed:
                state = "disputed"
            elif not is_zero(due):
                if item.date_due and item.date_due < today:
                    state = "overdue"
                else:
                    state = "partly_paid" if not is_zero(item.amount_paid) else "invoiced"
            elif is_zero(item.amount_paid):
                # nothing invoiced yet, or all of it credited
                state = "to_invoice"
            else:
                state = "paid" if is_zero(item.amount_to_invoice) else "partly_paid"
            item.state = state

    def _expected_from_terms(self):
        """The date of the last instalment of the order's payment terms, counted from the
        order date (the order date itself without terms: due on receipt)."""
        self.ensure_one()
        order = self.order_id
        if not order.date_order:
            return False
        date_ref = fields.Date.context_today(order, order.date_order)
        lines = order.payment_term_id.line_ids
        if not lines:
            return date_ref
        return max(line._get_due_date(date_ref) for line in lines)

    @api.depends("order_id.invoice_ids")
    def _compute_invoice_ids(self):
        for item in self:
            item.invoice_ids = item.order_id.invoice_ids
            item.invoice_count = len(item.order_id.invoice_ids)

    @api.constrains("accountant_id", "company_id")
    def _check_accountant(self):
        for item in self.filtered("accountant_id"):
            if item.company_id not in item.accountant_id.company_ids:
                raise ValidationError(
                    self.env._(
                        "%(user)s cannot be responsible for %(order)s: they have no access to "
                        "%(company)s.",
                        user=item.accountant_id.name,
                        order=item.name,
                        company=item.company_id.name,
                    )
                )
            if not item.accountant_id.has_group("customer_pulse.group_pulse_accountant"):
                raise ValidationError(
                    self.env._(
                        "%(user)s cannot be responsible for %(order)s: they are not a Customer "
                        "Pulse accountant.",
                        user=item.accountant_id.name,
                        order=item.name,
                    )
                )

    # ------------------------------------------------------------------ actions
    def action_open_order(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "sale.order",
            "res_id": self.order_id.id,
            "view_mode": "form",
        }

    def action_open_invoices(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Invoices of %(order)s", order=self.name),
            "res_model": "account.move",
            "domain": [("id", "in", self.invoice_ids.ids)],
            "view_mode": "list,form",
            "context": {"create": False},
        }

    # --------------------------------------------------------------- business
    @api.model
    def _ensure_for_orders(self, orders, notify=True):
        """The item of each confirmed order: made for new orders, the existing one kept for
        an order confirmed again after a cancellation (it follows the order's state). The
        company's responsible accountant is set on new items, with a to-do when the company
        asks for one."""
        orders = orders.filtered(lambda o: o.state == "sale")
        if not orders:
            return self.browse()
        existing = self.search([("order_id", "in", orders.ids)])
        missing = orders - existing.order_id
        if not missing:
            return existing
        items = self.create(
            [
                {
                    "order_id": order.id,
                    "accountant_id": order.company_id.pulse_collection_user_id.id,
                }
                for order in missing
            ]
        )
        if notify:
            items._schedule_accountant_activity()
        return existing | items

    def _schedule_accountant_activity(self):
        todo = self.filtered(lambda i: i.accountant_id and i.company_id.pulse_collection_activity)
        if not todo:
            return
        activity_type = self.env.ref("mail.mail_activity_data_todo", raise_if_not_found=False)
        model_id = self.env["ir.model"]._get_id(self._name)
        self.env["mail.activity"].with_context(mail_activity_quick_update=True).create(
            [
                {
                    "res_model_id": model_id,
                    "res_id": item.id,
                    "activity_type_id": activity_type.id if activity_type else False,
                    "user_id": item.accountant_id.id,
                    "summary": self.env._("To collect: %(order)s", order=item.name),
                    "date_deadline": item.expected_date or fields.Date.today(),
                }
                for item in todo
            ]
        )

    @api.model
    def _backfill(self, batch=1000):
        """Items for the confirmed orders that are not collected yet (something left to
        invoice, or an open invoice) and have none: on install, for the orders confirmed
        before it. Orders invoiced and paid in full are history, not to collect. Returns the
        number of items made."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT so.id FROM sale_order so
                 WHERE so.state = 'sale'
                   AND NOT EXISTS (SELECT 1 FROM pulse_collection c WHERE c.order_id = so.id)
                   AND (so.invoice_status IS DISTINCT FROM 'invoiced'
                        OR EXISTS (SELECT 1 FROM sale_order_line sol
                                     JOIN sale_order_line_invoice_rel rel
                                       ON rel.order_line_id = sol.id
                                     JOIN account_move_line aml ON aml.id = rel.invoice_line_id
                                     JOIN account_move am ON am.id = aml.move_id
                                    WHERE sol.order_id = so.id
                                      AND am.state = 'posted'
                                      AND am.move_type = 'out_invoice'
                                      AND am.amount_residual > 0))
                 ORDER BY so.id
                """
            )
        )
        order_ids = [row[0] for row in self.env.cr.fetchall()]
        Order = self.env["sale.order"]
        for start in range(0, len(order_ids), batch):
            orders = Order.browse(order_ids[start : start + batch])
            self._ensure_for_orders(orders, notify=False)
            self.env.flush_all()
            # keep the cache small on big databases
            self.env.invalidate_all()
        if order_ids:
            _logger.info("to collect: %d items made for open confirmed orders", len(order_ids))
        return len(order_ids)

    @api.model
    def _cron_mark_overdue(self):
        """Items whose first due date has passed become overdue: a set-based update of the
        only state that changes with the date alone (every other change goes through the
        invoices and payments, which recompute their items)."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                UPDATE pulse_collection SET state = 'overdue', write_date = now() at time zone 'UTC'
                 WHERE state IN ('invoiced', 'partly_paid') AND date_due < %s
                RETURNING id
                """,
                fields.Date.today(),
            )
        )
        ids = [row[0] for row in self.env.cr.fetchall()]
        self.invalidate_model(["state", "write_date"])
        return len(ids)
