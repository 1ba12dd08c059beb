"""Queued emails made set-based: many mail.mail (and their mailing traces) at once, for the
rule engine and the payment follow-up.

mail.mail.create costs about a millisecond per email, most of it per row in the ORM: the
defaults worked out again for every email, the body sanitized three times (message, cache,
column), one INSERT per recipient link. Here the defaults are worked out once for the batch,
each body is sanitized once (as the body field does it), and each table gets one INSERT:
the rows are those mail.mail.create writes (same columns, same conversions). An email that
create() would treat specially (attachments, images embedded in the body, a notification of
an existing message, links other than link and set) goes through mail.mail.create.
"""

import re

from odoo import Command
from odoo.tools import SQL

# what mail.message.create turns into attachments: images embedded in the body
EMBEDDED_IMAGE = re.compile(r"data:image/[\w.+-]+;base64,", re.IGNORECASE)
# the x2many values taken here: recipients of the email and partners of its message
RELATIONS = ("recipient_ids", "partner_ids")
LOG_ACCESS = ("create_uid", "create_date", "write_uid", "write_date")
# what a record's cache holds of its messages (mail.thread)
DOCUMENT_FIELDS = ["message_ids", "message_needaction", "message_needaction_counter"]


def queue_mails(env, vals_list):
    """mail.mail records made from `vals_list` (values as mail.mail.create takes them; the
    x2many values `recipient_ids` and `partner_ids` as link or set commands), in their
    order, with one INSERT per table. As superuser: the caller has checked what it sends."""
    Mail = env["mail.mail"].sudo()
    if not vals_list:
        return Mail
    if not all(_plain(vals) for vals in vals_list):
        return Mail.create(vals_list)
    Message = env["mail.message"].sudo()
    message_columns = _columns(Message)
    mail_columns = {f: c for f, c in _columns(Mail).items() if f != "mail_message_id"}
    given = set().union(*vals_list)
    defaults = Mail.default_get(sorted((message_columns.keys() | mail_columns.keys()) - given))
    rows = [{**defaults, **vals} for vals in vals_list]
    _complete(Message, Mail, rows)
    message_ids = _insert(Message, message_columns, rows)
    for row, message_id in zip(rows, message_ids, strict=True):
        row["mail_message_id"] = message_id
    mail_ids = _insert(Mail, {**mail_columns, "mail_message_id": None}, rows)
    _link(Mail, "recipient_ids", mail_ids, rows)
    _link(Message, "partner_ids", message_ids, rows)
    _invalidate_documents(env, rows)
    return Mail.browse(mail_ids)


def insert_rows(model, vals_list):
    """Records of `model` made from `vals_list` (plain stored fields only) with one INSERT,
    the defaults worked out once: for a model whose create() adds nothing to what it is
    given (the caller gives what it would add), as the mailing traces of queued emails."""
    columns = _columns(model)
    given = set().union(*vals_list) if vals_list else set()
    if given - columns.keys():
        raise ValueError(f"not plain columns of {model._name}: {sorted(given - columns.keys())}")
    defaults = model.default_get(sorted(columns.keys() - given))
    return model.browse(_insert(model, columns, [{**defaults, **vals} for vals in vals_list]))


def _plain(vals):
    """True when mail.mail.create would do nothing special with these values."""
    if vals.get("attachment_ids") or vals.get("mail_message_id"):
        return False
    if EMBEDDED_IMAGE.search(str(vals.get("body") or "")):
        return False
    return all(
        command[0] in (Command.LINK, Command.SET)
        for name in RELATIONS
        for command in vals.get(name) or ()
    )


def _columns(model):
    """{field name: field} of the plain stored columns of `model` (no log access, no id)."""
    return {
        name: field
        for name, field in model._fields.items()
        if field.store and field.column_type and name not in LOG_ACCESS and name != "id"
    }


def _documents(rows):
    """{model: ids} of the records the rows' messages are about."""
    records = {}
    for row in rows:
        if row.get("model") and row.get("res_id"):
            records.setdefault(row["model"], set()).add(row["res_id"])
    return records


def _invalidate_documents(env, rows):
    """The records the new messages are about forget the messages they hold in cache (what
    mail.message.create invalidates), from the rows: the messages are not read back."""
    for model, ids in _documents(rows).items():
        if model in env.registry and issubclass(env.registry[model], env.registry["mail.thread"]):
            env[model].browse(ids).invalidate_recordset(DOCUMENT_FIELDS)


def _complete(Message, Mail, rows):
    """What mail.message.create and mail.mail.create add to each row: a message id, the
    record's name, a reply-to when none was given, the scheduled date made naive."""
    for model, ids in _documents(rows).items():  # the records' names, read in one go
        Message.env[model].sudo().browse(list(ids)).mapped("display_name")
    for row in rows:
        if not row.get("message_id"):
            row["message_id"] = Message._get_message_id(row)
        if "reply_to" not in row:
            row["reply_to"] = Message._get_reply_to(row)
        if "record_name" not in row:
            row["record_name"] = Message._get_record_name(row)
        scheduled = row.get("scheduled_date")
        parsed = Mail._parse_scheduled_datetime(scheduled) if scheduled else None
        row["scheduled_date"] = parsed.replace(tzinfo=None) if parsed else False


def _insert(model, columns, rows):
    """INSERT the `columns` of `rows` into the table of `model` (converted as the ORM
    converts them, log access added); returns the new ids in the rows' order."""
    env = model.env
    if not rows:
        return []
    names = sorted(name for name in columns if any(name in row for row in rows))
    fields = [model._fields[name] for name in names]
    now, uid = env.cr.now(), env.uid
    values = []
    for row in rows:  # one SQL per row: its cells as parameters, DEFAULT where it has none
        code = ", ".join("%s" if field.name in row else "DEFAULT" for field in fields)
        cells = [
            field.convert_to_column_insert(row[field.name], model, row)
            for field in fields
            if field.name in row
        ]
        values.append(SQL(f"({code}, %s, %s, %s, %s)", *cells, uid, now, uid, now))
    env.cr.execute(
        SQL(
            "INSERT INTO %s (%s) VALUES %s RETURNING id",
            SQL.identifier(model._table),
            SQL(", ").join(map(SQL.identifier, [*names, *LOG_ACCESS])),
            SQL(", ").join(values),
        )
    )
    return [row[0] for row in env.cr.fetchall()]


def _link(model, name, ids, rows):
    """Fill the many2many `name` of the new records `ids` from the rows' commands."""
    field = model._fields[name]
    pairs = set()
    for record_id, row in zip(ids, rows, strict=True):
        for command in row.get(name) or ():
            linked = command[2] if command[0] == Command.SET else [command[1]]
            pairs.update((record_id, other) for other in linked)
    if not pairs:
        return
    left, right = zip(*sorted(pairs), strict=True)
    model.env.cr.execute(
        SQL(
            "INSERT INTO %s (%s, %s) SELECT * FROM UNNEST(%s::integer[], %s::integer[])"
            " ON CONFLICT DO NOTHING",
            SQL.identifier(field.relation),
            SQL.identifier(field.column1),
            SQL.identifier(field.column2),
            list(left),
            list(right),
        )
    )
