# shellcheck shell=bash
# Shared settings of the Customer Pulse tooling; sourced by the other scripts.
# Everything this machine needs lives in a cache outside the repository.

set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${PULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/customer-pulse}
ODOO_DIR="$CACHE_DIR/odoo"
VENV_DIR="$CACHE_DIR/venv"
PYTHON_BIN="$VENV_DIR/bin/python"
# The repository root is the addon, whatever the clone's folder is called: the setup gives
# each clone a folder of its own in the cache that holds a link named customer_pulse to it.
ADDON_LINK_DIR="$CACHE_DIR/addons/$(printf '%s' "$REPO_DIR" | cksum | cut -d' ' -f1)"
DB=${DB:-pulse_demo}
PORT=${PORT:-8069}

# PostgreSQL: the user's own server when PGHOST/PGPORT/PGUSER say so, otherwise a private
# cluster. PostgreSQL refuses to run as root, so root runs it as the `postgres` user with its
# data in that user's home; any other user keeps it in the cache.
if [ -n "${PGHOST:-}${PGPORT:-}${PGUSER:-}" ]; then
  PULSE_OWN_PG=0
  PG_DB_HOST=${PGHOST:-}
  PG_DB_PORT=${PGPORT:-5432}
  PG_DB_USER=${PGUSER:-$(id -un)}
  PG_DB_PASSWORD=${PGPASSWORD:-}
else
  PULSE_OWN_PG=1
  if [ "$(id -u)" = 0 ]; then
    PG_RUN_AS=postgres
    PG_DATA_ROOT=${PULSE_PG_DIR:-$(getent passwd postgres 2>/dev/null | cut -d: -f6)/customer-pulse}
  else
    PG_RUN_AS=
    PG_DATA_ROOT=${PULSE_PG_DIR:-$CACHE_DIR/pg}
  fi
  PG_DATA="$PG_DATA_ROOT/data"
  PG_SOCKET_DIR="$PG_DATA_ROOT/run"
  PG_DB_HOST="$PG_SOCKET_DIR"
  PG_DB_PORT=${PULSE_PG_PORT:-5439}
  PG_DB_USER=odoo
  PG_DB_PASSWORD=
fi

say() { printf '\033[1m[customer-pulse]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[customer-pulse] error:\033[0m %s\n' "$*" >&2; exit 1; }

pg_bin_dir() {
  local d
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return
  fi
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return; }
  return 1
}

# psql as the Odoo database user, on the maintenance database.
pg_psql() {
  PGPASSWORD=$PG_DB_PASSWORD psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DB_HOST" -p "$PG_DB_PORT" \
    -U "$PG_DB_USER" "$@"
}

db_exists() {
  [ "$(pg_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ]
}

# The odoo command line shared by run, test, shell and bench.
odoo_args() {
  local args=(--addons-path="$ODOO_DIR/odoo/addons,$ODOO_DIR/addons,$ADDON_LINK_DIR"
    --db_host="$PG_DB_HOST" --db_port="$PG_DB_PORT" --db_user="$PG_DB_USER"
    --data-dir="$CACHE_DIR/filestore")
  [ -n "$PG_DB_PASSWORD" ] && args+=(--db_password="$PG_DB_PASSWORD")
  printf '%s\n' "${args[@]}"
}

odoo_bin() {
  local args
  mapfile -t args < <(odoo_args)
  "$PYTHON_BIN" "$ODOO_DIR/odoo-bin" "$@" "${args[@]}"
}

# --- Databases ---------------------------------------------------------------------------
# A template with Odoo's modules that customer_pulse depends on, installed once per Odoo copy
# and dependency list: new demo and test databases are copied from it in seconds.
addon_depends() {
  "$PYTHON_BIN" -c 'import ast,sys; print(",".join(ast.literal_eval(open(sys.argv[1]).read())["depends"]))' \
    "$REPO_DIR/__manifest__.py"
}

base_template_name() {
  printf 'pulse_base_%s' "$( { cat "$ODOO_DIR/.pulse-stamp"; addon_depends; } | cksum | cut -d' ' -f1)"
}

filestore_of() { printf '%s/filestore/filestore/%s' "$CACHE_DIR" "$1"; }

ensure_base_template() {
  local name tmp
  name=$(base_template_name)
  db_exists "$name" && { echo "$name"; return; }
  tmp="${name}_partial"
  say "installing Odoo's modules ($(addon_depends)) into the template $name (once)"
  pg_psql -d postgres -c "DROP DATABASE IF EXISTS $tmp" >/dev/null
  rm -rf "$(filestore_of "$tmp")"
  odoo_bin -d "$tmp" -i "$(addon_depends)" --without-demo=all --stop-after-init \
    --log-level=warn --http-port="$(free_port)" >&2 \
    || die "installing Odoo's modules failed (see the log above)"
  pg_psql -d postgres -c "ALTER DATABASE $tmp RENAME TO $name" >/dev/null
  [ -d "$(filestore_of "$tmp")" ] && mv "$(filestore_of "$tmp")" "$(filestore_of "$name")"
  # drop templates of older Odoo copies or dependency lists
  for old in $(pg_psql -d postgres -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'pulse_base_%' AND datname <> '$name'"); do
    pg_psql -d postgres -c "DROP DATABASE IF EXISTS $old" >/dev/null 2>&1 || true
    rm -rf "$(filestore_of "$old")"
  done
  echo "$name"
}

# create_db_from_template NEW: a new database with Odoo's modules installed, filestore included.
create_db_from_template() {
  local template
  template=$(ensure_base_template)
  pg_psql -d postgres -c "CREATE DATABASE $1 TEMPLATE $template" >/dev/null
  mkdir -p "$CACHE_DIR/filestore/filestore"
  if [ -d "$(filestore_of "$template")" ]; then
    cp -a "$(filestore_of "$template")" "$(filestore_of "$1")"
  fi
}

drop_db() {
  pg_psql -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
  rm -rf "$(filestore_of "$1")"
}

free_port() {
  "$PYTHON_BIN" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_taken() {
  "$PYTHON_BIN" -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)' "$1"
}
