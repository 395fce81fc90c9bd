"""Test settings: PostgreSQL (``DATABASE_URL``, default the local server), Celery eager."""

import base64
import hashlib
import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key-not-secret-0123456789abcdef")
os.environ.setdefault("BANK_WEBHOOK_SECRET", "whsec_test")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
# Field encryption: a fixed test-only Fernet key derived from a constant (not a secret).
os.environ.setdefault(
    "FIELD_ENCRYPTION_KEYS",
    base64.urlsafe_b64encode(hashlib.sha256(b"paymint-test-field-key").digest()).decode(),
)
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/paymint")
# Mail stays in memory in every process that runs these settings (pytest-django does this for
# the test process; the servers and commands the fault tests start need it too: no SMTP here).
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# Rate-limit counters in a real Redis (DB 11, reserved for them in tests).
os.environ.setdefault("THROTTLE_CACHE_URL", "redis://127.0.0.1:6379/11")

from .base import *  # noqa: E402,F403
from .base import BASE_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; argon2 in prod
MEDIA_ROOT = BASE_DIR / ".test-media"
STORAGES["default"]["OPTIONS"] = {"location": MEDIA_ROOT, "base_url": None}  # noqa: F405

# Rate limits: each pytest process counts under its own key prefix (several runs share one
# Redis), and the rates are high enough that the suite's concurrency tests (50 investors on one
# invoice, replayed requests, webhooks) never hit them; tests/core/test_throttling.py sets its
# own low rates.
CACHES["throttle"]["KEY_PREFIX"] = f"throttle-test-{os.getpid()}"  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {  # noqa: F405
    scope: "100000/min" for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]  # noqa: F405
}

# Live updates through the local Redis; each pytest process on its own channels.
LIVE_UPDATES_REDIS_URL = os.environ.get("LIVE_UPDATES_REDIS_URL", "redis://127.0.0.1:6379/12")
LIVE_UPDATES_CHANNEL_PREFIX = os.environ.get(
    "LIVE_UPDATES_CHANNEL_PREFIX", f"paymint-test-{os.getpid()}"
)
