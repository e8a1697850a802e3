# codex-relay developer tasks. `make demo` and `make test` are the README's Quick start.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-fast bench check lint typecheck clean

$(BIN)/codex-relay: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

.codex-cli/.installed: $(BIN)/codex-relay bootstrap/codex_binary.py
	$(BIN)/codex-relay install-codex
	touch $@

## setup: virtualenv, Python dependencies and the pinned Codex CLI (npm)
setup: $(BIN)/codex-relay .codex-cli/.installed

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

typecheck: setup
	$(BIN)/mypy

## check: lint, types and tests
check: lint typecheck test

clean:
	rm -rf $(VENV) .codex-cli .pytest_cache .mypy_cache .ruff_cache dist build
