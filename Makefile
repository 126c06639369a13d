# Canonical commands. `make run` and `make test` bootstrap everything from nothing: uv (from PyPI,
# into a per-user cache), the locked Python environment, Kafka (from Maven Central) and FerretDB
# (built with Go). Nothing here needs a Docker engine.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
REGSTD_CACHE ?= $(HOME)/.cache/regstd
UV_HOME := $(REGSTD_CACHE)/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
VENV := .venv
STACK := $(PYTHON) deploy/local/stack.py

# uv uses the machine's Python 3.11+, never a downloaded one.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
export REGSTD_CACHE

.PHONY: help setup console-assets chromium infra up down status run test unit lint typecheck isolation schemas bench chaos clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "regstd needs Python 3.11 or newer as '$(PYTHON)' (set PYTHON=...)" >&2; exit 1; }
	@echo "installing uv $(UV_VERSION) into $(UV_HOME)"
	@rm -rf $(UV_HOME) && $(PYTHON) -m venv $(UV_HOME)
	@$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) \
		|| { echo "could not install uv $(UV_VERSION) from the package index: check pip's network access" >&2; rm -rf $(UV_HOME); exit 1; }

# Installed with its bytecode compiled, the workspace's own sources too: a service's start reads it
# instead of compiling each of the ~1,000 modules it imports, which it would do at every start where
# Python may not write `__pycache__` (PYTHONDONTWRITEBYTECODE, a read-only install; decision 39).
OWN_SOURCES := contracts/src libs/*/src services/*/src cli/src bench/src
$(VENV)/.synced: $(UV) Makefile uv.lock pyproject.toml contracts/pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml cli/pyproject.toml bench/pyproject.toml
	$(UV) sync --locked --all-packages --quiet --compile-bytecode
	$(VENV)/bin/python -m compileall -q $(OWN_SOURCES)
	@touch $@

setup: $(VENV)/.synced console-assets ## install the locked Python environment (uv included) and the console's scripts

CONSOLE := services/console
$(CONSOLE)/node_modules/.installed: $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	@command -v npm >/dev/null || { echo "the console's scripts (htmx, axe-core) need npm: install Node.js with npm" >&2; exit 1; }
	cd $(CONSOLE) && npm ci --no-audit --no-fund --silent
	@touch $@

console-assets: $(CONSOLE)/node_modules/.installed ## install the console's locked npm packages (htmx, axe-core)

# The browser test drives Debian's Chromium (with a Chinese font for its screenshots); installed
# once, skipped when all three are there.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
chromium: ## install Debian's chromium, chromium-driver and a Chinese font for the console's browser test
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -f $(CJK_FONT) ]; then exit 0; fi; \
	sudo=""; if [ "$$(id -u)" != 0 ]; then sudo="sudo"; command -v sudo >/dev/null || { echo "installing chromium needs root or sudo: run 'apt-get install -y chromium chromium-driver fonts-wqy-zenhei' as root" >&2; exit 1; }; fi; \
	echo "installing Debian's chromium and chromium-driver (the console's browser test)"; \
	{ $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium chromium-driver fonts-wqy-zenhei; } \
		|| { echo "could not install chromium, chromium-driver and fonts-wqy-zenhei with apt-get: install them (Debian packages) and run again" >&2; exit 1; }

infra: ## fetch Kafka and build FerretDB into the per-user cache
	$(STACK) install

up: setup infra ## start Kafka, FerretDB and the services in ./var, detached, and wait until ready
	$(VENV)/bin/regstd local up

down: ## stop everything started by `make up` / `make run`
	@if [ -x $(VENV)/bin/regstd ]; then $(VENV)/bin/regstd local down; else $(STACK) down; fi

status: ## health of the local stack
	$(STACK) status

run: setup infra ## start everything, play the scenario with two partner cities, serve until Ctrl-C
	$(VENV)/bin/regstd local run

lint: setup ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup ## mypy, strict, with the pydantic plugin
	$(VENV)/bin/mypy

unit: setup ## the tests that need no infrastructure
	$(VENV)/bin/pytest -m "not infra"

# Each library and service installed alone from the lock, every one of its modules imported: a
# dependency a package imports but does not declare fails here, not in production.
ALONE := contracts kernel runtime intake publication harmonization console
isolation: $(UV) ## install each library and service alone and import every module of it
	@for name in $(ALONE); do \
		env="var/isolated/$$name"; \
		UV_PROJECT_ENVIRONMENT=$$env $(UV) sync --locked --no-dev --package regstd-$$name --quiet || exit 1; \
		$$env/bin/python -c 'import importlib, pkgutil, sys; p = importlib.import_module(sys.argv[1]); \
			[importlib.import_module(m.name) for m in pkgutil.walk_packages(p.__path__, p.__name__ + ".")]; \
			print(f"{sys.argv[1]}: every module imports with only its declared dependencies")' "regstd.$$name" \
			|| { echo "regstd-$$name does not import when installed alone (above); an undeclared dependency is declared in its pyproject.toml" >&2; exit 1; }; \
	done

test: setup infra chromium lint typecheck isolation ## lint, types, isolation, unit and integration tests (starts its own stack)
	$(VENV)/bin/pytest

bench: setup infra ## measure the pipeline against its targets on its own stack (QUICK=1: a small run; PROFILE=1: py-spy)
	REGSTD_BENCH_QUICK=$(if $(QUICK),1,) REGSTD_BENCH_PROFILE=$(if $(PROFILE),1,) $(VENV)/bin/regstd-bench

# Its own stack and services: kill -9 of each service, of Kafka, FerretDB and PostgreSQL, two
# publication instances, a replay, poison records; fails on any loss, duplicate, gap or stuck poison.
chaos: setup infra ## the fault suite on its own stack, 100 joint approvals per fault (CHAOS_APPROVALS=n)
	$(VENV)/bin/python -m regstd.bench.chaos

schemas: setup ## re-export the event JSON Schemas (refusing breaking changes) and the AsyncAPI documents
	$(VENV)/bin/python -m regstd.contracts.schemas
	$(VENV)/bin/python -m regstd.runtime.asyncapi contracts/asyncapi \
		regstd.intake.main:asyncapi regstd.publication.main:asyncapi regstd.harmonization.main:asyncapi

clean: down ## remove the local environment and data (keeps the download cache)
	rm -rf $(VENV) var
