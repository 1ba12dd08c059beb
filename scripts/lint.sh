#!/usr/bin/env bash
# make lint: pre-commit with local hooks only (ruff, ruff-format, pylint-odoo), tools from the venv.
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
"$(dirname "$0")/setup.sh" lint
cd "$REPO_DIR"
export PATH="$VENV_DIR/bin:$PATH" PRE_COMMIT_HOME="$CACHE_DIR/pre-commit"
exec pre-commit run --all-files --show-diff-on-failure
