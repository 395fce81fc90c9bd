"""Embedded default: runs on a bare machine. SQLite, Celery eager, local media storage.

Development-only secrets are set here as defaults so that ``make demo`` needs no set-up; every
one of them is overridden by the environment, and production.py refuses to start without them.
"""

import base64
import hashlib
import os

os.environ.setdefault("DJANGO_SECRET_KEY", "dev-only-insecure-key-not-for-production-0123456789")
os.environ.setdefault("BANK_WEBHOOK_SECRET", "whsec_dev_only")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
# Field encryption: a fixed local-only Fernet key derived from a constant (not a secret).
os.environ.setdefault(
    "FIELD_ENCRYPTION_KEYS",
    base64.urlsafe_b64encode(hashlib.sha256(b"paymint-local-field-key").digest()).decode(),
)
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# The on-chain mirror on the in-process local Stellar ledger (no network; see settlements.stellar).
os.environ.setdefault("STELLAR_ENABLED", "true")

from .base import *  # noqa: E402,F403

# Quiet the per-task log lines of eager Celery in the demo's output.
LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}  # noqa: F405
LOGGING["loggers"]["kombu"] = {"level": "ERROR"}  # noqa: F405
LOGGING["loggers"]["axes"] = {"level": "WARNING"}  # noqa: F405 - one INFO line per sign-in
