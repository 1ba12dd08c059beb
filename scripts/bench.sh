#!/usr/bin/env bash
# make bench: performance figures at scale. Each benchmark is a Python file bench/bench_*.py
# run in an Odoo shell on a database of generated data; results go to bench/results/latest.json.
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
"$(dirname "$0")/setup.sh" bench
shopt -s nullglob
benches=("$REPO_DIR"/bench/bench_*.py)
if [ ${#benches[@]} -eq 0 ]; then
  say "no benchmarks yet"
  exit 0
fi
for b in "${benches[@]}"; do
  say "running $(basename "$b")"
  "$PYTHON_BIN" "$b"
done
