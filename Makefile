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
SYSTEM_PACKAGES := r-base-core r-cran-nlme postgresql chromium fonts-dejavu-core

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

# The most complete end-to-end run there is so far, for both seed trials: validate and
# summarise the protocol, export it to ClinicalTrials.gov and re-import it, screen a synthetic
# population, generate and assess the randomization, create the study store and verify its
# audit trail, and estimate power. Everything is written to out/.
run: install
	@rm -rf $(OUT) && mkdir -p $(OUT)
	$(TRIALDESK) protocol list
	$(TRIALDESK) protocol validate $(SEEDS)
	@for id in $(SEEDS); do \
	  echo "== $$id"; \
	  $(TRIALDESK) protocol show $$id || exit 1; \
	  $(TRIALDESK) protocol export $$id --format ctgov --out $(OUT)/$$id.ctgov.json || exit 1; \
	  $(TRIALDESK) protocol import $(OUT)/$$id.ctgov.json --out $(OUT)/$$id.reimported.yaml || exit 1; \
	  $(TRIALDESK) synth patients $$id --n 20000 --seed 1 --out $(OUT)/$$id.cohort.parquet || exit 1; \
	  $(TRIALDESK) eligibility screen $$id $(OUT)/$$id.cohort.parquet --out $(OUT)/$$id.screen.parquet \
	    --plot $(OUT)/$$id.funnel.png || exit 1; \
	  $(TRIALDESK) randomization generate $$id --seed 1 --out $(OUT)/$$id.allocation.csv \
	    --kits-out $(OUT)/$$id.kits.csv || exit 1; \
	  $(TRIALDESK) randomization assess $$id --simulations 5000 --seed 1 || exit 1; \
	  TRIALDESK_HOME=$(OUT)/store $(TRIALDESK) study create $$id || exit 1; \
	done
	TRIALDESK_HOME=$(OUT)/store $(TRIALDESK) audit verify
	$(TRIALDESK) power NCT04208646 --effect 8 --sd 16 --dropout 0.1 --trials 5000 --seed 1
	@echo "wrote $(OUT)/: registry records, screening results and funnels, allocation and kit lists, the study store"

test: install-dev system-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) .trialdesk .pytest_cache $(OUT)
