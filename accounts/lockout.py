"""Brute-force lockout (django-axes) glue: who is signing in, and what a locked-out client sees.

Axes counts failed sign-ins per email address *and* IP address (``AXES_LOCKOUT_PARAMETERS``)
on every path that calls :func:`django.contrib.auth.authenticate` with the request: the sign-in
page (the Django admin's login only redirects there, see
:class:`accounts.middleware.StaffTwoFactorMiddleware`) and the API token endpoint
(:func:`accounts.sign_in.token_pair_obtain`). After ``AXES_FAILURE_LIMIT`` failures the
pair is locked for ``AXES_COOLOFF_TIME``, even with the right password; a successful sign-in
clears the count.

A locked-out API client gets 429 ``ACCOUNT_LOCKED`` with ``Retry-After``; the sign-in page
shows ``accounts/locked_out.html`` (also 429).
"""

from __future__ import annotations

import datetime as dt
import math

from axes.helpers import get_cool_off
from axes.models import AccessAttempt, AccessLog
from axes.utils import reset as axes_reset
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from paymint.core.errors import ApplicationError

from .error_codes import AccountsError


def axes_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """``AXES_USERNAME_CALLABLE``: the email being signed in with, lower-cased (sign-in is
    case-insensitive, so ``Ann@X.com`` and ``ann@x.com`` share one failure count).

    ``credentials`` are what was passed to ``authenticate`` (``username``, or ``email`` from
    the API) or, after a successful sign-in, ``{AXES_USERNAME_FORM_FIELD: email}``.
    """
    value = None
    if credentials:
        value = credentials.get("username") or credentials.get("email")
    if value is None and request is not None:
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        value = data.get("username") or data.get("email")
    if not isinstance(value, str):
        return None
    return value.strip().lower()[:255] or None


def cooloff_seconds() -> int:
    """How long a lockout lasts, in seconds (``AXES_COOLOFF_TIME``)."""
    cool_off = get_cool_off()
    return int(cool_off.total_seconds()) if cool_off else 0


def account_locked_error() -> ApplicationError:
    """The API error for a locked-out sign-in: 429 ``ACCOUNT_LOCKED``."""
    minutes = max(1, math.ceil(cooloff_seconds() / 60))
    return ApplicationError(
        f"Too many failed sign-in attempts. Signing in to this account from your address is "
        f"locked for {minutes} minutes.",
        code=AccountsError.ACCOUNT_LOCKED,
        http_status=429,
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the answer :class:`axes.middleware.AxesMiddleware` sends in
    place of a locked-out sign-in's response. JSON under ``/api/``, a page elsewhere."""
    seconds = cooloff_seconds()
    if request.path.startswith("/api/"):
        error = account_locked_error()
        response: HttpResponse = JsonResponse(
            {"code": error.code, "message": error.message, "fields": error.fields},
            status=error.http_status,
        )
    else:
        response = render(
            request,
            "accounts/locked_out.html",
            {"cooloff_minutes": max(1, math.ceil(seconds / 60))},
            status=429,
        )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


def lockout_clear(*, email: str) -> int:
    """Forget the failed sign-ins of ``email`` from every address (after the owner proved
    control of the mailbox with a password-reset link). Returns the records removed."""
    return axes_reset(username=email.strip().lower())


def lockout_records_prune(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete failed-sign-in records older than the cool-off (they no longer count; axes itself
    clears them only when someone signs in or fails again) and
    successful sign-in records (email, IP address, user agent) older than
    ``AXES_ACCESS_LOG_DAYS``. Returns the rows removed per kind."""
    now = now or timezone.now()
    attempts, _ = AccessAttempt.objects.filter(
        attempt_time__lt=now - dt.timedelta(seconds=cooloff_seconds())
    ).delete()
    logs, _ = AccessLog.objects.filter(
        attempt_time__lt=now - dt.timedelta(days=settings.AXES_ACCESS_LOG_DAYS)
    ).delete()
    return {"failed_attempts": attempts, "access_logs": logs}
