# Paperboy — the commands a new machine needs. `make run` and `make test` set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
AXE := tests/browser/node_modules/axe-core/axe.min.js
# make run's web port; links in digests follow it (SITE_URL) unless SITE_URL is set.
PORT_WEB ?= 8000

.PHONY: run test demo bench lint migrations-check browser clean

# (Re)install when requirements.txt changes; the stamp is a copy of the installed file.
$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing Python requirements into $(VENV) ..."
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@cp requirements.txt $(STAMP)

## run: the whole system on embedded defaults (web on :8000 + worker with beat); Ctrl-C stops it
run: $(STAMP)
	@$(PY) manage.py migrate --noinput
	@echo
	@echo "  Paperboy:  http://127.0.0.1:$(PORT_WEB)/"
	@echo "  Admin:     http://127.0.0.1:$(PORT_WEB)/admin/"
	@$(PY) manage.py shell --no-imports -c "from django.contrib.auth import get_user_model as g; import sys; sys.exit(0 if g().objects.filter(is_superuser=True).exists() else 1)" \
		|| echo "  No admin user yet: in another terminal run  $(PY) manage.py createsuperuser"
	@echo "  Outbox:    var/outbox/ (every email is written there as an .eml file)"
	@echo "  Ctrl-C stops the web server and the worker."
	@echo
	@PORT_WEB=$(PORT_WEB) SITE_URL="$${SITE_URL:-http://127.0.0.1:$(PORT_WEB)}" $(VENV)/bin/honcho start --procfile Procfile.dev --env /dev/null

## test: the whole suite (uses DATABASE_URL / REDIS_URL when set; CI=true makes them mandatory)
test: $(STAMP) browser
	@$(VENV)/bin/pytest

## demo: one whole day offline on the embedded defaults; HISTORY=90 adds 90 days of sample history for the dashboard
demo: $(STAMP)
	@$(PY) manage.py migrate --noinput
	@$(PY) manage.py ingest --source hf --file papers/samples/hf_daily_papers_sample.json
	@$(PY) manage.py ingest --source text --file papers/samples/text_dump_sample.txt
	@echo
	@echo "  Loaded the invented sample papers from papers/samples/ (not real papers; see its README.md) onto today's page."
	@$(PY) manage.py demo_day
	$(if $(HISTORY),@$(PY) manage.py demo_history --days $(HISTORY))
	@echo "  Next:  make run, then open http://127.0.0.1:8000/ (admin: http://127.0.0.1:8000/admin/)"
	@echo "  Running make demo again changes nothing: the papers are unchanged and nobody gets a day's digest twice."

## bench: the benchmark suite (installs postfix's smtp-sink, wrk and spamassassin when missing);
## QUICK=1 for a smoke run, SUBSCRIBERS=N for the send benchmarks' size. Uses DATABASE_URL and
## REDIS_URL, or the local PostgreSQL and Redis (it creates and drops databases of its own).
bench: $(STAMP)
	@DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}" \
	 REDIS_URL="$${REDIS_URL:-redis://127.0.0.1:6379/0}" \
	 $(PY) -m bench $(if $(QUICK),--quick) $(if $(SUBSCRIBERS),--subscribers $(SUBSCRIBERS))

lint: $(STAMP)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy

migrations-check: $(STAMP)
	@$(PY) manage.py makemigrations --check --dry-run

## browser: Debian's Chromium for the browser tests (installed when missing and we are root), and
## axe-core (npm, pinned in tests/browser/package-lock.json) for their accessibility checks
browser: $(AXE)
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing Debian's chromium for the browser tests ..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "chromium is not installed (sudo apt-get install chromium): browser tests will skip here and fail in CI."; \
		fi; }

# (Re)install when the lock changes; touch, because npm keeps the package's own file dates.
$(AXE): tests/browser/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		echo "Installing axe-core for the browser tests (npm ci --prefix tests/browser) ..."; \
		npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm is not installed (sudo apt-get install npm): accessibility checks will skip here and fail in CI."; \
	fi

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache .mypy_cache tests/browser/node_modules
