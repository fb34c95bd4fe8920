# Two commands for a new user: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
TRIALDESK := $(BIN)/trialdesk
OUT := out
SEEDS := NCT04208646 NCT05933434
# Debian packages the test suite needs: R and nlme for the independent MMRM cross-check,
# PostgreSQL for the multi-site store tests.
SYSTEM_PACKAGES := r-base-core r-cran-nlme postgresql

.PHONY: run test lint install install-dev system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip uv

install: $(BIN)/python
	$(UV) pip install --python $(BIN)/python --quiet -e .

install-dev: $(BIN)/python
	$(UV) pip install --python $(BIN)/python --quiet -e ".[dev]"

# Installs missing Debian packages when run as root (CI); otherwise says what is missing.
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "note: missing Debian packages:$$missing (tests that need them skip outside CI)"; fi

# The most complete end-to-end run there is so far: validate and summarise both seed trials,
# export them as ClinicalTrials.gov records, and re-import the exports.
run: install
	@mkdir -p $(OUT)
	$(TRIALDESK) protocol list
	$(TRIALDESK) protocol validate $(SEEDS)
	@for id in $(SEEDS); do \
	  $(TRIALDESK) protocol show $$id || exit 1; \
	  $(TRIALDESK) protocol export $$id --format ctgov --out $(OUT)/$$id.ctgov.json || exit 1; \
	  $(TRIALDESK) protocol import $(OUT)/$$id.ctgov.json --out $(OUT)/$$id.reimported.yaml || exit 1; \
	done
	@echo "wrote $(OUT)/: registry exports and their re-imported drafts"

test: install-dev system-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) .trialdesk .pytest_cache $(OUT)
