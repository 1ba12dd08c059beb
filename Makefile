# Customer Pulse — the commands a user needs. Everything else lives in scripts/.
# Variables: ODOO_SRC (first run without network), DB (pulse_demo), PORT (8069),
# SCALE (demo history size: tiny, small, demo, large or a number of customers),
# TEST_TAGS (narrow make test), PGHOST/PGPORT/PGUSER (use your own PostgreSQL),
# LANG on the command line (make run LANG=hu_HU, ru_RU or zh_CN: the demo in that language).
SHELL := /bin/bash
export ODOO_SRC DB PORT SCALE TEST_TAGS
# the demo's language, only when given on the command line (the shell's own LANG is a locale)
DEMO_LANG := $(if $(filter command line,$(origin LANG)),$(LANG))

.PHONY: run test shell lint bench setup pot
run:  ## set up, create the demo database if needed, serve on http://localhost:8069
	@DEMO_LANG='$(DEMO_LANG)' $(if $(DEMO_LANG),LANG=C.UTF-8) scripts/run.sh
test:  ## the whole test suite on a fresh database, browser tours included
	@scripts/test.sh
shell:  ## Odoo shell on the demo database (reads Python from standard input)
	@scripts/shell.sh
lint:  ## ruff, ruff-format and pylint-odoo through pre-commit
	@scripts/lint.sh
bench:  ## performance figures at scale (bench/results/latest.json)
	@scripts/bench.sh
pot:  ## export i18n/customer_pulse.pot from the code and merge it into the .po files
	@scripts/pot.sh
setup:  ## only the idempotent setup
	@scripts/setup.sh
