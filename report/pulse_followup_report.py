from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

# (key, lowest days late, highest days late), None open-ended, in the report's column order
AGEING_BUCKETS = (
    ("not_due", None, 0),
    ("b1_30", 1, 30),
    ("b31_60", 31, 60),
    ("b61_90", 61, 90),
    ("b90", 91, None),
)


class ReportPulseFollowup(models.AbstractModel):
    """The per-customer follow-up report: one company's open receivable items of a customer,
    their ageing, the reminders sent, the promises and the disputes.

    Its total is Odoo's own receivable balance of that customer in that company (the posted,
    unreconciled receivable lines: invoices, credit notes and unreconciled payments), read
    with the printing user's rights and never mixed with another company's lines."""

    _name = "report.customer_pulse.report_followup"
    _description = "Customer Pulse follow-up report"

    @api.model
    def _get_report_values(self, docids, data=None):
        company = self._followup_company(data)
        if not docids:
            # printed with data (the workspace names the company): report_action puts the
            # customers in the context's active ids, and the web client leaves them out of
            # the URL
            context = {**self.env.context, **((data or {}).get("context") or {})}
            docids = context.get("active_ids") or []
        partners = self.env["res.partner"].browse(docids).commercial_partner_id
        today = fields.Date.context_today(self)
        followups = self._followup_data(partners, company, today)
        return {
            "doc_ids": partners.ids,
            "doc_model": "res.partner",
            "docs": partners,
            "company": company,
            "today": today,
            "followups": followups,
        }

    # ------------------------------------------------------------------------------------
    # Access and company
    # ------------------------------------------------------------------------------------
    @api.model
    def _followup_company(self, data):
        """The company whose follow-up is printed: data's ``company_id`` (as the workspace
        passes it) or the active company. The printing user must see invoices and be
        working in that company: an amount of a company the user is not in is never
        printed, not even as a zero."""
        if not self.env.su and not self.env.user.has_group("account.group_account_invoice"):
            raise AccessError(
                self.env._("Only invoicing users may print a customer's follow-up report.")
            )
        company_id = (data or {}).get("company_id") or self.env.context.get("pulse_company_id")
        company = self.env["res.company"].browse(company_id) if company_id else self.env.company
        if company not in self.env.companies:
            raise AccessError(
                self.env._(
                    "You may not print the follow-up report of %(company)s: it is not one of "
                    "your active companies.",
                    company=company.sudo().display_name,  # sudo: its name, in the refusal
                )
            )
        self.env["account.move.line"].check_access("read")
        return company

    # ------------------------------------------------------------------------------------
    # Figures
    # ------------------------------------------------------------------------------------
    @api.model
    def _open_items_domain(self, partners, company):
        """Posted receivable lines that are still open: what Odoo sums as the partner's
        ``credit`` in that company (lines whose residual is zero add nothing to it)."""
        return [
            ("company_id", "=", company.id),
            ("partner_id.commercial_partner_id", "in", partners.ids),
            ("account_id.account_type", "=", "asset_receivable"),
            ("parent_state", "=", "posted"),
            ("reconciled", "=", False),
            ("amount_residual", "!=", 0),
        ]

    @api.model
    def _ageing_sql(self, partners, company, today):
        """Ageing buckets per commercial partner, set-based: one query whatever the number
        of open items. Days late count from the due date (the accounting date when none)."""
        Line = self.env["account.move.line"]
        query = Line._search(self._open_items_domain(partners, company))
        query.order = None
        alias = query.table
        days_late = SQL(
            "(%s::date - COALESCE(%s, %s))",
            today,
            SQL.identifier(alias, "date_maturity"),
            SQL.identifier(alias, "date"),
        )
        cases = []
        for key, low, high in AGEING_BUCKETS:
            if low is None:
                cases.append(SQL("WHEN %s <= %s THEN %s", days_late, high, key))
            elif high is None:
                cases.append(SQL("WHEN %s >= %s THEN %s", days_late, low, key))
            else:
                cases.append(SQL("WHEN %s BETWEEN %s AND %s THEN %s", days_late, low, high, key))
        partner_alias = query.join(alias, "partner_id", "res_partner", "id", "partner_id")
        return SQL(
            """
            SELECT sub.commercial_partner_id, sub.bucket, SUM(sub.residual), COUNT(*)
              FROM (%s) sub
          GROUP BY sub.commercial_partner_id, sub.bucket
            """,
            query.select(
                SQL(
                    "%s AS commercial_partner_id",
                    SQL.identifier(partner_alias, "commercial_partner_id"),
                ),
                SQL("CASE %s END AS bucket", SQL(" ").join(cases)),
                SQL("%s AS residual", SQL.identifier(alias, "amount_residual")),
            ),
        )

    @api.model
    def _followup_data(self, partners, company, today):
        """Everything the template shows, per commercial partner id."""
        Line = self.env["account.move.line"]
        result = {
            partner.id: {
                "buckets": dict.fromkeys((key for key, *_rest in AGEING_BUCKETS), 0.0),
                "total": 0.0,
                "overdue": 0.0,
                "disputed": 0.0,
                "lines": Line,
                "events": None,
                "promises": None,
                "disputes": self.env["account.move"],
                "currency": company.currency_id,
            }
            for partner in partners
        }
        if not partners:
            return result
        Line.flush_model()
        self.env["account.move"].flush_model()
        self.env["res.partner"].flush_model(["commercial_partner_id"])
        for partner_id, bucket, amount, _count in self.env.execute_query(
            self._ageing_sql(partners, company, today)
        ):
            values = result[partner_id]
            values["buckets"][bucket] = amount
            values["total"] += amount
            if bucket != "not_due":
                values["overdue"] += amount

        lines = Line.search(
            self._open_items_domain(partners, company), order="date_maturity, date, id"
        )
        for partner, partner_lines in lines.grouped(
            lambda line: line.partner_id.commercial_partner_id
        ).items():
            result[partner.id]["lines"] = partner_lines

        # Disputes: kept in the open items and the total (Odoo's balance), shown apart and
        # out of what is claimed.
        disputed_domain = [
            *self._open_items_domain(partners, company),
            ("move_id.pulse_disputed", "=", True),
        ]
        for partner, amount in Line._read_group(
            disputed_domain, ["partner_id"], ["amount_residual:sum"]
        ):
            result[partner.commercial_partner_id.id]["disputed"] += amount
        for values in result.values():
            values["disputes"] = values["lines"].move_id.filtered("pulse_disputed")

        # Reminder history and promises, when the printing user may read them
        for model, key, order in (
            ("pulse.followup.event", "events", "date desc, id desc"),
            ("pulse.followup.promise", "promises", "date desc, id desc"),
        ):
            if not self.env[model].has_access("read"):
                continue
            records = self.env[model].search(
                [("partner_id", "in", partners.ids), ("company_id", "=", company.id)],
                order=order,
            )
            for values in result.values():
                values[key] = self.env[model]
            for partner, partner_records in records.grouped("partner_id").items():
                if partner.id in result:
                    result[partner.id][key] = partner_records
        return result
