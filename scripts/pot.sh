#!/usr/bin/env bash
# make pot: export i18n/customer_pulse.pot with Odoo's own exporter from a fresh database with
# the addon installed (the terms of the code, views, data and the dashboard), then bring each
# i18n/<lang>.po in line with it (scripts/pot_merge.py: new terms empty, gone terms dropped).
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
"$(dirname "$0")/setup.sh" pot

db="pulse_pot_$$"
cleanup() { drop_db "$db" 2>/dev/null || true; }
trap cleanup EXIT
create_db_from_template "$db"
say "installing customer_pulse into $db to export its terms"
odoo_bin -d "$db" -i customer_pulse --without-demo=all --stop-after-init --log-level=warn \
  --http-port="$(free_port)" || die "installing customer_pulse failed (see above)"
pot="$REPO_DIR/i18n/customer_pulse.pot"
mkdir -p "$REPO_DIR/i18n"
odoo_bin -d "$db" --i18n-export="$pot" --modules=customer_pulse --stop-after-init \
  --log-level=warn --http-port="$(free_port)" || die "exporting the terms failed (see above)"
"$PYTHON_BIN" "$REPO_DIR/scripts/pot_merge.py" "$pot" "$REPO_DIR"/i18n/*.po
