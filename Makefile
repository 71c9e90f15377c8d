# The two commands: `make run` (everything, embedded) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := src/orchestratia/hub/web/static/vendor/htmx.min.js

.PHONY: run test install assets test-deps lint typecheck pytest pytest-redis screenshots clean

# `make run PORT=9000 HOST=0.0.0.0`. Taken from the command line only: a PORT or HOST the shell
# exports for something else must not move the hub. Otherwise `up` reads ORCHESTRATIA_PORT and
# ORCHESTRATIA_HOST, then its defaults (127.0.0.1:8765).
from_cli = $(if $(filter command line,$(origin $(1))),$(2) $($(1)))

run: install
	$(BIN)/orchestratia up $(call from_cli,PORT,--port) $(call from_cli,HOST,--host)

test: install test-deps lint typecheck pytest pytest-redis

install: $(STAMP) $(VENDOR)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(VENDOR): package.json package-lock.json scripts/build-assets.sh
	scripts/build-assets.sh

assets:
	scripts/build-assets.sh

test-deps:
	scripts/test-deps.sh

lint:
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/ruff check src tests $(wildcard bench)

typecheck:
	$(BIN)/mypy

# Test processes in parallel (`make test PYTEST_WORKERS=4`): most of the suite's time is spent
# waiting on hubs, daemons, tmux and the browser, so two workers halve it even on two cores.
PYTEST_WORKERS ?= 2

pytest:
	$(BIN)/pytest tests -n $(PYTEST_WORKERS) --durations=15

# The same tests again with every hub a replica on Redis (ORCHESTRATIA_REDIS_URL set): the live
# paths a bus between replicas carries (terminals, grid, dashboards, revocations, deliveries,
# inbox and approvals, daemon links), a representative subset to keep CI's time in bounds.
REDIS_MODE_TESTS := $(addprefix tests/integration/test_,viewer_channel.py sessions_grid.py \
	dashboard_ws.py socket_revocation.py inbox.py tool_approvals.py agent_deliveries.py \
	isolation.py) tests/e2e/test_sessions_browser.py

pytest-redis:
	ORCHESTRATIA_TEST_REDIS_URL=redis://127.0.0.1:6379/0 \
		$(BIN)/pytest $(REDIS_MODE_TESTS) -n $(PYTEST_WORKERS)

# Every dashboard page of a freshly seeded hub, desktop and phone size, into screenshots/
# (the list of pages: PAGES in tests/e2e/screenshots.py).
screenshots: install
	$(BIN)/python -m tests.e2e.screenshots --out screenshots

clean:
	rm -rf $(VENV) node_modules src/orchestratia/hub/web/static/vendor
