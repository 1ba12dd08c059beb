# Customer Pulse — the commands a user needs. Everything else lives in scripts/.
# Variables: ODOO_SRC (first run without network), DB (pulse_demo), PORT (8069),
# SCALE (demo history size: tiny, small, demo, large or a number of customers),
# TEST_TAGS (narrow make test), PGHOST/PGPORT/PGUSER (use your own PostgreSQL).
SHELL := /bin/bash
export ODOO_SRC DB PORT SCALE TEST_TAGS

.PHONY: run test shell lint bench setup
run:  ## set up, create the demo database if needed, serve on http://localhost:8069
	@scripts/run.sh
test:  ## the whole test suite on a fresh database, browser tours included
	@scripts/test.sh
shell:  ## Odoo shell on the demo database (reads Python from standard input)
	@scripts/shell.sh
lint:  ## ruff, ruff-format and pylint-odoo through pre-commit
	@scripts/lint.sh
bench:  ## performance figures at scale (bench/results/latest.json)
	@scripts/bench.sh
setup:  ## only the idempotent setup
	@scripts/setup.sh
