"""Production settings: no insecure defaults. Every secret must come from the environment."""

import os

# Database connections are pooled in production (base.py, "Connections") unless DB_POOL=false;
# set before base.py reads it.
os.environ.setdefault("DB_POOL", "true")
os.environ.setdefault("CONN_MAX_AGE", "60")  # used only when DB_POOL=false

from .base import *  # noqa: E402,F403
from .base import env  # noqa: E402

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
}
# Probes come over plain HTTP from the orchestrator (inside the network): never redirect them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- Data protection at rest: the field encryption keys must come from the environment -------
from django.core.exceptions import ImproperlyConfigured  # noqa: E402

from .base import FIELD_ENCRYPTION_KEYS  # noqa: E402

if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS must be set in production (comma-separated Fernet keys, newest "
        "first; generate one with `python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'`)."
    )
from paymint.core.crypto import validate_keys  # noqa: E402

validate_keys(FIELD_ENCRYPTION_KEYS)  # a malformed key stops the start too

# --- Shared state: Redis and the Celery broker must come from the environment -----------------
# Every web replica must see the same rate-limit counters (CACHES["throttle"]), SEP-10 challenge
# replay marks and the access-token denylist of logouts (both in CACHES["default"]); a per-process
# memory cache would let a replayed challenge or a logged-out token through on another replica.
from .base import CELERY_BROKER_URL, REDIS_URL  # noqa: E402

if not CELERY_BROKER_URL or CELERY_BROKER_URL.startswith("memory://"):
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL must be set in production (e.g. redis://redis:6379/0): the in-memory "
        "broker would lose every task outside the web process that queued it."
    )
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL must be set in production (e.g. redis://redis:6379/1; it defaults to "
        "CELERY_BROKER_URL only when that is a Redis URL): rate limits, the throttle cache, SEP-10 "
        "challenge replay protection and the logout access-token denylist need a store shared by "
        "every web process."
    )
# The default cache is Redis too (CACHE_URL, default REDIS_URL), with the throttle cache's short
# timeouts so that an unreachable Redis costs a request a second, not a hang.
CACHES["default"] = env.cache("CACHE_URL", default=REDIS_URL)  # noqa: F405
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":  # noqa: F405
    CACHES["default"].setdefault("OPTIONS", {})  # noqa: F405
    CACHES["default"]["OPTIONS"].setdefault("socket_connect_timeout", 1)  # noqa: F405
    CACHES["default"]["OPTIONS"].setdefault("socket_timeout", 1)  # noqa: F405
_PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)
for _alias in ("default", "throttle"):
    if CACHES[_alias]["BACKEND"] in _PER_PROCESS_CACHES:  # noqa: F405
        raise ImproperlyConfigured(
            f"CACHES[{_alias!r}] is {CACHES[_alias]['BACKEND']} in production: it must be "  # noqa: F405
            "shared by every web process (Redis: CACHE_URL / THROTTLE_CACHE_URL, default "
            "REDIS_URL)."
        )
