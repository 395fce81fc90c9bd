"""Production settings: no insecure defaults. Every secret must come from the environment."""

from .base import *  # noqa: F403
from .base import env

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
