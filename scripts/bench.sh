#!/usr/bin/env bash
# make bench: customer facts at scale. SCALE=100k (default), 1m, or "100k 1m".
# Each scale's generated ERP history is kept as a template database, so a re-run measures
# without regenerating. Results: bench/results/latest.json and a table on the terminal.
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
"$(dirname "$0")/setup.sh" bench

scales=${SCALE:-100k}
out="$REPO_DIR/bench/results/latest.json"
export PULSE_ODOO_DIR="$ODOO_DIR" PULSE_DB_HOST="$PG_DB_HOST" PULSE_DB_PORT="$PG_DB_PORT" \
  PULSE_DB_USER="$PG_DB_USER" PULSE_DB_PASSWORD="$PG_DB_PASSWORD" \
  PULSE_DATA_DIR="$CACHE_DIR/filestore" \
  PULSE_ADDONS_PATH="$ODOO_DIR/odoo/addons,$ODOO_DIR/addons,$ADDON_LINK_DIR"
key=$( { base_template_name; cat "$REPO_DIR/bench/generate_erp.py"; } \
  | cksum | cut -d' ' -f1)
for scale in $scales; do
  case "$scale" in 10k|100k|1m) ;; *) die "unknown SCALE $scale (10k, 100k or 1m)";; esac
  tmpl="pulse_bench_${scale}_$key"
  if ! db_exists "$tmpl"; then
    say "generating the $scale ERP history into $tmpl (once; kept as a template)"
    drop_db "${tmpl}_partial"
    create_db_from_template "${tmpl}_partial"
    odoo_bin -d "${tmpl}_partial" -i customer_pulse --without-demo=all --stop-after-init \
      --log-level=warn --http-port="$(free_port)"
    (cd "$REPO_DIR/bench" && "$PYTHON_BIN" generate_erp.py "${tmpl}_partial" "$scale")
    pg_psql -d "${tmpl}_partial" -c "VACUUM ANALYZE" >/dev/null
    pg_psql -d postgres -c "ALTER DATABASE ${tmpl}_partial RENAME TO $tmpl" >/dev/null
    mv "$(filestore_of "${tmpl}_partial")" "$(filestore_of "$tmpl")" 2>/dev/null || true
    for old in $(pg_psql -d postgres -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'pulse_bench_${scale}_%' AND datname <> '$tmpl'"); do
      drop_db "$old"
    done
  fi
  run_db="pulse_bench_run_$scale"
  drop_db "$run_db"
  pg_psql -d postgres -c "CREATE DATABASE $run_db TEMPLATE $tmpl" >/dev/null
  # the history is kept; the addon is brought up to the code being measured
  # (base_automation: the comparison of the rules bench)
  odoo_bin -d "$run_db" -u customer_pulse -i base_automation --stop-after-init --log-level=warn \
    --http-port="$(free_port)"
  say "measuring at $scale"
  (cd "$REPO_DIR/bench" && "$PYTHON_BIN" bench_partner_stats.py "$run_db" "$scale" "$out")
  # the rules bench enrols every lapsed customer: 100k is its scale (RULES_SCALES to change)
  if [[ " ${RULES_SCALES:-10k 100k} " == *" $scale "* ]]; then
    say "measuring rules at $scale"
    (cd "$REPO_DIR/bench" && "$PYTHON_BIN" bench_rules.py "$run_db" "$scale" "$out")
  fi
  # the follow-up run over every customer, about 10% overdue (FOLLOWUP_SCALES to change)
  if [[ " ${FOLLOWUP_SCALES:-10k 100k} " == *" $scale "* ]]; then
    say "measuring follow-ups at $scale"
    (cd "$REPO_DIR/bench" && "$PYTHON_BIN" bench_followups.py "$run_db" "$scale" "$out")
  fi
  # managers' reports: stage history and snapshots over generated leads, work done over a
  # year of generated activity (REPORT_SCALES to change)
  if [[ " ${REPORT_SCALES:-10k 100k} " == *" $scale "* ]]; then
    say "measuring the pipeline history at $scale"
    (cd "$REPO_DIR/bench" && "$PYTHON_BIN" bench_pipeline.py "$run_db" "$scale" "$out")
    say "measuring work done at $scale"
    (cd "$REPO_DIR/bench" && "$PYTHON_BIN" bench_work_done.py "$run_db" "$scale" "$out")
  fi
  # what a user feels: the screens' calls over HTTP as a salesperson, a marketer and an
  # accountant, then 20 users at once while the rule engine and the facts queue run on the
  # multi-process server (SCREEN_SCALES to change)
  if [[ " ${SCREEN_SCALES:-100k 1m} " == *" $scale "* ]]; then
    say "measuring screens at $scale"
    (cd "$REPO_DIR/bench" && "$PYTHON_BIN" bench_screens.py "$run_db" "$scale" "$out")
    say "measuring screens under load at $scale"
    (cd "$REPO_DIR/bench" && "$PYTHON_BIN" bench_load.py "$run_db" "$scale" "$out")
  fi
  drop_db "$run_db"
done
