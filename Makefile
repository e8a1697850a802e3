# codex-relay developer tasks. `make demo` and `make test` are the README's Quick start.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-js bench check lint typecheck imports docs clean

$(BIN)/codex-relay: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Every Codex release the pipeline tests run against: the pinned one in
# .codex-cli/, the others beside it (.codex-cli-<version>/).
.codex-cli/.installed: $(BIN)/codex-relay bootstrap/codex_binary.py
	$(BIN)/codex-relay install-codex --supported
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## setup: virtualenv, Python dependencies, the pinned Codex CLI and the panel's lint tools (npm)
setup: $(BIN)/codex-relay .codex-cli/.installed node_modules/.installed

## demo: the whole pipeline on embedded defaults (Redis, worker, scripted model, app)
demo: setup
	$(BIN)/codex-relay demo

## test: the full test suite (real Redis, RQ worker, Codex CLI, Chromium)
test: setup
	$(BIN)/pytest

## bench: the benchmark suite (prints ratios against in-run baselines)
bench: setup
	$(BIN)/python -m benchmarks

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	npx --no-install eslint .

## imports: the one-way layers (import-linter contracts in pyproject.toml)
imports: setup
	$(BIN)/lint-imports

## docs: regenerate the README's configuration table from relay/settings.py
docs: setup
	$(BIN)/codex-relay settings --readme README.md

typecheck: setup
	$(BIN)/mypy

## check: lint, import layers, types and tests
check: lint imports typecheck test

## test-js: only the panel's node unit tests (make test runs them too, through pytest)
test-js: node_modules/.installed
	node --test tests/js/

clean:
	rm -rf $(VENV) .codex-cli .codex-cli-* node_modules .pytest_cache .mypy_cache .ruff_cache dist build
