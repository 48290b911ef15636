# Two entry points, both self-contained on a fresh clone:
#   make demo   create .venv from requirements.lock and run `safeheal demo`
#   make test   create .venv from requirements.lock, start a throwaway PostgreSQL on loopback,
#               install headless Chromium if missing, and run ruff, mypy and pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint lock bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -qq --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	MLFLOW_DISABLE_TELEMETRY=true $(BIN)/safeheal demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The store's conformance suite runs against a real PostgreSQL on loopback, started here
# (installed from Debian's packages when missing) and stopped even when pytest fails. The
# dashboard's browser test drives headless Chromium (Debian's chromium and chromium-driver,
# installed when missing).
test: lint
	set -e; pg_env=$$(scripts/postgres.sh start); eval "$$pg_env"; \
	trap 'scripts/postgres.sh stop' EXIT; \
	browser_env=$$(scripts/chromium.sh); eval "$$browser_env"; \
	MLFLOW_DISABLE_TELEMETRY=true $(BIN)/pytest -n 2

bench: $(STAMP)
	$(BIN)/python benchmarks/drift.py

# Re-resolve every dependency (needs the package index) and rewrite requirements.lock.
lock:
	rm -rf /tmp/safeheal-lock && $(PYTHON) -m venv /tmp/safeheal-lock
	/tmp/safeheal-lock/bin/python -m pip install --quiet -e '.[dev]'
	/tmp/safeheal-lock/bin/python -m pip freeze --exclude-editable | grep -v '^safeheal' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
