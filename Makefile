# The two commands: `make run` (demo on an embedded PostgreSQL) and `make test` (everything CI checks).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run serve test lint check bench
.DEFAULT_GOAL := help

help:
	@echo "make run    set up .venv and run the service with demo data on an embedded PostgreSQL"
	@echo "make test   set up .venv, run the linters and the whole test suite"
	@echo "make bench  run the benchmarks in bench/ (figures and ratios, see bench/README.md)"

# Running needs the service and the contract only; testing adds the client library and the dev tools.
$(BIN)/.installed-run: pyproject.toml contract/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./contract -e .
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed-run otel/pyproject.toml
	$(BIN)/python -m pip install --quiet -e ./contract -e './otel[all]' -e '.[dev]'
	touch $@

setup: $(BIN)/.installed-dev

run: $(BIN)/.installed-run
	$(BIN)/usage-ledger demo

serve: $(BIN)/.installed-run
	$(BIN)/usage-ledger serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two passes, each with its own summary; fails if either failed. 1: everything on plain PostgreSQL. 2: every
# test that uses a database, on TimescaleDB (a throwaway cluster when the extension is installed; without
# it the pass says what it skipped).
test: lint
	@status=0; \
	echo "== make test 1/2: plain PostgreSQL, the whole suite =="; \
	$(BIN)/python -m pytest -p no:cacheprovider -rs --storage=postgres || status=1; \
	echo "== make test 2/2: TimescaleDB, the tests that use a database =="; \
	$(BIN)/python -m pytest -p no:cacheprovider -rs --storage=timescaledb || status=1; \
	exit $$status

bench: setup
	$(BIN)/python -m bench.run_all
