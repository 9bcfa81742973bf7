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

.PHONY: bench
bench: sync ## Run the benchmarks (options: BENCH_ARGS="--repeat 5 --only e2e")
	$(RUN) python -m benchmarks $(BENCH_ARGS)

.PHONY: fmt
fmt: sync ## Apply ruff's safe fixes and format the code
	$(RUN) ruff check --fix-only $(PY_DIRS)
	$(RUN) ruff format $(PY_DIRS)
