"""Integer settings of Customer Pulse read from the system parameters.

A system parameter is free text: an administrator can type anything in Settings › Technical ›
System Parameters, and the settings form stores nothing when a number field is left at 0.
Every read of an integer setting goes through `int_param`, so that a bad value falls back to
the default with a warning in the log instead of breaking the screen or the job reading it.
"""

import logging

_logger = logging.getLogger(__name__)


def int_param(env, key, default, minimum=None):
    """The integer system parameter `key`: `default` when it is missing or empty, and, with a
    warning in the log, when it is not a whole number or is below `minimum`."""
    # sudo: system parameters are readable by administrators only; every user's screens and
    # jobs read the addon's settings
    value = env["ir.config_parameter"].sudo().get_param(key)
    if value is None or value is False or not str(value).strip():
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        _logger.warning(
            "system parameter %s is %r, not a whole number: the default %s is used",
            key,
            value,
            default,
        )
        return default
    if minimum is not None and number < minimum:
        _logger.warning(
            "system parameter %s is %s, below its minimum %s: the default %s is used",
            key,
            number,
            minimum,
            default,
        )
        return default
    return number
