# PayMint - the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup system venv lock demo serve test test-fast lint security migrate-local clean

setup: system venv

system:
	@bash scripts/setup-system.sh

# Installs exactly what requirements/lock.txt pins, each file checked against its hash
# (pip-tools; pyproject.toml keeps the ranges). `make lock` re-resolves after a range changes.
LOCK := requirements/lock.txt
$(STAMP): $(LOCK) pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade pip
	@$(PIP) install -q --require-hashes -r $(LOCK)
	@touch $(STAMP)

lock: venv
	@$(PIP) install -q "pip-tools>=7.4"
	@$(VENV)/bin/pip-compile -q --extra dev --generate-hashes --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links -o $(LOCK) pyproject.toml

venv: $(STAMP)

# The main job on the embedded default (SQLite, Celery eager, local storage): the full invoice
# lifecycle on real invoices from ../shared/invoices.
demo: setup
	@rm -f db.sqlite3 && rm -rf media
	@DJANGO_SETTINGS_MODULE=paymint.settings.local $(PY) manage.py migrate -v 0
	@DJANGO_SETTINGS_MODULE=paymint.settings.local $(PY) manage.py demo

# Serve the site with the demo's users (run `make demo` first), under uvicorn (ASGI) so that the
# live event stream (GET /api/v1/events) stays open.
serve: setup
	@test -f db.sqlite3 || (echo "Run 'make demo' first." && exit 1)
	@DJANGO_SETTINGS_MODULE=paymint.settings.local $(VENV)/bin/uvicorn paymint.asgi:application --host 127.0.0.1 --port 8000

# pytest processes keep their bytecode, and pytest its rewritten test modules, in .pycache/
# (outside the tree; the rest of make writes none): without it every process compiles the
# project and rewrites the ~480 test modules again, about 8 s of CPU each.
TEST_ENV := PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/.pycache

# The test suite on PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/paymint).
test: setup
	@DJANGO_SETTINGS_MODULE=paymint.settings.test $(PY) -W ignore::RuntimeWarning manage.py makemigrations --check --dry-run -v 0
	@$(TEST_ENV) $(VENV)/bin/pytest -q -p no:cacheprovider

# Everything but the slow (concurrency, demo, security sweeps), OCR, browser, fuzz and fault
# tests, on two processes
# (pytest-xdist; each has its own test database). `make test` stays the whole suite.
test-fast: setup
	@$(TEST_ENV) $(VENV)/bin/pytest -q -p no:cacheprovider -n 2 -m "not slow and not e2e and not ocr and not fuzz and not faults"

# Style (ruff) and the architecture: the import contracts of docs/architecture.md
# (.importlinter; also run by tests/test_architecture.py).
lint: venv
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/lint-imports --no-cache .importlinter

# Security checks: bandit (config in pyproject.toml) and Django's deployment checklist on the
# production settings, with dummy values for the secrets production.py requires. Also run by
# tests/security/test_static_checks.py (CI runs `make test`).
security: venv
	@$(VENV)/bin/bandit -r -c pyproject.toml . --severity-level medium -q
	@env DJANGO_SETTINGS_MODULE=paymint.settings.production \
		DJANGO_SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
		BANK_WEBHOOK_SECRET=dummy-webhook-secret \
		FIELD_ENCRYPTION_KEYS="$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
		DATABASE_URL=postgres://postgres@127.0.0.1:5432/paymint \
		DJANGO_ALLOWED_HOSTS=paymint.example \
		CELERY_BROKER_URL=redis://127.0.0.1:6379/0 REDIS_URL=redis://127.0.0.1:6379/1 \
		$(PY) manage.py check --deploy --fail-level WARNING

# Load test (issue #19): locust with the real mix, headless, against gunicorn on PostgreSQL
# (a scratch database); p50/p95/p99 per endpoint into benchmarks/README.md, the HTML report in
# benchmarks/reports/. BENCH_USERS / BENCH_TIME change the user count and the duration.
BENCH_USERS ?= 20
BENCH_TIME ?= 60s
bench: venv
	@$(PY) benchmarks/load_test.py --users $(BENCH_USERS) --time $(BENCH_TIME)

clean:
	rm -rf $(VENV) db.sqlite3 media .test-media staticfiles
