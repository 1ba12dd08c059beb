"""The settings of Customer Pulse: one table, one accessor.

Every setting is a system parameter `customer_pulse.<name>` (Settings › Customer Pulse
writes them; an administrator may also type them in Settings › Technical › System
Parameters). `SETTINGS` is the one place that says each one's type, default and smallest
meaningful value; code reads them with `setting(env, name)` only, and the settings screen
takes its defaults from here.

A system parameter is free text, and the settings form stores nothing when a number field
is left at 0: a whole number that is missing, empty, not a whole number or below its
minimum reads as the default (with a warning in the log for a bad value), instead of
breaking the screen or the job reading it.
"""

import logging
from typing import NamedTuple

_logger = logging.getLogger(__name__)

PREFIX = "customer_pulse."


class Setting(NamedTuple):
    kind: type  # int or str
    default: object
    minimum: int | None = None  # whole numbers only


SETTINGS = {
    # Customer facts: orders and invoices of this many past days make the RFM scores
    "rfm_window_days": Setting(int, 365, minimum=1),
    # a customer whose last confirmed order is older than this is lapsed
    "lapsed_days": Setting(int, 365, minimum=1),
    # frequency cap across all rules: touches at most (0: no cap) per this many days
    "cap_touches": Setting(int, 3, minimum=0),
    "cap_days": Setting(int, 7, minimum=1),
    # calls of a webhook or of the SMS gateway at most, for a run
    "external_max_attempts": Setting(int, 3, minimum=1),
    # reminders wait this many days after a promised payment date
    "followup_grace_days": Setting(int, 3, minimum=0),
    # texts through Odoo's SMS ("odoo") or the HTTP gateway ("http") at this URL and token
    "sms_gateway": Setting(str, "odoo"),
    "sms_gateway_url": Setting(str, False),
    "sms_gateway_token": Setting(str, False),
    # hosts, addresses or networks (comma separated) a webhook may reach though not public
    "webhook_allowed_hosts": Setting(str, ""),
    # bookkeeping, not on the settings screen: the day the payment follow-up last ran
    "followup_run_date": Setting(str, False),
    # bookkeeping: the day the rule engine last looked after every enrolment
    "rule_upkeep_date": Setting(str, False),
    # bookkeeping: the day the customer facts stand at and the RFM window they were computed
    # with ("2026-06-15 365"), from which the nightly refresh moves them on
    "facts_basis": Setting(str, False),
    # bookkeeping: the day the purchase habits in the profiles stand at
    "purchase_attributes_date": Setting(str, False),
}


def param_key(name):
    """The system parameter of the setting `name` (KeyError for an unknown setting)."""
    if name not in SETTINGS:
        raise KeyError(f"customer_pulse has no setting {name!r}")
    return PREFIX + name


def setting_default(name):
    return SETTINGS[name].default


def setting(env, name):
    """The setting `name` (see SETTINGS): its default when missing or empty and, with a
    warning in the log, when a whole number is not one or is below its minimum."""
    key = param_key(name)
    spec = SETTINGS[name]
    # sudo: system parameters are readable by administrators only; every user's screens and
    # jobs read the addon's settings
    value = env["ir.config_parameter"].sudo().get_param(key)
    if spec.kind is not int:
        return value or spec.default
    if value is None or value is False or not str(value).strip():
        return spec.default
    try:
        number = int(str(value).strip())
    except ValueError:
        _logger.warning(
            "system parameter %s is %r, not a whole number: the default %s is used",
            key,
            value,
            spec.default,
        )
        return spec.default
    if spec.minimum is not None and number < spec.minimum:
        _logger.warning(
            "system parameter %s is %s, below its minimum %s: the default %s is used",
            key,
            number,
            spec.minimum,
            spec.default,
        )
        return spec.default
    return number
