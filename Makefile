# MATF: `make run` sets up and runs a campaign against the demo; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
QUEUE ?= context,writer,executor,reporter,optimizer,logger
CONCURRENCY ?= 2
RUN_TYPES ?= functional,accessibility,performance,visual,api
comma := ,
WORKER_NAME := $(firstword $(subst $(comma), ,$(QUEUE)))

.DEFAULT_GOAL := help
.PHONY: help setup run test test-fast bench bench-pwt bench-breakdown bench-ai bench-api bench-types bench-explore bench-reports bench-optimizer chaos lint demo api worker beat flower schema prod-config clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-9s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "MATF needs Python 3.11 or newer: set PYTHON=python3.11 (or newer)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

setup: $(VENV)/.installed ## Create .venv, install MATF, make sure a Chromium is available
	@VENV_PYTHON=$(PY) scripts/ensure-system.sh

run: setup ## Run a full campaign against the bundled demo site (embedded mode)
	@$(VENV)/bin/matf demo --run --out reports/demo --types $(RUN_TYPES); code=$$?; \
	  if [ $$code -le 1 ]; then echo "open reports/demo/report.html to see what the demo's seeded bugs look like"; else exit $$code; fi

test: $(VENV)/.installed ## Run the whole test suite (starts its own Redis)
	@VENV_PYTHON=$(PY) scripts/ensure-system.sh --for-tests
	$(PY) -m pytest

test-fast: $(VENV)/.installed ## The inner loop: the domain's and the demo's tests (no Celery workers, no API server)
	@VENV_PYTHON=$(PY) scripts/ensure-system.sh --for-tests
	$(PY) -m pytest tests/unit tests/demo

bench: setup ## Every benchmark: distributed throughput, bench-pwt, bench-breakdown, bench-types, bench-api, bench-ai, bench-explore, bench-reports, bench-optimizer
	@VENV_PYTHON=$(PY) scripts/ensure-system.sh --for-tests
	$(PY) bench/throughput.py
	@$(MAKE) --no-print-directory bench-pwt
	@$(MAKE) --no-print-directory bench-breakdown
	@$(MAKE) --no-print-directory bench-types
	@$(MAKE) --no-print-directory bench-api
	@$(MAKE) --no-print-directory bench-ai
	@$(MAKE) --no-print-directory bench-explore
	@$(MAKE) --no-print-directory bench-reports
	@$(MAKE) --no-print-directory bench-optimizer

bench-reports: setup ## 10,000 results: report.html/json/junit (and PDF) time and memory, dashboard run page, API page
	$(PY) bench/reports_scale.py --pdf

bench-optimizer: $(VENV)/.installed ## The optimizer on 300 runs x 200 tests: flaky found, cluster, time to first failure, seconds
	$(PY) bench/optimizer.py

bench-pwt: setup ## The same suite: matf run --suite, Playwright Test 1.65 (npm), a plain loop; worker curve
	$(PY) bench/vs_playwright.py
	$(PY) bench/workers_curve.py

bench-breakdown: setup ## Where matf run --suite spends its time: a one-test timeline, each step's cost
	$(PY) bench/breakdown.py

bench-ai: setup ## The AI writer on the demo (scripted local model): kept per page, calls, tokens, cache
	$(PY) bench/ai_writer.py

bench-explore: setup ## Interaction exploration off and on, buggy and healthy demo: pages, tests, bugs found
	$(PY) bench/explore.py

bench-types: setup ## Visual diff of two 1280x2000 shots; cost of performance metrics per page
	$(PY) bench/visual_diff.py
	$(PY) bench/perf_overhead.py

bench-api: $(VENV)/.installed ## API latency (p50/p95/p99, errors) at 100 requests/s under gunicorn
	@VENV_PYTHON=$(PY) scripts/ensure-system.sh --for-tests
	$(PY) -m bench.api_load

chaos: $(VENV)/.installed ## Issue 12's faults on loopback, ~12 min: make chaos ROWS=redis,child TRIALS=1
	@VENV_PYTHON=$(PY) scripts/ensure-system.sh --for-tests
	$(PY) -m bench.chaos $(if $(ROWS),--rows "$(ROWS)",) $(if $(TRIALS),--trials $(TRIALS),)

lint: $(VENV)/.installed ## ruff, mypy, the import contracts and hadolint on the Dockerfile
	$(VENV)/bin/ruff check cli demo matf tasks web tests bench migrations
	$(VENV)/bin/ruff format --check cli demo matf tasks web tests bench migrations
	$(VENV)/bin/mypy cli demo matf tasks web
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint Dockerfile

demo: setup ## Serve the demo site on :8000 (HEALTHY=1 without its bugs)
	$(VENV)/bin/matf demo --port 8000 $(if $(HEALTHY),--healthy,)

api: setup ## Serve the API, the dashboard and /ws on PORT (3000): make api HOST=0.0.0.0
	$(VENV)/bin/matf serve --host $(or $(HOST),127.0.0.1)

worker: setup ## Start a worker pool (needs REDIS_URL): make worker QUEUE=executor CONCURRENCY=4
	$(VENV)/bin/celery -A tasks worker -Q $(QUEUE) -n $(WORKER_NAME)@%h \
	  --concurrency $(CONCURRENCY) --loglevel INFO

beat: setup ## Celery beat (needs REDIS_URL): the run supervisor every 5 s, the optimizer, backups, retention
	@mkdir -p data
	$(VENV)/bin/celery -A tasks beat --schedule data/celerybeat-schedule --loglevel INFO

flower: setup ## Flower on :5555 for the Celery workers (needs REDIS_URL)
	$(VENV)/bin/celery -A tasks flower --port=5555

schema: $(VENV)/.installed ## Regenerate schemas/*.json from the models
	$(VENV)/bin/matf schema --out schemas

# .env.example stands in for a missing .env (a fresh clone); with a real .env this prints its secrets.
PROD_ENV := $(if $(wildcard .env),.env,.env.example)
prod-config: ## Print docker-compose.prod.yml resolved (Debian's docker-compose; .env, else .env.example)
	@command -v docker-compose >/dev/null || { echo "docker-compose is not installed: apt-get install docker-compose" >&2; exit 2; }
	MATF_ENV_FILE=$(PROD_ENV) docker-compose --env-file $(PROD_ENV) -f docker-compose.prod.yml config

clean: ## Remove reports, data and caches (keeps .venv)
	rm -rf reports matf-report data .pytest_cache .mypy_cache .ruff_cache
