#!/usr/bin/env bash
# make run: set up, create the demo database with generated history if needed, serve it.
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
"$(dirname "$0")/setup.sh" run

SCALE=${SCALE:-demo}
port_taken "$PORT" && die "port $PORT is already in use (another Odoo?). Stop it or choose another: make run PORT=8070"

addon_stamp() {
  (cd "$REPO_DIR" && find . -path ./.git -prune -o -type f \( -name '*.py' -o -name '*.xml' -o -name '*.csv' -o -name '*.js' -o -name '*.scss' \) -newer "$1" -print -quit)
}
db_param() {
  pg_psql -d "$DB" -tAc "SELECT value FROM ir_config_parameter WHERE key = '$1'" 2>/dev/null || true
}

if db_exists "$DB"; then
  if [ -z "$(db_param customer_pulse.demo_generated)" ]; then
    if [ -n "$(db_param database.uuid)" ] && [ -z "$(pg_psql -d "$DB" -tAc "SELECT 1 FROM ir_module_module WHERE name = 'customer_pulse'" 2>/dev/null)" ]; then
      die "database $DB exists and is not a Customer Pulse demo. Choose another name: make run DB=pulse_demo2"
    fi
    say "database $DB was left half-made by an interrupted run: making it again"
    drop_db "$DB"
  fi
fi

stamp="$CACHE_DIR/stamps/$DB"
if ! db_exists "$DB"; then
  say "creating the demo database $DB"
  create_db_from_template "$DB"
  odoo_bin -d "$DB" -i customer_pulse --without-demo=all --stop-after-init --log-level=warn \
    --http-port="$(free_port)" || { drop_db "$DB"; die "installing customer_pulse failed (see above)"; }
  say "generating three years of history (SCALE=$SCALE); this takes a few minutes"
  start=$(date +%s)
  if ! "$REPO_DIR/scripts/shell.sh" --no-setup --log-level=warn <<PY
from odoo.addons.customer_pulse.tools import demo_history
counts = demo_history.generate(env, scale="$SCALE" if not "$SCALE".isdigit() else int("$SCALE"))
counts.pop("archetypes")
# finance: levels, reminders of the last weeks, promises, a dispute, items to collect, notices
from odoo.addons.customer_pulse.tools import demo_followups
followups = demo_followups.generate(env)
followups.pop("showcase")
counts.update(followups)
# managers' reports: deals moving through the pipeline, quotes issued, work done
from odoo.addons.customer_pulse.tools import demo_pipeline, demo_quotes
counts.update(demo_pipeline.generate(env))
counts.update(demo_quotes.generate(env))
env["pulse.facts.engine"]._refresh_all()
env["pulse.segment"].search([])._refresh_safely()
# two years of the shipped rules' history (costs, conversions, revenue per step)
from odoo.addons.customer_pulse.tools import demo_rule_return
counts.update(demo_rule_return.generate(env))
env["ir.config_parameter"].set_param("customer_pulse.demo_generated", repr(counts))
env.cr.commit()
print("generated:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
PY
  then
    drop_db "$DB"; die "generating the demo history failed (see above)"
  fi
  say "history generated in $(( $(date +%s) - start )) s"
  mkdir -p "$(dirname "$stamp")"; touch "$stamp"
elif [ ! -f "$stamp" ] || [ -n "$(addon_stamp "$stamp")" ]; then
  say "the addon changed since the last run: updating customer_pulse in $DB"
  odoo_bin -d "$DB" -u customer_pulse --stop-after-init --log-level=warn --http-port="$(free_port)" \
    || die "updating customer_pulse failed (see above)"
  # the demo shows the facts of the updated code at once (production waits for the crons)
  echo 'env["pulse.facts.engine"]._refresh_all(); env["pulse.segment"].search([])._refresh_safely(); env.cr.commit()' \
    | "$REPO_DIR/scripts/shell.sh" --no-setup >/dev/null
  mkdir -p "$(dirname "$stamp")"; touch "$stamp"
fi

# make run LANG=hu_HU (ru_RU, zh_CN, any language Odoo has): the language loaded into the
# database for every installed module, and set for the demo users and the company
if [ -n "${DEMO_LANG:-}" ] && [ "$(db_param customer_pulse.demo_lang)" != "$DEMO_LANG" ]; then
  say "loading $DEMO_LANG into $DB and setting it for the demo users (once; a minute or two)"
  "$REPO_DIR/scripts/shell.sh" --no-setup --log-level=warn <<PY || die "loading the language $DEMO_LANG failed (see above)"
from odoo.addons.customer_pulse.tools import demo_language
demo_language.install(env, "$DEMO_LANG")
env.cr.commit()
PY
fi

say "serving $DB on http://localhost:$PORT  (login: admin / password: admin)"
odoo_bin -d "$DB" --db-filter="^$DB\$" --http-port="$PORT" --log-level=info --without-demo=all \
  ${ODOO_ARGS:-}
