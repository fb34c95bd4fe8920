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

# The web app's messages: each area's .po files (and the shared pages' in $(PAGES)/locale,
# the patients' messages' in store/ and the records' labels in records/)
# brought up to date with the source, for translators; `compile-messages` makes the .mo files
# Django reads (not checked in).
messages: install-dev
	@for area in $(PAGE_AREAS); do \
	  (cd $(PAGES)/$$area && $(DJANGO_ADMIN) makemessages -l da -l zh_Hans --no-obsolete) || exit 1; \
	done
	cd $(PAGES) && $(DJANGO_ADMIN) makemessages -l da -l zh_Hans --no-obsolete \
	  $(foreach area,$(PAGE_AREAS),--ignore '$(area)/*')
	cd src/trialdesk/store && $(DJANGO_ADMIN) makemessages -l da -l zh_Hans --no-obsolete
	cd src/trialdesk/records && $(DJANGO_ADMIN) makemessages -l da -l zh_Hans --no-obsolete

compile-messages:
	cd $(PAGES) && $(DJANGO_ADMIN) compilemessages --ignore '.venv'

system-deps:
	$(call debian_packages,$(TEST_PACKAGES))

# Both seed trials end to end, everything written to out/: validate, summarise, export to
# ClinicalTrials.gov and re-import each protocol; screen a synthetic population; generate and
# assess the randomization; estimate power. Then the study store (SQLite in out/store), made
# once: NCT04208646 as a virtual trial to database lock, with three sites that misbehave
# (docs/monitoring.md), its reports (blinded and unblinded) and its central monitoring report,
# NCT05933434 with 40 of its 80 patients and left open for data entry, the audit
# trail verified. An existing out/store is served as it is (delete it to build it again).
# Last, the demo users' new passwords and API tokens are printed and the web app and the REST
# API are served on http://127.0.0.1:$(PORT)/.
PORT ?= 8000
run: install run-deps compile-messages
	@mkdir -p $(OUT)
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
	@if [ -e $(STORE) ]; then \
	  echo "== $(STORE) exists: serving it as it is (delete $(STORE) to build the demo store again)"; \
	else \
	  export TRIALDESK_HOME=$(STORE); \
	  $(TRIALDESK) demo run NCT04208646 --seed 1 --misbehaving-sites || exit 1; \
	  $(TRIALDESK) monitor report NCT04208646 --out $(OUT)/reports/NCT04208646-monitoring || exit 1; \
	  $(TRIALDESK) analyze report NCT04208646 --user statistician --out $(OUT)/reports/NCT04208646 || exit 1; \
	  $(TRIALDESK) analyze report NCT04208646 --user data_manager \
	    --out $(OUT)/reports/NCT04208646-blinded || exit 1; \
	  $(TRIALDESK) demo run NCT05933434 --seed 1 --patients 40 --no-lock || exit 1; \
	  $(TRIALDESK) analyze report NCT05933434 --user data_manager \
	    --out $(OUT)/reports/NCT05933434-blinded || exit 1; \
	fi
	TRIALDESK_HOME=$(STORE) $(TRIALDESK) audit verify
	@echo "wrote $(OUT)/: registry records, screening results and funnels, allocation and kit lists,"
	@echo "the study store ($(STORE)) and the analysis reports ($(OUT)/reports/*/report.html and .pdf)"
	TRIALDESK_HOME=$(STORE) $(TRIALDESK) demo logins
	@echo "web app: http://127.0.0.1:$(PORT)/ (sign in with a user and password above;"
	@echo "NCT05933434 is open for data entry: coordinator-AUH, investigator-AUH, assessor, pharmacist)"
	@echo "REST API: http://127.0.0.1:$(PORT)/api/v1/ (Authorization: Bearer TOKEN; docs at /api/v1/docs)"
	TRIALDESK_HOME=$(STORE) $(TRIALDESK) serve --host 127.0.0.1 --port $(PORT) --workers 3

# Two processes; `worksteal` lets the one that runs out of tests take the other's last ones,
# so the suite does not end with one process alone on a queue of long tests.
test: install-dev system-deps compile-messages
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest -q -n 2 --dist worksteal --durations=25

lint: install-dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) .trialdesk .pytest_cache $(OUT)
