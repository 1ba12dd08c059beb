#!/usr/bin/env bash
# make test: the whole suite, browser tours included, on a fresh database dropped afterwards.
# TEST_TAGS narrows it (Odoo's --test-tags syntax), e.g. make test TEST_TAGS=/customer_pulse:TestDemoHistory
# A clean start is part of the run: any WARNING or ERROR logged while the module installs
# (before the first test), or Python's warning about one of our fields, fails it
# (scripts/parse_test_log.py prints the lines).
# After the whole suite, the addon is uninstalled for real and the database checked for
# leftovers (UNINSTALL_CHECK=1 adds that to a narrowed run, UNINSTALL_CHECK=0 skips it).
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
"$(dirname "$0")/setup.sh" test

# Odoo skips browser tours silently without these: refuse to run rather than pass blind.
"$PYTHON_BIN" -c 'import websocket' 2>/dev/null \
  || die "websocket-client is missing from the virtualenv: browser tours cannot run"
command -v chromium >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 \
  || command -v chromium-browser >/dev/null 2>&1 \
  || die "Chromium is missing: browser tours cannot run (apt-get install chromium)"
# PDF reports: without wkhtmltopdf the report tests could only check HTML. Refuse, and make sure
# Odoo itself finds it and finds it usable (its state 'ok').
command -v wkhtmltopdf >/dev/null 2>&1 \
  || die "wkhtmltopdf is missing: PDF reports cannot be rendered (apt-get install wkhtmltopdf)"
wk_state=$(cd "$ODOO_DIR" && "$PYTHON_BIN" -c \
  'from odoo.addons.base.models import ir_actions_report as r; print(r.wkhtmltopdf_state)' 2>/dev/null | tail -1)
[ "$wk_state" = ok ] \
  || die "Odoo does not find a usable wkhtmltopdf (state: ${wk_state:-unknown}); check $(command -v wkhtmltopdf) --version"

test_db="pulse_test_$(date +%Y%m%d%H%M%S)_$$"
log_dir="$CACHE_DIR/logs"; mkdir -p "$log_dir"
log="$log_dir/$test_db.log"
cleanup() { drop_db "$test_db" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$(date +%s)
create_db_from_template "$test_db"
say "testing in $test_db (log: $log)"
set +e
odoo_bin -d "$test_db" -i customer_pulse --without-demo=all --test-enable \
  --test-tags="${TEST_TAGS:-/customer_pulse}" --stop-after-init --log-level=test \
  --http-port="$(free_port)" --max-cron-threads=0 2>&1 \
  | tee "$log" | grep -E --line-buffered ' (WARNING|ERROR|CRITICAL) |Starting .*\.test_|^(Traceback|  File|AssertionError)' \
  | grep -v --line-buffered 'Running as user .root. is a security risk'
rc=${PIPESTATUS[0]}
set -e
say "ran in $(( $(date +%s) - start )) s"

# Then a real uninstall of the addon from the test database, and the check that it left the
# ERP clean (scripts/uninstall_check.py): its problems go into the log as failures. On the
# whole suite only, unless UNINSTALL_CHECK=1 (or 0) says otherwise.
uninstall_step() {
  local step_rc
  set +e
  PULSE_UNINSTALL_PHASE=$1 odoo_bin shell -d "$test_db" --no-http --log-level=info \
    --max-cron-threads=0 < "$REPO_DIR/scripts/uninstall_check.py" 2>&1 \
    | tee -a "$log" | grep -E --line-buffered ' (ERROR|CRITICAL) |uninstall check' \
    | grep -v --line-buffered 'Running as user .root. is a security risk'
  step_rc=${PIPESTATUS[0]}
  set -e
  if [ "$step_rc" != 0 ]; then
    printf '%s 0 ERROR %s customer_pulse.uninstall_check: FAIL: uninstall check: the %s step exited with %s\n' \
      "$(date '+%F %T,000')" "$test_db" "$1" "$step_rc" | tee -a "$log"
  fi
}
if [ "${UNINSTALL_CHECK:-$([ -z "${TEST_TAGS:-}" ] && echo 1 || echo 0)}" = 1 ]; then
  start=$(date +%s)
  say "uninstalling customer_pulse from $test_db, then checking that it left nothing behind"
  uninstall_step uninstall
  uninstall_step check
  say "uninstall check ran in $(( $(date +%s) - start )) s"
fi
"$PYTHON_BIN" "$REPO_DIR/scripts/parse_test_log.py" "$log" "$rc"
