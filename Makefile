# The README's commands. `make run` sets up and runs the system; `make test` sets up and runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint unit integration e2e clean

$(BIN)/billing: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# axe-core, the accessibility checker the console's browser tests inject into its pages.
AXE := tests/e2e/a11y/node_modules/axe-core/axe.min.js
$(AXE): tests/e2e/a11y/package-lock.json
	npm ci --prefix tests/e2e/a11y --no-audit --no-fund --silent
	touch $@

setup: $(BIN)/billing

run: setup
	$(BIN)/billing up

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint $(AXE)
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

e2e: setup $(AXE)
	$(BIN)/pytest tests/e2e

clean:
	rm -rf $(VENV) .billing .pytest_cache .mypy_cache .ruff_cache tests/e2e/a11y/node_modules
