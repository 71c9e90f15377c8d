# The two commands: `make run` (everything, embedded) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := src/orchestratia/hub/web/static/vendor/htmx.min.js

.PHONY: run test install assets test-deps lint typecheck pytest clean

# `make run PORT=9000 HOST=0.0.0.0`; unset, `up` takes ORCHESTRATIA_PORT/ORCHESTRATIA_HOST or its defaults.
run: install
	$(BIN)/orchestratia up $(if $(PORT),--port $(PORT)) $(if $(HOST),--host $(HOST))

test: install test-deps lint typecheck pytest

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

pytest:
	$(BIN)/pytest tests


clean:
	rm -rf $(VENV) node_modules src/orchestratia/hub/web/static/vendor
