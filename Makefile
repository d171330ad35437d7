# Bilevel Autoresearch — the front door.
#   make study   run a real study (the quickstart: CPU, stdlib data, offline agent unless an LLM is set);
#                on the compose stack when one is up, else locally
#   make up      build the images and start the stack (GPU or CPU variant, picked and said)
#   make down    stop the stack, no containers left; `make logs` follows its logs
#   make dashboard  watch the studies under runs/ live in a browser (http://127.0.0.1:8080/)
#   make optuna-dashboard RUN=DIR  the same study in Optuna's dashboard (installs the extra)
#   make test    run the whole test suite (unit, integration, security, end-to-end)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
STUDY ?= studies/quickstart.toml
PYTEST_ARGS ?=
# Test workers (pytest-xdist). CI machines have 2 cores and most tests wait on a training
# child, a container or Redis, so two workers keep both busy; tests that share one service
# resource carry an xdist_group mark and stay on one worker (--dist loadgroup). 0 runs the
# suite in this process (plain pytest), e.g. to debug one test with a debugger.
TEST_WORKERS ?= 2
# The slowest tests are listed at the end of every run, so the next speed-up starts from data.
PYTEST_PARALLEL = -n $(TEST_WORKERS) --dist loadgroup --durations=30

.PHONY: setup test test-fast study lint format images up down logs report dashboard optuna-dashboard bench clean

# Re-installs only when a lock or pyproject changes, so repeated `make test` is quick.
$(STAMP): pyproject.toml requirements/dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

setup: $(STAMP)

# With a Docker engine, the images are brought up to date first (seconds when nothing
# changed), so the sandbox and stack tests run against this checkout's code.
test: setup
	@if docker info >/dev/null 2>&1; then bash images/build.sh; \
	 else echo "make test: no Docker engine answers; the Docker tests will skip (CI fails them)"; fi
	$(BIN)/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS) || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5): nothing was tested"; fi; \
	  exit $$rc; }

test-fast: setup  ## everything but the slow end-to-end group
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not slow" $(PYTEST_ARGS)

# With a stack up (`make up`) the study runs in its orchestrator container and its trials on
# the trainer workers; without one it runs here, as the local quickstart.
study:
	@if bash deploy/stack.sh running 2>/dev/null; then \
	  bash deploy/stack.sh study $(STUDY); \
	else \
	  $(MAKE) --no-print-directory setup && $(BIN)/bilevel study $(STUDY); \
	fi

up: images
	bash deploy/stack.sh up

down:
	bash deploy/stack.sh down

logs:
	bash deploy/stack.sh logs

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

images:
	bash images/build.sh

RUNS_DIR ?= runs
dashboard: setup  ## a live web view of every study under RUNS_DIR on http://127.0.0.1:8080/
	@mkdir -p $(RUNS_DIR)
	$(BIN)/bilevel dashboard $(RUNS_DIR)

RUN ?= runs/quickstart
report: setup  ## report.md + report.html of a study or ablation folder: make report RUN=DIR
	$(BIN)/bilevel report $(RUN)

# The Optuna view of a study: exports RUN's search into RUN/optuna.db (once) and serves it.
# optuna-dashboard is an optional extra, installed here on first use (needs the package index).
optuna-dashboard: setup  ## Optuna's dashboard on a study: make optuna-dashboard RUN=DIR
	@test -x $(BIN)/optuna-dashboard || $(BIN)/pip install --quiet --disable-pip-version-check -e '.[optuna-dashboard]'
	@test -f $(RUN)/optuna.db || $(BIN)/bilevel export $(RUN) --optuna sqlite:///$(RUN)/optuna.db
	$(BIN)/optuna-dashboard sqlite:///$(RUN)/optuna.db

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
