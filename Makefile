# Shiftline: `make run` serves the demo; `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/shiftline
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test lint typecheck venv deps deps-dev bench clean

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt requirements-run.txt constraints.txt $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-run.txt -c constraints.txt
	@touch $@

$(VENV)/.deps-dev: requirements.txt requirements-run.txt requirements-dev.txt constraints.txt $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	@touch $@ $(VENV)/.deps

deps: $(VENV)/.deps
deps-dev: $(VENV)/.deps-dev

run: deps
	@PORT=$(PORT) $(PY) scripts/run.py

lint: deps-dev
	$(VENV)/bin/ruff check .

# mypy's Django plugin loads the settings, which need DATABASE_URL (no connection is made).
typecheck: deps-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(VENV)/bin/mypy

test: deps-dev
	@bash scripts/ensure_services.sh
	@bash scripts/ensure_chromium.sh
	$(VENV)/bin/ruff check .
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(VENV)/bin/mypy
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  $(VENV)/bin/pytest $(PYTEST_ARGS)

bench: deps-dev
	@bash scripts/ensure_services.sh
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  $(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var staticfiles
