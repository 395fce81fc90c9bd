"""Test settings: PostgreSQL (``DATABASE_URL``, default the local server), Celery eager."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key-not-secret-0123456789abcdef")
os.environ.setdefault("BANK_WEBHOOK_SECRET", "whsec_test")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/paymint")

from .base import *  # noqa: E402,F403
from .base import BASE_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; argon2 in prod
MEDIA_ROOT = BASE_DIR / ".test-media"
STORAGES["default"]["OPTIONS"] = {"location": MEDIA_ROOT, "base_url": None}  # noqa: F405
