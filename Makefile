# Two commands for a new user: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv

.PHONY: run test lint install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip uv

install: $(BIN)/python
	$(UV) pip install --python $(BIN)/python --quiet -e .

install-dev: $(BIN)/python
	$(UV) pip install --python $(BIN)/python --quiet -e ".[dev]"

run: install
	$(BIN)/python -m trialdesk.demo

test: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) .trialdesk .pytest_cache
