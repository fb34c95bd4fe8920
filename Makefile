# Two commands for a new user: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
TRIALDESK := $(BIN)/trialdesk
OUT := out
SEEDS := NCT04208646 NCT05933434
STORE := $(OUT)/store
# Debian packages: Chromium prints the analysis report to PDF (make run and the tests) and
# shows the web app to the browser tests, with the Noto CJK fonts for its Chinese pages;
# gettext compiles the web app's messages (.po to .mo). R and
# nlme for the independent MMRM cross-check and PostgreSQL for the multi-site store (tests).
RUN_PACKAGES := chromium fonts-dejavu-core fonts-noto-cjk gettext
TEST_PACKAGES := $(RUN_PACKAGES) r-base-core r-cran-nlme postgresql
# The demo users whose API tokens `make run` prints.
DEMO_USERS := coordinator-01 investigator-01 assessor pharmacist monitor statistician data_manager

PAGES := src/trialdesk/web/pages
PAGE_AREAS := $(patsubst $(PAGES)/%/locale,%,$(wildcard $(PAGES)/*/locale))
DJANGO_ADMIN := DJANGO_SETTINGS_MODULE=trialdesk.web.settings TRIALDESK_SECRET_KEY=messages \
  $(abspath $(BIN))/django-admin

.PHONY: run test lint install install-dev run-deps system-deps clean messages compile-messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip uv

install: $(BIN)/python
	$(UV) pip install --python $(BIN)/python --quiet -e .

install-dev: $(BIN)/python
	$(UV) pip install --python $(BIN)/python --quiet -e ".[dev]"

# Installs missing Debian packages when run as root (CI); otherwise says what is missing.
define debian_packages
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "note: missing Debian packages:$$missing (install them with apt-get)"; fi
endef

run-deps:
	$(call debian_packages,$(RUN_PACKAGES))

# The web app's messages: each area's .po files (and the shared pages' in $(PAGES)/locale)
# brought up to date with the source, for translators; `compile-messages` makes the .mo files
# Django reads (not checked in).
messages: install-dev
	@for area in $(PAGE_AREAS); do \
	  (cd $(PAGES)/$$area && $(DJANGO_ADMIN) makemessages -l da -l zh_Hans --no-obsolete) || exit 1; \
	done
	cd $(PAGES) && $(DJANGO_ADMIN) makemessages -l da -l zh_Hans --no-obsolete \
	  $(foreach area,$(PAGE_AREAS),--ignore '$(area)/*')

compile-messages:
	cd $(PAGES) && $(DJANGO_ADMIN) compilemessages --ignore '.venv'

system-deps:
	$(call debian_packages,$(TEST_PACKAGES))

# Both seed trials end to end, everything written to out/: validate, summarise, export to
# ClinicalTrials.gov and re-import each protocol; screen a synthetic population; generate and
# assess the randomization; estimate power. Then the study store (SQLite in out/store): both
# studies with demo sites and users run as virtual trials to database lock, the audit trail
# verified, the analysis reports written (blinded and unblinded), and the REST API served on
# http://127.0.0.1:8000 with the demo users' tokens printed.
run: install run-deps compile-messages
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
	done
	$(TRIALDESK) power NCT04208646 --effect 8 --sd 16 --dropout 0.1 --trials 5000 --seed 1
	@for id in $(SEEDS); do \
	  TRIALDESK_HOME=$(STORE) $(TRIALDESK) demo run $$id --seed 1 || exit 1; \
	  TRIALDESK_HOME=$(STORE) $(TRIALDESK) analyze report $$id --user statistician \
	    --out $(OUT)/reports/$$id || exit 1; \
	  TRIALDESK_HOME=$(STORE) $(TRIALDESK) analyze report $$id --user data_manager \
	    --out $(OUT)/reports/$$id-blinded || exit 1; \
	done
	TRIALDESK_HOME=$(STORE) $(TRIALDESK) audit verify
	@echo "wrote $(OUT)/: registry records, screening results and funnels, allocation and kit lists,"
	@echo "the study store ($(STORE)) and the analysis reports ($(OUT)/reports/*/report.html and .pdf)"
	@echo "demo API tokens (Authorization: Bearer TOKEN); the API docs are at http://127.0.0.1:8000/api/v1/docs"
	@for user in $(DEMO_USERS); do \
	  TRIALDESK_HOME=$(STORE) $(TRIALDESK) token create $$user --label "make run" || exit 1; \
	done
	TRIALDESK_HOME=$(STORE) $(TRIALDESK) serve --host 127.0.0.1 --port 8000 --workers 3

test: install-dev system-deps compile-messages
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest -q -n 2

lint: install-dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) .trialdesk .pytest_cache $(OUT)
