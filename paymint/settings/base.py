"""Settings shared by every environment; everything secret or host-specific comes from the
environment (django-environ). See ``local.py`` (embedded default), ``test.py`` and
``production.py``.
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "django_htmx",
    # PayMint, bottom layer first (docs/architecture.md).
    "paymint.core",
    "accounts",
    "invoices",
    "marketplace",
    "settlements",
    # django-auditlog records model changes into compliance.AuditEvent (append-only, see
    # compliance/audit.py); compliance's admin replaces its admin, so it loads before it.
    "auditlog",
    "compliance",
    "pools",  # passive investing: liquidity pools, auto-invest (above the marketplace)
    # Above every domain app: turns their domain events into notifications (in-app, email,
    # push) and serves the bell, the notifications page and the live updates.
    "notifications",
    "demo",  # `manage.py demo`: the lifecycle on the embedded default
    # Authentication hardening (see below): revoked refresh tokens, sign-in lockout.
    "rest_framework_simplejwt.token_blacklist",
    "axes",
]

MIDDLEWARE = [
    # Request id (X-Request-ID, in every log line and Celery task) and request latency
    # metrics wrap everything else.
    "paymint.core.middleware.RequestIdMiddleware",
    "paymint.core.middleware.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The back office plans its statements for their values (prepared statements: below).
    "paymint.core.middleware.BackOfficeCustomPlansMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.StaffTwoFactorMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Who and from where (actor, IP, user agent) for every audit event of a request.
    "compliance.middleware.AuditContextMiddleware",
    "axes.middleware.AxesMiddleware",  # django-axes: last
]

ROOT_URLCONF = "paymint.urls"
WSGI_APPLICATION = "paymint.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "notifications.context_processors.notifications",  # the header's bell
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Connections (docs/operations: "Database connections"). Opening a PostgreSQL connection costs
# more than most API reads, so production keeps them: DB_POOL=true (production's default) gives
# each process a psycopg_pool.ConnectionPool (Django's OPTIONS["pool"]) of DB_POOL_MIN_SIZE to
# DB_POOL_MAX_SIZE connections; a request takes one at its first query and gives it back at its
# end. Without the pool, CONN_MAX_AGE (seconds) keeps one connection per thread instead.
# CONN_HEALTH_CHECKS: a connection is checked before it is handed out again (the pool's
# check_connection, or Django's SELECT 1 for persistent connections), so a restarted
# PostgreSQL costs a reconnect, never a failed request. Sizes: see paymint/core/health.py and
# README "Database connections".
DB_POOL = env.bool("DB_POOL", default=False)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
if DB_POOL and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them; Django refuses both
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        # One gunicorn sync worker serves one request at a time: 1 connection, 1 spare (a
        # thread started by a request). gthread workers: max_size = --threads.
        "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=2),
        # A request waits this long (seconds) for a free connection, then fails (PoolTimeout).
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        # Idle connections above min_size are closed after this; all are renewed after
        # max_lifetime (PostgreSQL backends grow with the catalogue caches they fill).
        "max_idle": env.float("DB_POOL_MAX_IDLE", default=300.0),
        "max_lifetime": env.float("DB_POOL_MAX_LIFETIME", default=1800.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# Server-side parameter binding (psycopg's Cursor instead of Django's default ClientCursor)
# and prepared statements: a statement a connection has run DB_PREPARE_THRESHOLD times is
# prepared on it, so PostgreSQL stops parsing and planning it each time (issue #19). 0 turns
# preparing off (e.g. behind a transaction-mode connection pooler).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "server_side_binding": env.bool("DB_SERVER_SIDE_BINDING", default=True),
        "prepare_threshold": env.int("DB_PREPARE_THRESHOLD", default=5) or None,
    })
# Seconds a client is told to wait (Retry-After) when a dependency is down and the answer is
# 503 SERVICE_UNAVAILABLE (paymint/core/outage.py).
SERVICE_UNAVAILABLE_RETRY_AFTER = env.int("SERVICE_UNAVAILABLE_RETRY_AFTER", default=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = 60 * 60  # reset links work for one hour, once
# Two-factor (django-otp TOTP): the issuer shown in authenticator apps.
OTP_TOTP_ISSUER = "PayMint"
# Email: SMTP unless EMAIL_BACKEND says otherwise (local.py: console; tests: locmem).
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="PayMint <no-reply@paymint.example>")
# The SMTP server (Django's names); a short timeout so that a hung server fails the send (the
# outbox keeps the message and its task retries with backoff) instead of holding a worker.
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
EMAIL_VERIFICATION_MAX_AGE = env.int("EMAIL_VERIFICATION_MAX_AGE", default=3 * 24 * 60 * 60)

LANGUAGE_CODE = "en"
# Number formats follow the browser's language (LocaleMiddleware); texts are English for now.
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("hi", "हिन्दी")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "/media/"

# Storage: local private files by default; S3 (django-storages) when AWS_STORAGE_BUCKET_NAME is set.
if env("AWS_STORAGE_BUCKET_NAME", default=""):
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": env("AWS_STORAGE_BUCKET_NAME"),
                "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": 300,
                "file_overwrite": False,
            },
        },
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
else:
    STORAGES = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": MEDIA_ROOT, "base_url": None},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

CACHES = {
    "default": env.cache("CACHE_URL", default="locmemcache://paymint")
}

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's JWTAuthentication that also refuses access tokens revoked at logout.
        "accounts.authentication.RevocableJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "paymint.core.schema.PayMintAutoSchema",
    "EXCEPTION_HANDLER": "paymint.core.api.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "ROTATE_REFRESH_TOKENS": True,
    "UPDATE_LAST_LOGIN": True,
    "USER_ID_FIELD": "public_id",
    "USER_ID_CLAIM": "sub",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PayMint API",
    "DESCRIPTION": "Invoice financing marketplace: sellers, investors, bank webhooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from this site (drf-spectacular-sidecar), not a CDN: CSP 'self'.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="memory://")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "invoices.tasks.invoice_extract_task": {"queue": "extraction"},
    "invoices.tasks.invoice_score_task": {"queue": "risk"},
    "settlements.tasks.*": {"queue": "settlement"},
    "settlements.stellar.tasks.*": {"queue": "settlement"},
}
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
# A task whose worker died mid-run (kill -9, OOM, lost host) is delivered again: acks_late
# (the message is acknowledged after the task ends) with reject_on_worker_lost (a killed child
# process: requeued at once). When the whole worker dies, the Redis broker hands the
# unacknowledged message out again after the visibility timeout: longer than the longest task
# (CELERY_TASK_TIME_LIMIT), or a slow task would run twice at once. Tasks are idempotent either
# way (docs/operations.md "Workers killed").
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=600),
}

# --- Bank webhooks ------------------------------------------------------------------------
BANK_WEBHOOK_SECRET = env("BANK_WEBHOOK_SECRET")
BANK_WEBHOOK_TOLERANCE_SECONDS = env.int("BANK_WEBHOOK_TOLERANCE_SECONDS", default=300)

# --- Uploads and extraction limits --------------------------------------------------------
INVOICE_UPLOAD_MAX_BYTES = env.int("INVOICE_UPLOAD_MAX_BYTES", default=15 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
EXTRACTION_MAX_PAGES = env.int("EXTRACTION_MAX_PAGES", default=20)
EXTRACTION_OCR_MAX_PAGES = env.int("EXTRACTION_OCR_MAX_PAGES", default=3)
EXTRACTION_MAX_IMAGE_PIXELS = env.int("EXTRACTION_MAX_IMAGE_PIXELS", default=40_000_000)
EXTRACTION_TIMEOUT_SECONDS = env.int("EXTRACTION_TIMEOUT_SECONDS", default=90)
# PEM public key of the GST Invoice Registration Portal that signs e-invoice QR codes; when
# unset, QR fields are read but marked as not verified.
GST_QR_PUBLIC_KEY = env("GST_QR_PUBLIC_KEY", default="").replace("\\n", "\n")

# --- KYC/KYB ------------------------------------------------------------------------------
KYC_DOCUMENT_MAX_BYTES = env.int("KYC_DOCUMENT_MAX_BYTES", default=10 * 1024 * 1024)
# Investors declaring more than this (EUR) need two different staff approvals.
KYC_FOUR_EYES_ABOVE = Decimal(env("KYC_FOUR_EYES_ABOVE", default="100000"))

# --- Business configuration ---------------------------------------------------------------
PAYMINT = {
    # Currencies PayMint finances (ISO 4217).
    "CURRENCIES": ["EUR", "USD", "GBP", "INR"],
    # Platform fee as a fraction of the advance amount, taken at disbursement.
    "PLATFORM_FEE_RATE": Decimal(env("PLATFORM_FEE_RATE", default="0.010")),
    # Smallest investment ticket, in the invoice currency.
    "MIN_TICKET": Decimal(env("MIN_TICKET", default="50")),
    "LISTING_DAYS": env.int("LISTING_DAYS", default=14),
    "MIN_TENOR_DAYS": 7,
    "MAX_TENOR_DAYS": 180,
    "GRACE_PERIOD_DAYS": env.int("GRACE_PERIOD_DAYS", default=5),
    "DEFAULT_AFTER_DAYS_PAST_DUE": env.int("DEFAULT_AFTER_DAYS_PAST_DUE", default=90),
    # Late interest = discount rate + this margin, annual, ACT/365, on what investors are owed.
    "LATE_RATE_MARGIN": Decimal(env("LATE_RATE_MARGIN", default="0.050")),
    # One-off platform late fee, as a fraction of the face value, due once overdue.
    "LATE_FEE_RATE": Decimal(env("LATE_FEE_RATE", default="0.005")),
    # Grade -> (maximum advance rate, annual discount rate), both fractions; ACT/365 day count.
    "GRADE_PRICING": {
        "A": (Decimal("0.90"), Decimal("0.080")),
        "B": (Decimal("0.85"), Decimal("0.100")),
        "C": (Decimal("0.80"), Decimal("0.130")),
        "D": (Decimal("0.70"), Decimal("0.170")),
        "E": (Decimal("0.00"), Decimal("0.250")),
    },
    # Estimated probability of default per grade (fraction), recorded with each score and
    # compared with realized defaults by `manage.py risk_report`.
    "GRADE_PD": {
        "A": Decimal("0.01"), "B": Decimal("0.025"), "C": Decimal("0.05"),
        "D": Decimal("0.10"), "E": Decimal("0.25"),
    },
    # Concentration limits, in the invoice's currency, on outstanding advance amounts:
    # per debtor (across all sellers), per seller, and per investor on one debtor.
    "MAX_DEBTOR_EXPOSURE": Decimal(env("MAX_DEBTOR_EXPOSURE", default="250000")),
    "MAX_SELLER_EXPOSURE": Decimal(env("MAX_SELLER_EXPOSURE", default="500000")),
    "MAX_INVESTOR_DEBTOR_EXPOSURE": Decimal(env("MAX_INVESTOR_DEBTOR_EXPOSURE",
                                               default="50000")),
    # Liquidity pools (pools app): days between a redemption request and its first payment
    # (notice period), the largest redemption one request may ask (in the pool's currency, at
    # the NAV of the request), and the provision rates by days-past-due bucket (fractions of
    # outstanding principal + accrued fee; "default" = 90+ days, defaulted or written off).
    "POOL_REDEMPTION_NOTICE_DAYS": env.int("POOL_REDEMPTION_NOTICE_DAYS", default=1),
    "POOL_MAX_REDEMPTION": Decimal(env("POOL_MAX_REDEMPTION", default="100000")),
    "POOL_PROVISION_RATES": {
        "current": Decimal("0"), "1-30": Decimal("0.10"), "31-60": Decimal("0.25"),
        "61-90": Decimal("0.50"), "default": Decimal("1"),
    },
    # Lower score bound of each grade (score 0-100, higher is safer).
    "GRADE_THRESHOLDS": {"A": 80, "B": 65, "C": 50, "D": 35, "E": 0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes.apps": {"level": "WARNING"},  # its start-up banner, once per process
    },
}

SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(dsn=SENTRY_DSN, send_default_pii=False, traces_sample_rate=0.0)
ADMIN_URL = env("DJANGO_ADMIN_URL", default="admin/")

CELERY_BEAT_SCHEDULE = {
    "listings-expire": {"task": "marketplace.tasks.listings_expire_task", "schedule": 600.0},
    # Auto-invest rules on listings still open (rules set or cash deposited after opening).
    "open-listings-auto-invest": {"task": "pools.tasks.open_listings_auto_invest_task",
                                  "schedule": 600.0},
    # Liquidity pools: pay queued redemptions as repayments arrive; the NAV of the day (an
    # hourly run keeps the day's row current; the first run of a day writes it).
    "pools-redemptions-pay": {"task": "pools.tasks.pools_redemptions_pay_task",
                              "schedule": 600.0},
    "pools-nav-daily": {"task": "pools.tasks.pools_nav_daily_task", "schedule": 3600.0},
    # Daily (hourly run; each invoice is aged at most once per business day).
    "invoices-age": {"task": "settlements.tasks.invoices_age_task", "schedule": 3600.0},
    # Tallies (the ledger's day totals, investments and invoices per key: the back office's
    # figures) folded, one row per key (paymint.core.tallies).
    "tallies-compact": {"task": "paymint.core.tasks.tallies_compact_task", "schedule": 300.0},
    # Domain events whose dispatch task was lost (paymint.core.events).
    "domain-events-redispatch": {
        "task": "paymint.core.tasks.domain_events_redispatch_task", "schedule": 300.0},
    # Tasks whose publication failed while the broker was down (paymint.core.queue).
    "deferred-tasks-publish": {
        "task": "paymint.core.tasks.deferred_tasks_publish_task", "schedule": 60.0},
    # Outbox messages still pending after their task gave up (a long SMTP outage).
    "outbox-pending-sweep": {
        "task": "paymint.core.tasks.outbox_pending_sweep_task", "schedule": 600.0},
}

# Public base URL of the site (links in emails).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
DEBTOR_CONFIRMATION_DAYS = env.int("DEBTOR_CONFIRMATION_DAYS", default=14)

# --- Operations ---------------------------------------------------------------------------
# Redis checked by /readyz and holding Celery task outcome counts; defaults to a Redis broker.
REDIS_URL = env(
    "REDIS_URL",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)
# /metrics answers only to "Authorization: Bearer <METRICS_TOKEN>" (403 while unset).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_CELERY_QUEUES = ["extraction", "risk", "settlement", "default"]
# Logs: one JSON object per line (json), or text for a terminal (plain, the DEBUG default).
LOG_FORMAT = env("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING["filters"] = {"request_id": {"()": "paymint.core.logging.RequestIdFilter"}}
LOGGING["formatters"]["json"] = {"()": "paymint.core.logging.JsonFormatter"}
LOGGING["formatters"]["plain"] = {
    "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
}
LOGGING["handlers"]["console"]["filters"] = ["request_id"]
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
# Workers log through LOGGING too (JSON, request ids) instead of Celery's own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Sanctions/PEP screening: a name matches a listed party at or above this score (0-100, see
# compliance.screening.name_score: transliterated, legal forms removed, token-aligned
# Jaro-Winkler/Levenshtein). 90 flags spelling and transliteration variants of the same name
# (Mohammed/Muhammad, Viktor/Victor, Cyrillic/Latin) but not a different surname.
SANCTIONS_MATCH_THRESHOLD = env.int("SANCTIONS_MATCH_THRESHOLD", default=90)

# Transaction monitoring (compliance.monitoring). Amounts are in the movement's own currency
# (no FX): each threshold is per currency; a currency not listed uses the EUR figure.
AML_MONITORING = {
    # A single deposit/withdrawal/funding/payout at or above this amount.
    "LARGE_MOVEMENT": {"EUR": Decimal("10000"), "USD": Decimal("11000"),
                       "GBP": Decimal("8500"), "INR": Decimal("900000")},
    # Structuring: this many deposits within the window, each in [fraction, 1) x LARGE_MOVEMENT.
    "STRUCTURING_MIN_DEPOSITS": 3,
    "STRUCTURING_WINDOW_DAYS": 7,
    "STRUCTURING_LOWER_FRACTION": Decimal("0.80"),
    # Rapid in-and-out: a withdrawal of >= fraction of a deposit within the window after it,
    # with no investment (FUNDING) in between.
    "RAPID_OUT_WINDOW_HOURS": 48,
    "RAPID_OUT_MIN_FRACTION": Decimal("0.80"),
    # Velocity: more than this many movements, or more than this amount, in the window.
    "VELOCITY_WINDOW_HOURS": 24,
    "VELOCITY_MAX_MOVEMENTS": 10,
    "VELOCITY_MAX_AMOUNT": {"EUR": Decimal("50000"), "USD": Decimal("55000"),
                            "GBP": Decimal("42500"), "INR": Decimal("4500000")},
    # Dormant account: no movement for this many days, then a movement of at least this amount.
    "DORMANT_DAYS": 180,
    "DORMANT_REACTIVATION_AMOUNT": {"EUR": Decimal("5000"), "USD": Decimal("5500"),
                                    "GBP": Decimal("4250"), "INR": Decimal("450000")},
    # How far back monitor_user reads the ledger (must exceed DORMANT_DAYS).
    "LOOKBACK_DAYS": 400,
}
CELERY_BEAT_SCHEDULE["compliance-monitoring-sweep"] = {
    "task": "compliance.tasks.monitoring_sweep_task", "schedule": 6 * 3600.0,
}

# --- Stellar ------------------------------------------------------------------------------
# Network: "local" (an in-process network: tests, demo), "testnet" or "public". Horizon URL and
# passphrase default to the network's own.
STELLAR_NETWORK = env("STELLAR_NETWORK", default="local")
# What builds the gateway on the "local" network: the development and test stand-in, which
# production code never imports (devtools/stellar_local/): the process's own in-memory network,
# or (devtools.stellar_local.network.remote_gateway) one served over HTTP by another process -
# the fault suite's Horizon stand-in, which outlives the worker it kills.
STELLAR_LOCAL_NETWORK = env(
    "STELLAR_LOCAL_NETWORK", default="devtools.stellar_local.network.local_gateway"
)
STELLAR_HORIZON_URL = env("STELLAR_HORIZON_URL", default="")
STELLAR_NETWORK_PASSPHRASE = env("STELLAR_NETWORK_PASSPHRASE", default="")
# Off by default: chain_on_funding/chain_on_settlement write nothing until enabled.
STELLAR_ENABLED = env.bool("STELLAR_ENABLED", default=False)
# Secret seeds (S...), from the environment only. On the "local" network an unset seed is
# replaced by a deterministic development key derived from its role name (gateway.py,
# `platform_keys`); on testnet/public a missing seed is a configuration error.
STELLAR_ISSUER_SECRET = env("STELLAR_ISSUER_SECRET", default="")  # invoice tokens
STELLAR_DISTRIBUTION_SECRET = env("STELLAR_DISTRIBUTION_SECRET", default="")  # pays stablecoin
STELLAR_CUSTODY_SECRET = env("STELLAR_CUSTODY_SECRET", default="")  # holds unconnected shares
STELLAR_STABLECOIN_ISSUER_SECRET = env("STELLAR_STABLECOIN_ISSUER_SECRET", default="")  # local
STELLAR_SEP10_SIGNING_SECRET = env("STELLAR_SEP10_SIGNING_SECRET", default="")
# The stablecoin per ledger currency; on testnet/public its issuer's public key.
STELLAR_STABLECOIN_CODES = {"EUR": "EURC", "USD": "USDC", "GBP": "GBPC", "CHF": "CHFC"}
STELLAR_STABLECOIN_ISSUER = env("STELLAR_STABLECOIN_ISSUER", default="")
STELLAR_HOME_DOMAIN = env("STELLAR_HOME_DOMAIN", default="paymint.local")
STELLAR_WEB_AUTH_DOMAIN = env("STELLAR_WEB_AUTH_DOMAIN", default="paymint.local")
STELLAR_SEP10_TIMEOUT_SECONDS = env.int("STELLAR_SEP10_TIMEOUT_SECONDS", default=300)
# Every envelope expires (max_time) this long after it is built; after that it is rebuilt.
STELLAR_TX_TIMEOUT_SECONDS = env.int("STELLAR_TX_TIMEOUT_SECONDS", default=300)
STELLAR_BASE_FEE = env.int("STELLAR_BASE_FEE", default=100)  # stroops per operation
STELLAR_MAX_FEE = env.int("STELLAR_MAX_FEE", default=10_000)  # cap when fees are raised
STELLAR_SUBMIT_MAX_ATTEMPTS = env.int("STELLAR_SUBMIT_MAX_ATTEMPTS", default=10)
CELERY_IMPORTS = ("settlements.stellar.tasks",)
# Outbox sweep (lost tasks) and chain reconciliation; both do nothing while STELLAR_ENABLED=False.
CELERY_BEAT_SCHEDULE["stellar-outbox-sweep"] = {
    "task": "settlements.stellar.tasks.chain_pending_sweep_task", "schedule": 300.0}
CELERY_BEAT_SCHEDULE["stellar-reconcile"] = {
    "task": "settlements.stellar.tasks.chain_reconcile_task", "schedule": 3600.0}
# The whole books checked daily (manage.py verify_books; settlements/services/books.py).
CELERY_BEAT_SCHEDULE["books-verify"] = {
    "task": "settlements.tasks.books_verify_task", "schedule": 24 * 3600.0}

# --- Audit trail, data protection and retention ----------------------------------------------
# django-auditlog (in INSTALLED_APPS before compliance) records model changes into
# compliance.AuditEvent (append-only; see compliance/audit.py).
AUDITLOG_LOGENTRY_MODEL = "compliance.AuditEvent"
AUDITLOG_STORE_JSON_CHANGES = True
AUDITLOG_MASK_CALLABLE = "compliance.audit.mask_value"
AUDITLOG_CID_GETTER = "compliance.middleware.current_request_id"  # X-Request-ID, into tasks
DATABASE_ROUTERS = ["compliance.routers.AuditlogRouter"]  # no unused auditlog_logentry table
# Who and from where (actor, IP, user agent) for every audit event of a request:
# compliance.middleware.AuditContextMiddleware (MIDDLEWARE).
# The client address of audit events is the one rate limits use: see TRUSTED_PROXY_COUNT.
# Retention (compliance/retention.py, `manage.py apply_retention`, daily beat task). Journal
# entries, invoices, investments and settlements are never deleted.
RETENTION = {
    # KYC/KYB document files of closed accounts (deactivated users, applications rejected
    # and not resubmitted), counted from closure: 5 years (AML record keeping).
    "kyc_documents_after_closure_days": env.int("RETENTION_KYC_DOCUMENTS_DAYS", default=5 * 365),
    # Stored first responses of Idempotency-Key API writes.
    "idempotency_records_days": env.int("RETENTION_IDEMPOTENCY_DAYS", default=30),
    # Sent or failed outbox messages (email bodies hold personal data).
    "outbound_messages_days": env.int("RETENTION_OUTBOUND_MESSAGES_DAYS", default=90),
    # The audit trail itself.
    "audit_events_years": env.int("RETENTION_AUDIT_EVENTS_YEARS", default=10),
}
CELERY_BEAT_SCHEDULE["compliance-retention"] = {
    "task": "compliance.tasks.retention_apply_task", "schedule": 24 * 3600.0}

# --- Authentication hardening and rate limits (accounts/lockout.py, accounts/auth_tokens.py,
# paymint/core/throttling.py) ---------------------------------------------------------------
# django-axes: failed sign-ins are counted per email + IP address on the sign-in page, the
# admin (which signs in through that page) and the API token endpoint; after
# AXES_FAILURE_LIMIT failures that pair is locked for AXES_COOLOFF_MINUTES, even with the right
# password. Its backend must come first; its middleware (MIDDLEWARE) last.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.lockout.axes_username"
AXES_CLIENT_IP_CALLABLE = "paymint.core.throttling.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Successful sign-ins (email, IP, user agent) are kept this long, then pruned daily together
# with expired refresh-token records (accounts.tasks.auth_records_prune_task).
AXES_ACCESS_LOG_DAYS = env.int("AXES_ACCESS_LOG_DAYS", default=90)
CELERY_BEAT_SCHEDULE["auth-records-prune"] = {
    "task": "accounts.tasks.auth_records_prune_task", "schedule": 24 * 3600.0}
# Reverse proxies in front of the app that append to X-Forwarded-For (0: use REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# JWT: refresh tokens rotate on use and the used one is blacklisted; logout blacklists one and
# a password change all of them. Tokens carry a hash of the password hash (CHECK_REVOKE_TOKEN),
# so access tokens issued before a password change stop working at once too.
SIMPLE_JWT["BLACKLIST_AFTER_ROTATION"] = True
SIMPLE_JWT["CHECK_REVOKE_TOKEN"] = True
# Rate limits (requests/period per IP or per user, see paymint/core/throttling.py), counted in
# Redis at THROTTLE_CACHE_URL (default REDIS_URL; in memory when neither is set, e.g. the demo).
THROTTLE_CACHE_URL = env("THROTTLE_CACHE_URL", default=REDIS_URL)
CACHES["throttle"] = (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": THROTTLE_CACHE_URL,
     "KEY_PREFIX": "throttle", "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}
    if THROTTLE_CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}
)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "login": env("THROTTLE_RATE_LOGIN", default="10/min"),  # per IP: token endpoint, sign-in
    "registration": env("THROTTLE_RATE_REGISTRATION", default="10/hour"),  # per IP
    "funding": env("THROTTLE_RATE_FUNDING", default="60/min"),  # per investor
    "uploads": env("THROTTLE_RATE_UPLOADS", default="60/hour"),  # per user: invoices, KYC
    "webhooks": env("THROTTLE_RATE_WEBHOOKS", default="600/min"),  # per bank IP
}
# Withdrawals at or above this amount (in the withdrawal's currency) need a current code from
# the user's authenticator app (TOTP); per-currency figures override it.
PAYMINT["WITHDRAWAL_2FA_THRESHOLD"] = Decimal(env("WITHDRAWAL_2FA_THRESHOLD", default="10000"))
PAYMINT["WITHDRAWAL_2FA_THRESHOLD_BY_CURRENCY"] = {
    "INR": Decimal(env("WITHDRAWAL_2FA_THRESHOLD_INR", default="900000")),
}
# Payouts (settlements/services/payouts.py): the platform's account the bank files debit
# (the debtor of every pain.001 credit transfer), and how many business days ahead the bank
# is asked to execute a batch.
PAYMINT["PAYOUT_ORIGINATOR"] = {
    "name": env("PAYOUT_ORIGINATOR_NAME", default="PayMint Platform SA"),
    "IBAN": env("PAYOUT_ORIGINATOR_IBAN", default="DE89370400440532013000"),
    "BIC": env("PAYOUT_ORIGINATOR_BIC", default="COBADEFFXXX"),
}
PAYMINT["PAYOUT_EXECUTION_DAYS"] = env.int("PAYOUT_EXECUTION_DAYS", default=1)

# --- Data protection at rest: field encryption, private files, upload quota ------------------
# Fernet keys for encrypted model fields (paymint/core/crypto.py), comma-separated, NEWEST
# FIRST: new values are encrypted under the first, any listed key decrypts. Rotate: put a new
# key in front, deploy, run `manage.py rotate_field_encryption_keys`, then drop the old key.
# Only from the environment (local/test derive a development key; production refuses to
# start without it).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# Uploaded documents are served only through short-lived signed URLs bound to the object and
# the user (paymint/core/storage.py), as attachments; with S3, as presigned S3 URLs.
PRIVATE_FILE_URL_MAX_AGE = env.int("PRIVATE_FILE_URL_MAX_AGE", default=300)  # seconds
if STORAGES["default"]["BACKEND"] == "storages.backends.s3.S3Storage":
    from botocore.config import Config as BotoConfig

    STORAGES["default"]["OPTIONS"].update({
        "querystring_expire": PRIVATE_FILE_URL_MAX_AGE,  # presigned URLs live as long
        "region_name": env("AWS_S3_REGION_NAME", default=None),
        # (A client_config replaces django-storages' own signature/addressing options.) SigV4
        # presigned URLs; fail fast (readiness probe, uploads) instead of long retries.
        "client_config": BotoConfig(
            signature_version="s3v4",
            s3={"addressing_style": env("AWS_S3_ADDRESSING_STYLE", default="auto")},
            connect_timeout=3, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"},
        ),
    })
# Per-user upload quota over the last 24 hours, invoices and KYC/KYB documents together
# (paymint/core/uploads.py): files and bytes; 0 = no limit.
UPLOAD_QUOTA_FILES_PER_DAY = env.int("UPLOAD_QUOTA_FILES_PER_DAY", default=50)
UPLOAD_QUOTA_BYTES_PER_DAY = env.int("UPLOAD_QUOTA_BYTES_PER_DAY", default=250 * 1024 * 1024)

# --- Browser security headers: CSP, Referrer-, Permissions- and Cross-Origin-Opener-Policy -----
# Content-Security-Policy (django-csp 4; paymint/core/csp.py adds the admin's policy and the
# report endpoint). Scripts and styles only from this origin: no inline script unless it carries
# the request's nonce ({{ request.csp_nonce }}), no inline style attributes or <style>; images
# also as data: URIs (Pico's icons in CSS). Private downloads send their own stricter policy.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CSP_REPORT_PATH = "/csp-report/"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": [CSP_REPORT_PATH],
        "report-to": "csp-endpoint",
    },
}
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "paymint.core.csp.PayMintCSPMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("paymint.core.csp.PayMintCSPMiddleware") + 1,
                  "django_permissions_policy.PermissionsPolicyMiddleware")
TEMPLATES[0]["OPTIONS"]["context_processors"].append("csp.context_processors.nonce")
INSTALLED_APPS.append("drf_spectacular_sidecar")  # Swagger UI's static files (API docs)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["csp_reports"] = env(
    "THROTTLE_RATE_CSP_REPORTS", default="60/min")  # per IP: violation reports
# Referrer: full URL within the site only (invoice and listing ids stay here).
SECURE_REFERRER_POLICY = "same-origin"
# A page opened from PayMint (or opening it) shares no window with it.
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Powerful browser features PayMint never uses are switched off for it and anything it embeds.
PERMISSIONS_POLICY = {
    "accelerometer": [], "autoplay": [], "bluetooth": [], "browsing-topics": [],
    "camera": [], "display-capture": [], "geolocation": [], "gyroscope": [], "hid": [],
    "magnetometer": [], "microphone": [], "midi": [], "payment": [], "serial": [], "usb": [],
    "fullscreen": ["self"],
}

# --- Notifications (issue #12: notifications/) ------------------------------------------------
# Push to the mobile app: off unless PUSH_BACKEND names a backend. FCM HTTP v1 goes to
# PUSH_FCM_ENDPOINT: the local stand-in (devtools/fcm_local, 127.0.0.1) in tests and the demo;
# production sets Google's endpoint, the project and an OAuth 2 access token.
PUSH_BACKEND = env("PUSH_BACKEND", default="notifications.push.DisabledPushBackend")
PUSH_FCM_ENDPOINT = env("PUSH_FCM_ENDPOINT", default="http://127.0.0.1:9099")
PUSH_FCM_PROJECT_ID = env("PUSH_FCM_PROJECT_ID", default="paymint-local")
PUSH_FCM_ACCESS_TOKEN = env("PUSH_FCM_ACCESS_TOKEN", default="local-fcm-token")
# Production: the service account's JSON key; the backend mints OAuth 2 tokens from it (the
# JWT bearer grant) instead of using PUSH_FCM_ACCESS_TOKEN.
PUSH_FCM_SERVICE_ACCOUNT_FILE = env("PUSH_FCM_SERVICE_ACCOUNT_FILE", default="")
PUSH_TIMEOUT_SECONDS = env.float("PUSH_TIMEOUT_SECONDS", default=10.0)
# A delivery (email into the outbox, a push) is tried this many times, with backoff, then FAILED.
NOTIFICATION_DELIVERY_MAX_ATTEMPTS = env.int("NOTIFICATION_DELIVERY_MAX_ATTEMPTS", default=6)
# Live updates (notifications/live.py, notifications/stream.py): Redis pub/sub between the
# processes that commit and the ones serving GET /api/v1/events (ASGI: uvicorn). Off when unset.
LIVE_UPDATES_REDIS_URL = env("LIVE_UPDATES_REDIS_URL", default=REDIS_URL)
LIVE_UPDATES_CHANNEL_PREFIX = env("LIVE_UPDATES_CHANNEL_PREFIX", default="paymint")
LIVE_UPDATES_HEARTBEAT_SECONDS = env.float("LIVE_UPDATES_HEARTBEAT_SECONDS", default=15.0)
# A stream is closed after this long (the browser reconnects with Last-Event-ID at once), so
# that proxies and deploys never hold one for ever.
LIVE_UPDATES_MAX_SECONDS = env.float("LIVE_UPDATES_MAX_SECONDS", default=300.0)
# Under WSGI (no streaming without pinning a worker) the endpoint answers what is pending and
# closes; EventSource comes back after this many milliseconds (polling).
LIVE_UPDATES_POLL_RETRY_MS = env.int("LIVE_UPDATES_POLL_RETRY_MS", default=10000)
