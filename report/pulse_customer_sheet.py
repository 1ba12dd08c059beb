import re
import textwrap

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.osv import expression
from odoo.tools import SQL, html2plaintext

ACTIVITY_COUNT = 10  # activities on one sheet: the open ones first, then the latest done
ACTIVITY_TEXT_LENGTH = 140  # characters of an activity's summary and feedback
# The heading of the message Odoo posts when an activity is done (mail.message_activity_done):
# "Call done (originally assigned to Ann): " before the summary, note and feedback.
DONE_HEADING = re.compile(r"^(?P<type>.+?) done(?: \(originally assigned to [^)]*\))? ?:? ?")

# Documents whose activities are the customer's: (model, path from the document to its
# commercial partner, archived records included, extra domain).
ACTIVITY_DOCUMENTS = (
    ("res.partner", "commercial_partner_id", True, []),
    ("sale.order", "partner_id.commercial_partner_id", False, []),
    (
        "account.move",
        "commercial_partner_id",
        False,
        [("move_type", "in", ("out_invoice", "out_refund"))],
    ),
    ("crm.lead", "partner_id.commercial_partner_id", True, []),
)


class ReportPulseCustomerSheet(models.AbstractModel):
    """The customer sheet: one per customer, each from a new page, with what the reader may
    know of them in the active company — facts and RFM, segments and rules they are in,
    profile, latest activities and, for invoicing users, open invoices and follow-up.

    Everything is read with the reader's rights: a value private to another department, an
    order of another salesperson or an amount the reader may not see is not printed."""

    _name = "report.customer_pulse.report_customer_sheet"
    _description = "Customer Pulse customer sheet"

    @api.model
    def _get_report_values(self, docids, data=None):
        if not docids:
            context = {**self.env.context, **((data or {}).get("context") or {})}
            docids = context.get("active_ids") or []
        partners = self.env["res.partner"].browse(docids).commercial_partner_id
        self._check_sheet_access(partners)
        company = self.env.company
        today = fields.Date.context_today(self)
        return {
            "doc_ids": partners.ids,
            "doc_model": "res.partner",
            "docs": partners,
            "company": company,
            "today": today,
            "show_finance": self._may_see_finance(),
            "sheets": self._sheet_data(partners, company, today),
        }

    # ------------------------------------------------------------------------------------
    # Access
    # ------------------------------------------------------------------------------------
    @api.model
    def _check_sheet_access(self, partners):
        """Customer Pulse users only, and only customers they may read."""
        if not self.env.su and not self.env.user.has_group("customer_pulse.group_pulse_user"):
            raise AccessError(self.env._("Only Customer Pulse users may print a customer sheet."))
        self.env["pulse.partner.stats"].check_access("read")
        partners.check_access("read")

    @api.model
    def _may_see_finance(self):
        """Open invoices, amounts and follow-up: invoicing users only (the financial facts
        are restricted to that group)."""
        return self.env.su or self.env.user.has_group("account.group_account_invoice")

    # ------------------------------------------------------------------------------------
    # Figures
    # ------------------------------------------------------------------------------------
    @api.model
    def _sheet_data(self, partners, company, today):
        """Everything the template shows, per commercial partner id: a few searches for all
        the customers printed, none per customer."""
        Stats = self.env["pulse.partner.stats"]
        sheets = {
            partner.id: {
                "facts": Stats,
                "segments": self.env["pulse.segment.member"],
                "enrolments": [],
                "profile": self.env["pulse.attribute.value"],
                "activities": [],
                "finance": None,
            }
            for partner in partners
        }
        if not partners:
            return sheets
        for stats in Stats.search(
            [("partner_id", "in", partners.ids), ("company_id", "=", company.id)]
        ):
            sheets[stats.partner_id.id]["facts"] = stats

        members = self.env["pulse.segment.member"].search(
            [
                ("partner_id", "in", partners.ids),
                ("date_left", "=", False),
                ("segment_id.company_id", "=", company.id),
            ],
            order="date_entered, id",
        )
        for partner, partner_members in members.grouped("partner_id").items():
            sheets[partner.id]["segments"] = partner_members

        for partner, enrolments in self._running_enrolments(partners, company).items():
            sheets[partner.id]["enrolments"] = enrolments

        values = self.env["pulse.attribute.value"].search(
            [
                ("partner_id", "in", partners.ids),
                ("company_id", "=", company.id),
                ("is_effective", "=", True),
                ("attribute_id.active", "=", True),
            ]
        )
        for partner, partner_values in values.grouped("partner_id").items():
            sheets[partner.id]["profile"] = partner_values.sorted(
                lambda v: (v.attribute_id.dimension_sequence, v.attribute_id.sequence, v.id)
            )

        for partner_id, activities in self._activities(partners, today).items():
            sheets[partner_id]["activities"] = activities

        if self._may_see_finance():
            for partner_id, finance in self._finance(partners, company).items():
                sheets[partner_id]["finance"] = finance
        return sheets

    @api.model
    def _running_enrolments(self, partners, company):
        """Running enrolments per customer, oldest first, each with its next scheduled step
        (or False): [(enrolment, step run)]."""
        enrolments = self.env["pulse.enrolment"].search(
            [
                ("partner_id", "in", partners.ids),
                ("company_id", "=", company.id),
                ("state", "=", "running"),
            ],
            order="date_enrolled, id",
        )
        if not enrolments:
            return {}
        next_runs = {}
        for run in self.env["pulse.step.run"].search(
            [("enrolment_id", "in", enrolments.ids), ("state", "=", "scheduled")],
            order="scheduled_at, id",
        ):
            next_runs.setdefault(run.enrolment_id.id, run)
        return {
            partner: [(enrolment, next_runs.get(enrolment.id, False)) for enrolment in group]
            for partner, group in enrolments.grouped("partner_id").items()
        }

    @api.model
    def _customer_documents(self, partners):
        """{(model, id): (commercial partner id, display name or False for the customer
        itself)} of the documents whose activities are the customer's — the customer and its
        contacts, its orders, invoices and leads — those the reader may read."""
        documents = {}
        for model, path, with_archived, domain in ACTIVITY_DOCUMENTS:
            Model = self.env[model].with_context(active_test=not with_archived)
            if not Model.has_access("read"):
                continue
            for record in Model.search([(path, "in", partners.ids), *domain]):
                partner = record.mapped(path)
                # the document is named unless it is the customer itself
                name = record.display_name if record != partner else False
                documents[(model, record.id)] = (partner.id, name)
        return documents

    @api.model
    def _activities(self, partners, today):
        """The customer's open activities (soonest due first) then the latest done ones, on
        the documents the reader may read, ACTIVITY_COUNT at most per customer:
        {commercial partner id: [row dicts]}."""
        documents = self._customer_documents(partners)
        result = {partner.id: [] for partner in partners}
        if not documents:
            return result
        by_model = {}
        for model, res_id in documents:
            by_model.setdefault(model, []).append(res_id)

        # open: mail.activity applies the documents' rights itself
        open_domain = expression.OR(
            [[("res_model", "=", model), ("res_id", "in", ids)] for model, ids in by_model.items()]
        )
        for activity in self.env["mail.activity"].search(open_domain, order="date_deadline, id"):
            partner_id, document = documents[(activity.res_model, activity.res_id)]
            result[partner_id].append(
                {
                    "date": activity.date_deadline,
                    "state": "overdue" if activity.date_deadline < today else "planned",
                    "type": activity.activity_type_id.name or "",
                    "summary": self._short_text(
                        activity.summary or html2plaintext(activity.note or "")
                    ),
                    "document": document,
                    "user": activity.user_id.name or "",
                }
            )

        # done: the latest activity messages per customer, ranked in one query, then
        # kept to those the reader may read
        keys = list(documents)
        Message = self.env["mail.message"]
        Message.flush_model(["model", "res_id", "mail_activity_type_id", "date", "message_type"])
        rows = self.env.execute_query(
            SQL(
                """
                SELECT ranked.id
                  FROM (
                    SELECT m.id, ROW_NUMBER() OVER (
                               PARTITION BY d.partner_id ORDER BY m.date DESC, m.id DESC
                           ) AS position
                      FROM unnest(%s::varchar[], %s::integer[], %s::integer[])
                           AS d(model, res_id, partner_id)
                      JOIN mail_message m ON m.model = d.model AND m.res_id = d.res_id
                     WHERE m.mail_activity_type_id IS NOT NULL
                       AND m.message_type <> 'user_notification'
                  ) ranked
                 WHERE ranked.position <= %s
                """,
                [model for model, _id in keys],
                [res_id for _model, res_id in keys],
                [documents[key][0] for key in keys],
                ACTIVITY_COUNT,
            )
        )
        messages = Message.browse([row[0] for row in rows])._filtered_access("read")
        for message in messages.sorted(lambda m: (m.date, m.id), reverse=True):
            partner_id, document = documents[(message.model, message.res_id)]
            result[partner_id].append(
                {
                    "date": fields.Datetime.context_timestamp(self, message.date).date(),
                    "state": "done",
                    "type": message.mail_activity_type_id.name or "",
                    "summary": self._done_text(message),
                    "document": document,
                    "user": message.author_id.name or "",
                }
            )
        return {partner_id: rows[:ACTIVITY_COUNT] for partner_id, rows in result.items()}

    @api.model
    def _done_text(self, message):
        """What a done activity's message says without its heading: the summary, the
        original note and the feedback."""
        text = " ".join(html2plaintext(message.body or "").split())
        heading = DONE_HEADING.match(text)
        if heading and heading["type"] == message.mail_activity_type_id.name:
            text = text[heading.end() :]
        return self._short_text(text)

    @api.model
    def _short_text(self, text):
        return textwrap.shorten(
            " ".join((text or "").split()), ACTIVITY_TEXT_LENGTH, placeholder=" …"
        )

    @api.model
    def _finance(self, partners, company):
        """Open invoices and follow-up per customer, read with the reader's rights (callers
        check that the reader is an invoicing user)."""
        result = {
            partner.id: {
                "invoices": self.env["account.move"],
                "followup": self.env["pulse.followup"],
                "currency": company.currency_id,
            }
            for partner in partners
        }
        invoices = self.env["account.move"].search(
            [
                ("commercial_partner_id", "in", partners.ids),
                ("company_id", "=", company.id),
                ("move_type", "in", ("out_invoice", "out_refund")),
                ("state", "=", "posted"),
                ("amount_residual", "!=", 0),
            ],
            order="invoice_date_due, invoice_date, id",
        )
        for partner, partner_invoices in invoices.grouped("commercial_partner_id").items():
            result[partner.id]["invoices"] = partner_invoices
        Followup = self.env["pulse.followup"]
        if Followup.has_access("read"):
            for followup in Followup.search(
                [("partner_id", "in", partners.ids), ("company_id", "=", company.id)]
            ):
                result[followup.partner_id.id]["followup"] = followup
        return result
