# PayMint - the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup system venv demo serve test lint migrate-local clean

setup: system venv

system:
	@bash scripts/setup-system.sh

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade pip
	@$(PIP) install -q ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

# The main job on the embedded default (SQLite, Celery eager, local storage): the full invoice
# lifecycle on real invoices from ../shared/invoices.
demo: setup
	@rm -f db.sqlite3 && rm -rf media
	@DJANGO_SETTINGS_MODULE=paymint.settings.local $(PY) manage.py migrate -v 0
	@DJANGO_SETTINGS_MODULE=paymint.settings.local $(PY) manage.py demo

# Serve the site with the demo's users (run `make demo` first).
serve: setup
	@test -f db.sqlite3 || (echo "Run 'make demo' first." && exit 1)
	@DJANGO_SETTINGS_MODULE=paymint.settings.local $(PY) manage.py runserver 127.0.0.1:8000

# The test suite on PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/paymint).
test: setup
	@DJANGO_SETTINGS_MODULE=paymint.settings.test $(PY) manage.py makemigrations --check --dry-run -v 0
	@$(VENV)/bin/pytest -q -p no:cacheprovider

lint: venv
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) db.sqlite3 media .test-media staticfiles
