# marac: `make demo` starts the demo, `make test` runs every check. Both install what they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3
APT_PACKAGES := chromium fonts-liberation libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help install system-packages python-packages assets demo test lint typecheck test-sqlite test-postgres benchmarks clean

help:
	@echo "make demo   install everything, seed synthetic data and serve on http://127.0.0.1:5000"
	@echo "make test   install everything and run ruff, mypy and pytest (SQLite and PostgreSQL side by side, then the browser tests)"

install: system-packages python-packages assets

# Debian packages the browser tests and PDFs need; installed only when missing (needs root).
system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -q -e '.[test]'
	touch $@

python-packages: $(VENV)/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static/dist/app.css: node_modules/.installed assets/app.scss
	npm run --silent build

assets: static/dist/app.css

demo: install
	$(VENV)/bin/marac demo --port 5000

lint: python-packages
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: python-packages
	$(VENV)/bin/mypy marac

test-sqlite: install
	MARAC_TEST_DATABASE_URL= $(VENV)/bin/pytest $(PYTEST_ARGS)

# PostgreSQL: always under CI (started if needed), otherwise when one is reachable.
test-postgres: install
	@if [ -n "$$CI" ] || $(PY) -c "import psycopg,sys; psycopg.connect('$(subst +psycopg,,$(PG_URL))', connect_timeout=2)" 2>/dev/null; then \
	  scripts/ensure-postgres && \
	  MARAC_TEST_DATABASE_URL=$(PG_URL) $(VENV)/bin/pytest -m "not browser" $(PYTEST_ARGS); \
	else echo "PostgreSQL not reachable: skipped the PostgreSQL pass (CI always runs it)"; fi

# Both databases at once (one core each), then the browser tests alone: see scripts/test-passes.
test: install lint typecheck
	PG_URL=$(PG_URL) scripts/test-passes $(PYTEST_ARGS)

# Every benchmark at full size on SQLite and PostgreSQL (~20 min); pick with e.g. BENCH_ARGS="people --persons 100000 --db sqlite".
benchmarks: install
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules static/dist .pytest_cache .mypy_cache .ruff_cache
