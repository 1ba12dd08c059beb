#!/usr/bin/env python3
"""Read an Odoo test log and say whether the run passed.

Exits non-zero on failed or errored tests, on a module that did not load (no summary line),
on any browser tour that Odoo skipped (it skips them silently when Chromium or
websocket-client is missing), and on any warning or error logged while the module loads
(before the first test starts), or by Python about one of our fields or models at any time
(Odoo warns about a field's dependencies only when it first needs them). Tests' own expected
warnings come after their `Starting` line and are left to the tests. Prints
`N passed, N failed` (and `, N skipped`) last.
Usage: parse_test_log.py LOGFILE ODOO_EXIT_CODE
"""

import re
import sys

SUMMARY = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database")
SKIP = re.compile(r"skipped (\S+) : (.*)$")
BROWSER_SKIP = re.compile(r"chrome|websocket|browser|tour", re.IGNORECASE)
FAIL_LINE = re.compile(r" (ERROR|CRITICAL) \S+ \S+: (FAIL|ERROR): ")
LEVEL = re.compile(r" (WARNING|ERROR|CRITICAL) \S+ (\S+): ")
# the first test of the run: what the log says before it is the loading of the module
TESTS_START = re.compile(
    r" INFO \S+ (odoo\.service\.server: Starting post tests|\S+\.tests\.\S+: Starting )"
)
# Python warnings about our models or fields (e.g. a dependency that should be searchable)
OUR_PY_WARNING = re.compile(r" py\.warnings: .*\b(pulse[._]|customer_pulse)")
LOAD_ERROR = re.compile(
    r" (ERROR|CRITICAL) \S+ (odoo\.modules\.loading|odoo\.modules\.registry|odoo\.tools\.convert|"
    r"odoo\.addons\.base\.models\.ir_ui_view|odoo\.schema): "
)


def loading_warnings(lines):
    """The WARNING, ERROR and CRITICAL lines of the loading phase (before the first test),
    and Python's warnings about our models or fields wherever they come."""
    found, loading = [], True
    for line in lines:
        if loading and TESTS_START.search(line):
            loading = False
        match = LEVEL.search(line)
        if match and (loading or OUR_PY_WARNING.search(line)):
            found.append(line)
    return found


def main(path, odoo_rc):
    with open(path, encoding="utf-8", errors="replace") as log:
        text = log.read()
    summaries = SUMMARY.findall(text)
    skips = [m.groups() for m in map(SKIP.search, text.splitlines()) if m]
    browser_skips = [s for s in skips if BROWSER_SKIP.search(s[1]) or "tour" in s[0].lower()]
    fail_lines = [line for line in text.splitlines() if FAIL_LINE.search(line)]
    load_errors = [line for line in text.splitlines() if LOAD_ERROR.search(line)]
    load_warnings = loading_warnings(text.splitlines())
    problems = []
    if not summaries:
        problems.append(
            "no test summary in the log: the module did not load or the tests never ran"
        )
        failed = errors = total = 0
    else:
        failed, errors, total = (sum(int(s[i]) for s in summaries) for i in range(3))
    if total == 0 and summaries:
        problems.append("no test ran")
    if odoo_rc != 0:
        problems.append(f"Odoo exited with code {odoo_rc}")
    for name, reason in browser_skips:
        problems.append(f"browser tour skipped: {name} ({reason})")
    for line in load_errors:
        problems.append("loading error: " + line.split(": ", 1)[-1][:300])
    for line in dict.fromkeys(line.split(" ", 5)[-1] for line in load_warnings):
        problems.append("not a clean start: " + line[:300])
    if fail_lines and not (failed or errors):
        failed = len(fail_lines)
    skipped = len(skips)
    passed = max(total - failed - errors - skipped, 0)
    for line in fail_lines:
        print("  " + line.split(": ", 1)[-1][:300])
    for p in problems:
        print("problem: " + p)
    bad = failed + errors + (1 if problems and not (failed + errors) else 0)
    line = f"{passed} passed, {bad} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if (failed or errors or problems) else 0


if __name__ == "__main__":
    log_path, *rest = sys.argv[1:]
    sys.exit(main(log_path, int(rest[0]) if rest else 0))
