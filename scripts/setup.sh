#!/usr/bin/env bash
# Idempotent setup: Odoo 18.0 source, virtualenv, system packages, PostgreSQL.
# Usage: scripts/setup.sh            (every make target calls it first)
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"

ODOO_GIT_URL=${ODOO_GIT_URL:-https://github.com/odoo/odoo.git}
mkdir -p "$CACHE_DIR"

# --- 1. Odoo 18.0 -----------------------------------------------------------------------
odoo_is_18() {
  grep -Eq '^version_info = \(18, 0,' "$1/odoo/release.py" 2>/dev/null
}

install_odoo() {
  local tmp="$ODOO_DIR.partial"
  rm -rf "$tmp"; mkdir -p "$tmp"
  if [ -n "${ODOO_SRC:-}" ]; then
    [ -e "$ODOO_SRC" ] || die "ODOO_SRC=$ODOO_SRC does not exist."
    if [ -f "$ODOO_SRC/odoo-bin" ] && [ -d "$ODOO_SRC/odoo" ]; then
      say "copying Odoo from the source tree ODOO_SRC"
      cp -a "$ODOO_SRC/odoo-bin" "$ODOO_SRC/odoo" "$ODOO_SRC/addons" "$tmp/"
      cp -a "$ODOO_SRC/requirements.txt" "$tmp/" 2>/dev/null || true
    elif git --git-dir="$ODOO_SRC" rev-parse --verify -q HEAD >/dev/null 2>&1 \
        || git -C "$ODOO_SRC" rev-parse --verify -q HEAD >/dev/null 2>&1; then
      local gitdir="$ODOO_SRC"
      git --git-dir="$gitdir" rev-parse --verify -q HEAD >/dev/null 2>&1 \
        || gitdir=$(git -C "$ODOO_SRC" rev-parse --absolute-git-dir)
      git --git-dir="$gitdir" cat-file -e HEAD:odoo-bin 2>/dev/null \
        || die "ODOO_SRC is a git repository but has no odoo-bin at its root: not an Odoo source."
      say "extracting Odoo from the git repository ODOO_SRC ($(git --git-dir="$gitdir" rev-parse --short HEAD))"
      git --git-dir="$gitdir" archive --format=tar HEAD odoo-bin odoo addons requirements.txt \
        | tar -x -C "$tmp"
    else
      die "ODOO_SRC=$ODOO_SRC is neither an Odoo source tree (with odoo-bin) nor a git directory of one."
    fi
  else
    say "ODOO_SRC is not set: cloning Odoo 18.0 from $ODOO_GIT_URL"
    rm -rf "$tmp"
    if ! timeout 30 git ls-remote -q "$ODOO_GIT_URL" 18.0 >/dev/null 2>&1 \
        || ! timeout 1800 git clone -q --depth 1 --branch 18.0 "$ODOO_GIT_URL" "$tmp" 2>/dev/null; then
      rm -rf "$tmp"
      die "Odoo 18.0 is not available and could not be cloned (no network?).
Set ODOO_SRC to an Odoo 18.0 source tree or a git directory of one, for example:
    ODOO_SRC=/path/to/odoo make $*"
    fi
  fi
  odoo_is_18 "$tmp" || { rm -rf "$tmp"; die "ODOO_SRC is not Odoo 18.0 (odoo/release.py says otherwise)."; }
  date +%s%N > "$tmp/.pulse-stamp"
  rm -rf "$ODOO_DIR"; mv "$tmp" "$ODOO_DIR"
}

if ! odoo_is_18 "$ODOO_DIR"; then
  install_odoo "$@"
fi

# --- 2. System packages -------------------------------------------------------------------
missing=()
chromium_bin() {
  local b
  for b in chromium chromium-browser google-chrome google-chrome-stable; do
    command -v "$b" >/dev/null 2>&1 && { command -v "$b"; return; }
  done
  return 1
}
chromium_bin >/dev/null || missing+=(chromium)
# PDF reports (the follow-up report, invoices attached to reminders) are rendered by wkhtmltopdf
command -v wkhtmltopdf >/dev/null 2>&1 || missing+=(wkhtmltopdf)
# Chinese on screen and in PDFs (the Chinese translation) needs a CJK font
if command -v fc-list >/dev/null 2>&1 && [ -z "$(fc-list :lang=zh 2>/dev/null | head -1)" ]; then
  missing+=(fonts-wqy-microhei)
fi
pg_bin_dir >/dev/null || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v pg_config >/dev/null 2>&1 || missing+=(libpq-dev)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing system packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || die "apt-get could not install: ${missing[*]}"
  else
    die "missing system packages. Install them and run again:
    sudo apt-get install ${missing[*]}"
  fi
fi

# --- 3. Virtualenv ------------------------------------------------------------------------
pick_python() {
  local p
  for p in ${PULSE_PYTHON:-} python3.11 python3.12 python3.10 python3; do
    command -v "$p" >/dev/null 2>&1 || continue
    "$p" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))' 2>/dev/null \
      && { echo "$p"; return; }
  done
  return 1
}
req_stamp=$(cat "$REPO_DIR/requirements.txt" "$REPO_DIR/requirements-dev.txt" | cksum | cut -d' ' -f1)
if [ "$(cat "$VENV_DIR/.pulse-stamp" 2>/dev/null)" != "$req_stamp" ]; then
  py=$(pick_python) || die "Odoo 18.0 needs Python 3.10, 3.11 or 3.12; none was found (set PULSE_PYTHON)."
  [ -x "$PYTHON_BIN" ] || { say "creating the virtualenv with $py"; "$py" -m venv "$VENV_DIR"; }
  say "installing Python packages (requirements.txt, requirements-dev.txt)"
  "$PYTHON_BIN" -m pip install -q --upgrade 'pip<25' 'setuptools<70' wheel >/dev/null 2>&1
  # An old cbor2 sdist needs setuptools<70 at build time: build without isolation.
  PIP_CONSTRAINT= "$PYTHON_BIN" -m pip install -q --no-build-isolation \
      -r "$REPO_DIR/requirements.txt" -r "$REPO_DIR/requirements-dev.txt" 2>&1 \
      | { grep -v 'is ignored: it is neither a file nor a directory' || true; } >&2 \
    || die "pip could not install the requirements (see above)."
  echo "$req_stamp" > "$VENV_DIR/.pulse-stamp"
fi

# --- 4. The addon link -------------------------------------------------------------------
mkdir -p "$ADDON_LINK_DIR"
ln -sfn "$REPO_DIR" "$ADDON_LINK_DIR/customer_pulse"

# --- 5. PostgreSQL ------------------------------------------------------------------------
as_pg() {
  if [ -n "$PG_RUN_AS" ]; then
    # shellcheck disable=SC2024
    su -s /bin/bash "$PG_RUN_AS" -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

pg_ready() { pg_psql -d postgres -c 'SELECT 1' >/dev/null 2>&1; }

if [ "$PULSE_OWN_PG" = 1 ]; then
  bindir=$(pg_bin_dir)
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    say "creating a private PostgreSQL cluster in $PG_DATA_ROOT"
    mkdir -p "$PG_DATA_ROOT"
    [ -n "$PG_RUN_AS" ] && chown "$PG_RUN_AS" "$PG_DATA_ROOT"
    as_pg mkdir -p "$PG_DATA" "$PG_SOCKET_DIR"
    as_pg "$bindir/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null \
      || as_pg "$bindir/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --locale=C >/dev/null \
      || die "initdb failed in $PG_DATA"
    cat <<CONF | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
# Customer Pulse private cluster: unix socket only, sized for a 2-core development machine.
listen_addresses = ''
unix_socket_directories = '$PG_SOCKET_DIR'
port = $PG_DB_PORT
shared_buffers = 1GB
work_mem = 64MB
maintenance_work_mem = 512MB
max_wal_size = 4GB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  fi
  if ! pg_ready; then
    # A stale pid file (a crashed or killed server) would stop pg_ctl: remove it when its
    # process is gone.
    if [ -f "$PG_DATA/postmaster.pid" ]; then
      pid=$(head -1 "$PG_DATA/postmaster.pid")
      if ! kill -0 "$pid" 2>/dev/null || ! grep -q postgres "/proc/$pid/comm" 2>/dev/null; then
        say "removing a stale PostgreSQL pid file"
        as_pg rm -f "$PG_DATA/postmaster.pid"
      fi
    fi
    as_pg "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_DATA_ROOT/server.log" -w -t 60 start >/dev/null \
      || die "PostgreSQL did not start; its log is $PG_DATA_ROOT/server.log"
    as_pg "$bindir/psql" -X -q -h "$PG_SOCKET_DIR" -p "$PG_DB_PORT" -U postgres -d postgres -c \
      "DO \$\$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'odoo') THEN
         CREATE ROLE odoo LOGIN SUPERUSER; END IF; END\$\$" >/dev/null
  fi
  pg_ready || die "cannot connect to the private PostgreSQL in $PG_SOCKET_DIR"
else
  pg_ready || die "cannot connect to PostgreSQL at ${PG_DB_HOST:-localhost}:$PG_DB_PORT as $PG_DB_USER (PGHOST/PGPORT/PGUSER)."
fi
