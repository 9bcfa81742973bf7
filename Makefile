# subgate developer commands. `make help` lists them.
#
# Only Python 3.11+ is needed up front: when no `uv` can be found, one is installed with pip
# into the project's .venv, and uv then syncs that same .venv from uv.lock (uv is a dev
# dependency, so the sync keeps it). No Docker, database or Redis is required by any target.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --no-print-directory

PYTHON ?= python3
VENV := .venv

# Which uv to use: the one locked into .venv, else one on PATH, else bootstrap into .venv.
UV ?= $(firstword $(wildcard $(VENV)/bin/uv) $(shell command -v uv 2>/dev/null) $(VENV)/bin/uv)
UV_BOOTSTRAP := $(if $(filter $(VENV)/bin/uv,$(UV)),$(VENV)/bin/uv)

# In CI the lock file must already match pyproject.toml: fail instead of silently re-locking.
CI_SYNC_FLAGS := $(if $(filter true 1 yes,$(CI)),--locked)
# Targets run after `sync`, so `uv run` must not sync (or re-lock) a second time.
RUN := $(UV) run --no-sync

PACKAGES := subgate domain gateway integrations workers
PY_DIRS := $(PACKAGES) tests $(wildcard benchmarks)
IMPORT_LINTER_CACHE := $(VENV)/.cache/import-linter

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/bin/uv:
	@echo ">> no uv found: installing it into $(VENV) with pip"
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip --version >/dev/null 2>&1 || $(VENV)/bin/python -m ensurepip --upgrade
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv

.PHONY: sync
sync: | $(UV_BOOTSTRAP) ## Create or update .venv from uv.lock (dev tools included)
	$(UV) sync $(CI_SYNC_FLAGS)

# `dev` installs the runtime dependencies only. `--inexact` keeps what it did not install: the uv
# in .venv that runs this very recipe (a dev dependency) and, after `make test`, the dev tools.
# Every other target goes through `sync`, which brings the dev group back.
.PHONY: dev
dev: | $(UV_BOOTSTRAP) ## Run the service in dev mode (no Docker, database or Redis needed)
	$(UV) sync --no-dev --inexact $(CI_SYNC_FLAGS)
	$(RUN) subgate dev

.PHONY: test
test: lint typecheck imports pytest ## Everything CI checks: lint, types, import contracts, tests

.PHONY: lint
lint: sync ## ruff check and ruff format --check
	$(RUN) ruff check $(PY_DIRS)
	$(RUN) ruff format --check $(PY_DIRS)

.PHONY: typecheck
typecheck: sync ## mypy --strict on the packages, tests and benchmarks
	$(RUN) mypy --strict $(PY_DIRS)

.PHONY: imports
imports: sync ## Import-linter contracts (layers, stdlib-only domain, bounded contexts)
	$(RUN) lint-imports --no-logo --cache-dir $(IMPORT_LINTER_CACHE)

.PHONY: pytest
pytest: sync ## Only the test suite
# `python -m pytest` puts the project root on sys.path, which `from tests.support...` needs.
	$(RUN) python -m pytest

# Every figure, the million-event history included (about ten minutes, 3.7 GB of the temp dir
# while it runs); BENCH_ARGS= leaves the history out (about three minutes).
BENCH_ARGS ?= --history
.PHONY: bench
bench: sync ## Run the benchmarks (options: BENCH_ARGS="--repeat 5 --only e2e")
	$(RUN) python -m benchmarks $(BENCH_ARGS)

# Sampling profiles (py-spy) of each loop under the benchmarks' load: the server and the inbound
# loop under ingest, the delivery loop under delivery, `subgate dev`; one run each, about two
# minutes. Each process's hotspots go to PROFILE_DIR/summary.md, the raw profiles beside it.
# py-spy is no dependency of the project: installed into .venv here when missing (`uv sync`, which
# every target runs first, takes it out again). A profiled run's figures are not comparable.
PROFILE_DIR ?= profiles
.PHONY: profile
profile: sync ## py-spy profiles of each loop under load (options: PROFILE_DIR=profiles)
	test -x $(VENV)/bin/py-spy || command -v py-spy >/dev/null || $(UV) pip install --python $(VENV)/bin/python py-spy
	$(RUN) python -m benchmarks --only ingest --only delivery --only dev --repeat 1 --profile $(PROFILE_DIR) --json $(PROFILE_DIR)/results.json

# The chaos test of `make test` at a larger size: 10,000 events, a dozen worker kills, three
# server restarts (about five minutes). SEED=<n> repeats a run's traffic and schedule.
.PHONY: chaos
chaos: sync ## The chaos test, larger: more events, more kills (options: SEED=<n> from a run's summary)
	SUBGATE_TEST_CHAOS_SIZE=large $(if $(SEED),SUBGATE_TEST_CHAOS_SEED=$(SEED)) $(RUN) python -m pytest tests/chaos -m chaos

# Mutation testing (mutmut, configured in pyproject.toml; not part of CI): the parts of the
# critical modules named below, each mutant run against only the fast tests that reach it.
# MUTANTS picks another part (mutant-name globs, `?` standing for mutmut's class separator),
# e.g. `make mutate MUTANTS='workers.pumps.*'`; MUTATE_CHILDREN caps the parallel test runs.
# gateway.inbound leaves out `InboundWebhooks.operation`, the route's OpenAPI description
# (answers, error codes, tag; the OpenAPI tests check it): the test runs of its mutants stall
# in mutmut's forked workers until the timeout, a quarter of an hour each (outside mutmut the
# same tests take seconds).
MUTATE_CHILDREN ?= 2
MUTATE_SCOPE := \
	'domain.inbound.*' \
	'domain.subscriptions.state_machine.*' \
	'domain.subscriptions.lifecycle.*' \
	'domain.subscriptions.external.subscriptions.*' \
	'domain.shared.pagination.*' \
	'domain.merchants.external.x?MerchantsExternal?authenticate__*' \
	'domain.merchants.external.x?MerchantsExternal?connection_for_webhook__*' \
	'domain.merchants.external.x?MerchantsExternal?get_connection__*' \
	'domain.merchants.external.x?MerchantsExternal?list_connections__*' \
	'domain.merchants.external.x?MerchantsExternal?delete_connection__*' \
	'domain.notifications.external.x?NotificationsExternal?get_*' \
	'domain.notifications.external.x?NotificationsExternal?list_*' \
	'domain.notifications.external.x?NotificationsExternal?_change_endpoint__*' \
	'domain.notifications.external.x?NotificationsExternal?delete_endpoint__*' \
	'domain.notifications.external.x?NotificationsExternal?retry_delivery__*' \
	'domain.notifications.external.x?NotificationsExternal?replay_dead_letter__*' \
	'domain.notifications.internal.x?NotificationsInternal?claim__*' \
	'domain.notifications.internal.x?NotificationsInternal?_in_order__*' \
	'domain.notifications.internal.x?NotificationsInternal?record__*' \
	'domain.notifications.internal.x?NotificationsInternal?_record_all__*' \
	'domain.notifications.internal.x?NotificationsInternal?release__*' \
	'domain.notifications.internal.x__claimed__*' \
	'gateway.inbound.x__*' \
	'gateway.inbound.x?_Refused?*' \
	'gateway.inbound.x?InboundWebhooks?[!o]*' \
	'gateway.client_ip.*' \
	'integrations.providers.stripe.signature.*' \
	'integrations.providers.polar.signature.*' \
	'integrations.providers.paddle.signature.*' \
	'integrations.stores.collection.x?Collection?owned__*' \
	'integrations.stores.collection.x?Collection?lease__*' \
	'integrations.stores.collection.x_update__*' \
	'domain.shared.errors.x_existing__*' \
	'domain.shared.errors.x_owned__*' \
	'integrations.stores.repositories.x?InboundEventRepo?claim_due__*' \
	'integrations.stores.repositories.x?InboundEventRepo?release_leases__*' \
	'integrations.stores.delivery_repos.x?DeliveryRepo?claim_due__*' \
	'integrations.stores.delivery_repos.x?DeliveryRepo?release_leases__*' \
	'integrations.delivery.http.*' \
	'integrations.stores.sqlite.sql.x_compile_claim__*' \
	'integrations.stores.sqlite.sql.x_compile_find__*' \
	'integrations.stores.sqlite.sql.x__where__*' \
	'integrations.stores.sqlite.sql.x__condition_sql__*' \
	'integrations.stores.sqlite.sql.x__assignments__*' \
	'integrations.stores.sqlite.store.x?_SqliteSession?claim__*' \
	'integrations.stores.sqlite.store.x?_SqliteSession?replace__*' \
	'integrations.stores.sqlite.store.x?_SqliteSession?update_where__*' \
	'integrations.stores.sqlite.store.x?SqliteStore?_open__*' \
	'workers.pumps.*' \
	'workers.fairness.*'
MUTANTS ?= $(MUTATE_SCOPE)

.PHONY: mutate
mutate: sync ## Mutation testing of the critical modules, then the score per module (slow)
	$(RUN) mutmut run --max-children $(MUTATE_CHILDREN) $(MUTANTS)
	$(RUN) python -m tests.support.mutation_score $(MUTANTS)

# One-line defects that once passed the whole suite, planted one at a time in a copy of the
# tree (tests/support/planted_defects.py); fails unless a test catches every one. DEFECTS=<names>.
.PHONY: defects
defects: sync ## Check that the tests catch each known one-line defect (about half an hour)
	$(RUN) python -m tests.support.planted_defects $(DEFECTS)

.PHONY: fmt
fmt: sync ## Apply ruff's safe fixes and format the code
	$(RUN) ruff check --fix-only $(PY_DIRS)
	$(RUN) ruff format $(PY_DIRS)
