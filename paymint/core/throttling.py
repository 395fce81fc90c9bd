"""Rate limits for the API and the sign-in/sign-up pages, counted in the ``throttle`` cache.

Each scope allows ``N`` requests per period (``"10/min"``) per client: per IP address for the
anonymous endpoints (sign-in, registration, bank webhooks), per user for the signed-in ones
(funding, uploads). Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (environment
``THROTTLE_RATE_<SCOPE>``) and are read on every request, so a settings override applies at once.

Counting is a fixed window with one atomic ``INCR`` per request in Redis (``CACHES["throttle"]``,
locmem in the embedded default): concurrent requests can never slip past the limit together, and
the wait told to the client (``Retry-After``, whole seconds) is the time left in the window. Only
``POST`` is counted (``methods``): reads on the same views are never limited.

When the throttle cache is unreachable the request is let through and the error logged: losing
Redis must not take sign-in down with it.

Over the limit the API answers 429 ``RATE_LIMITED`` (DRF's ``Throttled`` through
:func:`paymint.core.api.exception_handler`, which keeps the ``Retry-After`` header); dashboard
views wrapped with :func:`throttle_view` render ``429.html`` with the same header.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

#: The cache alias holding the counters.
CACHE_ALIAS = "throttle"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_ip(request: HttpRequest) -> str:
    """The client's IP address: ``REMOTE_ADDR``, or, behind ``TRUSTED_PROXY_COUNT`` reverse
    proxies, the address the outermost trusted proxy saw (counted from the right of
    ``X-Forwarded-For``, so that a client cannot choose its own address by sending the header).

    Also django-axes' ``AXES_CLIENT_IP_CALLABLE``, so lockouts and rate limits agree.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies <= 0:
        return remote
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [p for p in forwarded if p]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]


def parse_rate(rate: str) -> tuple[int, int]:
    """``"10/min"`` -> ``(10, 60)``: requests allowed and the window in seconds
    (``s``, ``m``, ``h``, ``d``, optionally prefixed by a count such as ``"5/15m"``)."""
    try:
        count, period = rate.split("/")
        unit = period.strip()
        multiple = ""
        while unit and unit[0].isdigit():
            multiple, unit = multiple + unit[0], unit[1:]
        seconds = _PERIODS[unit[0].lower()] * (int(multiple) if multiple else 1)
        return int(count), seconds
    except (ValueError, KeyError, IndexError):
        raise ImproperlyConfigured(f"Invalid throttle rate {rate!r}; use e.g. '10/min'.") from None


class ScopedThrottle(BaseThrottle):
    """Base class: ``scope`` names the rate; :meth:`ident` names the client."""

    scope: str = ""
    #: HTTP methods that count (and can be refused); others always pass.
    methods: frozenset[str] = frozenset({"POST"})

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def rate(self) -> tuple[int, int]:
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        if self.scope not in rates:
            raise ImproperlyConfigured(f"No throttle rate set for scope {self.scope!r}.")
        return parse_rate(rates[self.scope])

    def ident(self, request) -> str:
        raise NotImplementedError

    def allow_request(self, request, view=None) -> bool:
        """Count this request; False (and :meth:`wait` set) once over the limit."""
        if request.method not in self.methods:
            return True
        limit, window = self.rate()
        now = time.time()
        slot = int(now // window)
        key = f"{self.scope}:{self.ident(request)}:{window}:{slot}"
        cache = caches[CACHE_ALIAS]
        try:
            cache.add(key, 0, timeout=window + 1)
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr: start the window again
                cache.add(key, 1, timeout=window + 1)
                count = 1
        except Exception:  # noqa: BLE001 - fail open, see the module docstring
            logger.exception("throttle cache unavailable; letting %s through", self.scope)
            return True
        if count <= limit:
            return True
        self.wait_seconds = max((slot + 1) * window - now, 1.0)
        logger.warning("rate limit %s exceeded by %s", self.scope, self.ident(request))
        return False

    def wait(self) -> float | None:
        return self.wait_seconds


class IpThrottle(ScopedThrottle):
    def ident(self, request) -> str:
        return "ip:" + (client_ip(request) or "unknown")


class UserThrottle(ScopedThrottle):
    """Per signed-in user (by ``public_id``, stable and unique across databases); anonymous
    requests fall back to the IP address."""

    def ident(self, request) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.public_id}"
        return "ip:" + (client_ip(request) or "unknown")


class LoginThrottle(IpThrottle):
    """Sign-in attempts (API token endpoint and the sign-in page) per IP address."""

    scope = "login"


class RegistrationThrottle(IpThrottle):
    """Account creation (API and sign-up page) per IP address."""

    scope = "registration"


class FundingThrottle(UserThrottle):
    """Investments per investor."""

    scope = "funding"


class UploadThrottle(UserThrottle):
    """Invoice and KYC/KYB document uploads per user."""

    scope = "uploads"


class WebhookThrottle(IpThrottle):
    """Bank webhook deliveries per sending IP address."""

    scope = "webhooks"


def throttle_view(throttle_class: type[ScopedThrottle]) -> Callable:
    """Apply a throttle to a dashboard (non-DRF) view: over the limit it renders ``429.html``
    with status 429 and ``Retry-After``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            throttle = throttle_class()
            if not throttle.allow_request(request):
                retry_after = math.ceil(throttle.wait() or 1)
                response = render(
                    request,
                    "429.html",
                    {"retry_after": retry_after, "minutes": math.ceil(retry_after / 60)},
                    status=429,
                )
                response["Retry-After"] = str(retry_after)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
