# Brokerage CRM. `make run` starts everything; `make test` runs the whole suite.
# Both work on a fresh machine with only Python 3.12+ installed (Django 6 needs 3.12):
# PostgreSQL and Redis are embedded under var/ unless DATABASE_URL / REDIS_URL are set.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MANAGE := $(PY) manage.py
QUICK ?=

.PHONY: help install run test bench lint migrate seed web worker beat rqworker chromium pango

help:
	@echo "make run       set up (virtualenv, install, migrate, demo data once) and start the whole CRM"
	@echo "make test      set up and run the whole test suite"
	@echo "make bench     run every benchmark in benchmarks/ (QUICK=1 for a short run)"
	@echo "make lint      ruff, import-linter on the layers of the design, and mypy (pyproject.toml)"
	@echo "make install   create .venv and install (only when pyproject.toml changed)"
	@echo "make seed      load whatever demo data is missing (as make run does) and print the demo logins"
	@echo "make migrate | web | worker | beat | rqworker   one piece at a time"
	@echo "Python: found automatically (3.12+), or PYTHON=/path/to/python3.12"

# The virtualenv is (re)created when missing or not a Python 3.12+ one; dependencies are
# (re)installed when pyproject.toml is newer than the stamp, or the virtualenv was remade.
VENV_OK := $(shell [ -x $(PY) ] && $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && echo yes)
ifneq ($(VENV_OK),yes)
$(STAMP): force-venv
endif

.PHONY: force-venv
force-venv:

$(STAMP): pyproject.toml
	@if [ "$(VENV_OK)" != yes ]; then \
		base=$$(scripts/find-python) || exit 1; \
		echo "Creating $(VENV) with $$base"; \
		rm -rf $(VENV) && "$$base" -m venv $(VENV) || exit 1; \
	fi
	@echo "Installing dependencies into $(VENV) (log: $(VENV)/install.log)"
	@$(PY) -m pip install --quiet -e ".[test]" >$(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

install: $(STAMP) pango
	@:

# PDFs are printed by weasyprint on Debian's Pango. Installed when missing and we can (root with
# apt); otherwise printing a PDF fails with weasyprint's message naming the missing library.
pango:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0'; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing Pango for PDFs"; \
			{ apt-get update -qq && apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 >/dev/null; } \
				|| echo "Could not install Pango: PDFs cannot be printed." >&2; \
		else \
			echo "No Pango (and not root with apt-get): PDFs cannot be printed." >&2; \
		fi; \
	fi

run: install
	@$(PY) -m demo.runner

# Browser tests drive Debian's Chromium. Install it when we can (root with apt); otherwise those
# tests skip and say why.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing chromium for the browser tests"; \
			{ apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
				|| echo "Could not install chromium: browser tests will be skipped." >&2; \
		else \
			echo "No /usr/bin/chromium (and not root with apt-get): browser tests will be skipped." >&2; \
		fi; \
	fi
	@# Fonts for the room's Thai, Chinese, Japanese and Korean pages (the phone test measures them as drawn).
	@if [ -x /usr/bin/chromium ] && command -v fc-list >/dev/null 2>&1 && ! fc-list :lang=th | grep -q . \
		&& [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Thai and CJK fonts for the browser tests"; \
		{ apt-get install -y -qq fonts-thai-tlwg fonts-noto-cjk >/dev/null 2>&1 \
			|| { apt-get update -qq && apt-get install -y -qq fonts-thai-tlwg fonts-noto-cjk >/dev/null; }; } \
			|| echo "Could not install the Thai and CJK fonts: the phone test draws fallback glyphs." >&2; \
	fi

# The suite runs in TEST_WORKERS processes (pytest-xdist; one more than the cores, at most 4; 0 runs it
# in this process), whole files at a time, each with its own test database and Redis database on the
# same servers (crm/settings/test.py). A test process spends part of its time waiting (on a simulator,
# a worker, a browser, PostgreSQL): on 2 cores a third process keeps them busy, 1,007 s of pytest
# instead of 1,130 s.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); n=$$((n + 1)); [ "$$n" -gt 4 ] && n=4; echo $$n)
# pytest exits 5 when it collected nothing: that is a broken suite, not a pass. The run ends with its
# 15 slowest tests and the total time.
# Embedded services for tests live in var/test, apart from those of `make run` (var/), so that a
# running CRM's workers never pick up the tests' tasks and the tests never flush its Redis.
test: install chromium
	@CRM_VAR_DIR="$${CRM_VAR_DIR:-$(CURDIR)/var/test}" $(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --durations=15 \
		$(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing." >&2; exit 1; fi; \
	exit $$rc

# Every script in benchmarks/ (benchmarks/__main__.py finds them), each in a process of its own with a
# database of its own, then one summary line per figure (goal met or not); SCALE=1 adds scale_pages.py
# (it first generates a brokerage of a million clients and 100 million deals, about an hour), which
# plain `make bench` leaves out. QUICK=1 runs the small sizes.
bench: install
	@CRM_BENCH_SCALE=$(if $(filter 1 yes true,$(SCALE)),1,) $(PY) -m benchmarks $(if $(filter 1 yes true,$(QUICK)),--quick,)

# lint-imports: an import that runs up the layers (DESIGN.md, [tool.importlinter]) fails.
# mypy's Django plugin loads crm.settings.test: placeholder URLs keep the settings from starting the
# embedded PostgreSQL/Redis (nothing connects while type-checking), so it runs offline, without
# DATABASE_URL, and never waits on a server. Its cache is .mypy_cache/ (gitignored).
TYPECHECK_ENV := PYTHONPATH=$(CURDIR) CRM_VAR_DIR=$(CURDIR)/var/typecheck \
	DATABASE_URL=postgresql://typecheck@localhost/typecheck REDIS_URL=redis://localhost/0
lint: install
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/lint-imports --no-cache
	@$(TYPECHECK_ENV) $(VENV)/bin/mypy

migrate: install
	@$(MANAGE) migrate

# make run's set-up alone (demo/runner.py --seed): every demo loader that has not finished on this
# database (those needing the simulators with them running), the demo logins, then everything stops.
seed: install
	@$(PY) -m demo.runner --seed

# One piece at a time, in the foreground (see the Procfile for the same commands).
web: install
	@$(MANAGE) collectstatic --noinput --verbosity 0
	@$(PY) -m gunicorn -c python:deploy.gunicorn_conf crm.wsgi:application

# Serves every workload's queue; CELERY_WORKER_QUEUES=sync,scoring serves those only (crm/queues.py).
worker: install
	@queues=$$($(PY) -m crm.queues) || exit 2; $(PY) -m celery -A crm worker --loglevel INFO --concurrency 2 --queues "$$queues"

beat: install
	@mkdir -p "$${CRM_VAR_DIR:-var}"
	@$(PY) -m celery -A crm beat --loglevel INFO

rqworker: install
	@$(MANAGE) rqworker default --worker-class crm.rq_worker.HeartbeatWorker
