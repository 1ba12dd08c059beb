#!/usr/bin/env python3
"""Read an Odoo test log and say whether the run passed.

Exits non-zero on failed or errored tests, on a module that did not load (no summary line),
and on any browser tour that Odoo skipped (it skips them silently when Chromium or
websocket-client is missing). Prints `N passed, N failed` (and `, N skipped`) last.
Usage: parse_test_log.py LOGFILE ODOO_EXIT_CODE
"""

import re
import sys

SUMMARY = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database")
SKIP = re.compile(r"skipped (\S+) : (.*)$")
BROWSER_SKIP = re.compile(r"chrome|websocket|browser|tour", re.IGNORECASE)
FAIL_LINE = re.compile(r" (ERROR|CRITICAL) \S+ \S+: (FAIL|ERROR): ")
LOAD_ERROR = re.compile(
    r" (ERROR|CRITICAL) \S+ (odoo\.modules\.loading|odoo\.modules\.registry|odoo\.tools\.convert|"
    r"odoo\.addons\.base\.models\.ir_ui_view|odoo\.schema): "
)


def main(path, odoo_rc):
    with open(path, encoding="utf-8", errors="replace") as log:
        text = log.read()
    summaries = SUMMARY.findall(text)
    skips = [m.groups() for m in map(SKIP.search, text.splitlines()) if m]
    browser_skips = [s for s in skips if BROWSER_SKIP.search(s[1]) or "tour" in s[0].lower()]
    fail_lines = [line for line in text.splitlines() if FAIL_LINE.search(line)]
    load_errors = [line for line in text.splitlines() if LOAD_ERROR.search(line)]
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
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
