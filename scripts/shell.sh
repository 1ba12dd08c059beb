#!/usr/bin/env bash
# make shell: an Odoo shell on the demo database; Python read from standard input works too:
#   echo 'print(env["res.partner"].search_count([]))' | make shell
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
if [ "${1:-}" = --no-setup ]; then shift; else "$(dirname "$0")/setup.sh" shell; fi
db_exists "$DB" || die "database $DB does not exist yet: run 'make run' first (or set DB=)"
args=()
[ -t 0 ] || args+=(--shell-interface=python)
odoo_bin shell -d "$DB" --no-http "${args[@]}" --log-level="${LOG_LEVEL:-warn}" "$@"
