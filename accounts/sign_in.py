"""Signing in to the API, one factor or two: the same rules as the browser's sign-in page.

The first factor is the password (``POST /api/v1/auth/token``) or a signed SEP-10 challenge
(``POST /api/v1/stellar/auth/login``). For a user without a confirmed authenticator
(:func:`accounts.two_factor.totp_device_for_user`) it is enough: :func:`sign_in_complete` issues
the JWT pair. For a user with one - staff included - it is not: :func:`sign_in_complete` raises
401 ``OTP_REQUIRED`` carrying an ``mfa_token`` (:class:`accounts.models.SignInChallenge`,
single use, valid ``SIGN_IN_CHALLENGE_SECONDS``), and only :func:`sign_in_second_factor` with
that token and a current TOTP code issues the pair.

Brute force: a wrong code counts as a failed sign-in for django-axes, per email and IP address,
in the same count as wrong passwords on the sign-in page and the token endpoint
(:mod:`accounts.lockout`); the browser's code step (:func:`accounts.views.two_factor_verify`)
goes through :func:`sign_in_code_check` too. While the pair is locked out a code is refused
with 429 ``ACCOUNT_LOCKED`` even when right. A challenge is also void after
``SIGN_IN_CHALLENGE_MAX_FAILURES`` wrong codes, and django-otp adds its own growing delays per
device. The failure count is cleared only once the second factor succeeds, so a password alone
never resets it.

Errors: ``OTP_REQUIRED`` (401, with ``mfa_token``), ``MFA_TOKEN_INVALID`` (401: unknown,
expired, used or void token: sign in again), ``INVALID_OTP`` (400: wrong, reused or throttled
code; the same token may be tried again), ``ACCOUNT_LOCKED`` (429).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import secrets

from axes.handlers.proxy import AxesProxyHandler
from axes.utils import reset as axes_reset
from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from paymint.core.error_codes import CoreError
from paymint.core.errors import ApplicationError, ValidationFailed
from paymint.core.events import EventName, event_emit
from paymint.core.throttling import client_ip

from .auth_tokens import token_pair_issue
from .error_codes import AccountsError, SignInError
from .lockout import account_locked_error
from .models import SignInChallenge, SignInOrigin, User
from .two_factor import totp_device_for_user, totp_verify

#: How long an ``mfa_token`` may be exchanged, in seconds (the browser's pending sign-in lasts
#: as long: ``accounts.views.PENDING_SIGN_IN_SECONDS``).
SIGN_IN_CHALLENGE_SECONDS = 300
#: Wrong codes after which an ``mfa_token`` is void (the axes limit usually comes first).
SIGN_IN_CHALLENGE_MAX_FAILURES = 5


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _lockout_credentials(user: User) -> dict[str, str]:
    # The same key the password step uses (accounts.lockout.axes_username lower-cases it).
    return {"username": user.email}


def sign_in_code_check(*, request: HttpRequest, user: User, code: str) -> TOTPDevice:
    """Check the code of a sign-in whose first factor ``user`` has passed.

    ``request`` is the Django request (client IP for django-axes). A wrong code is recorded as
    a failed sign-in of ``user.email`` from this address; at ``AXES_FAILURE_LIMIT`` the pair is
    locked out, as after wrong passwords.

    Raises:
        ApplicationError: ``ACCOUNT_LOCKED`` (429) while the email and address are locked out.
        ValidationFailed: ``INVALID_OTP`` (400) for a wrong, reused or throttled code.
    """
    credentials = _lockout_credentials(user)
    if AxesProxyHandler.is_locked(request, credentials):
        raise account_locked_error()
    try:
        return totp_verify(user=user, token=code)
    except ValidationFailed:
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        raise


def sign_in_succeeded(*, request: HttpRequest, user: User) -> None:
    """Every factor passed: clear the failure count of the email and address, record the
    sign-in time and where it came from (:func:`sign_in_origin_record`). Called by the API
    sign-ins; the browser's sign-in pages call :func:`sign_in_origin_record` themselves."""
    ip_address = getattr(request, "axes_ip_address", None)
    if ip_address:
        axes_reset(ip=ip_address, username=user.email.strip().lower())
    update_last_login(None, user)
    sign_in_origin_record(request=request, user=user)


def _valid_ip(raw: str) -> str | None:
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        return None


def sign_in_origin_record(*, request: HttpRequest, user: User) -> bool:
    """Record that ``user`` completed a sign-in from this request's address and user agent;
    a pair not seen before emits ``security.new_sign_in`` to the user (not for the very first
    sign-in of an account: there is nothing to compare it with).

    Returns:
        True when the pair is new.
    """
    ip = _valid_ip(client_ip(request))
    agent = (request.META.get("HTTP_USER_AGENT") or "")[:300]
    fingerprint = hashlib.sha256(f"{ip}|{agent}".encode()).hexdigest()
    now = timezone.now()
    with transaction.atomic():
        known = SignInOrigin.objects.filter(user=user).exists()
        origin, created = SignInOrigin.objects.get_or_create(
            user=user, fingerprint=fingerprint,
            defaults={"ip_address": ip, "user_agent": agent, "last_seen_at": now},
        )
        if not created:
            SignInOrigin.objects.filter(pk=origin.pk).update(last_seen_at=now, updated_at=now)
        elif known:
            event_emit(
                name=EventName.SECURITY_NEW_SIGN_IN,
                key=f"security.new_sign_in:{origin.pk}",
                recipients={user: {"ip": ip or "", "device": agent[:120]}},
            )
    return created


def sign_in_complete(
    *, request: HttpRequest, user: User, method: SignInChallenge.Method
) -> dict[str, str]:
    """The first factor (``method``) of ``user`` is proved: the token pair, or the second step.

    Returns:
        ``{"refresh", "access"}`` for a user without two-factor.

    Raises:
        ApplicationError: ``OTP_REQUIRED`` (401) for a user with a confirmed authenticator,
            with ``extra={"mfa_token": ...}`` (single use, ``SIGN_IN_CHALLENGE_SECONDS``); the
            challenge row is committed before the error is raised.
    """
    if totp_device_for_user(user=user) is None:
        sign_in_succeeded(request=request, user=user)
        return token_pair_issue(user=user)
    raw = secrets.token_urlsafe(32)
    SignInChallenge.objects.create(
        user=user,
        token_digest=_digest(raw),
        method=method,
        expires_at=timezone.now() + dt.timedelta(seconds=SIGN_IN_CHALLENGE_SECONDS),
    )
    raise ApplicationError(
        "Enter the 6-digit code from your authenticator app to finish signing in.",
        code=SignInError.OTP_REQUIRED,
        extra={"mfa_token": raw},
    )


def token_pair_obtain(*, request: HttpRequest, email: str, password: str) -> dict[str, str]:
    """``POST /api/v1/auth/token``: check the email and password, then
    :func:`sign_in_complete`.

    ``request`` is the Django request: django-axes counts a failure per email and IP address
    and refuses a locked-out pair before checking the password.

    Returns:
        ``{"refresh", "access"}`` for a user without two-factor.

    Raises:
        ApplicationError: ``ACCOUNT_LOCKED`` (429), ``AUTHENTICATION_FAILED`` (401),
            ``OTP_REQUIRED`` (401, with ``mfa_token``).
    """
    user = authenticate(request=request, username=email, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            raise account_locked_error()
        raise ApplicationError(
            "No active account found with the given credentials.",
            code=CoreError.AUTHENTICATION_FAILED,
        )
    if not jwt_settings.USER_AUTHENTICATION_RULE(user):
        raise ApplicationError("This account is disabled.", code=CoreError.AUTHENTICATION_FAILED)
    return sign_in_complete(request=request, user=user, method=SignInChallenge.Method.PASSWORD)


def _challenge_invalid() -> ApplicationError:
    return ApplicationError(
        "This sign-in has expired or was already used. Sign in again.",
        code=SignInError.MFA_TOKEN_INVALID,
        fields={"mfa_token": ["Sign in again."]},
    )


def sign_in_second_factor(*, request: HttpRequest, mfa_token: str, code: str) -> dict[str, str]:
    """Exchange an ``mfa_token`` and a current TOTP code for the token pair.

    The challenge row is locked, so of two concurrent exchanges of one token at most one
    succeeds. A wrong code is counted on the challenge and by django-axes (see
    :func:`sign_in_code_check`); both counts commit although the call raises.

    Raises:
        ApplicationError: ``MFA_TOKEN_INVALID`` (401), ``ACCOUNT_LOCKED`` (429).
        ValidationFailed: ``INVALID_OTP`` (400).
    """
    now = timezone.now()
    error: ApplicationError | None = None
    with transaction.atomic():
        challenge = (
            SignInChallenge.objects.select_for_update()
            .select_related("user")
            .filter(token_digest=_digest(mfa_token or ""))
            .first()
        )
        if (
            challenge is None
            or challenge.consumed_at is not None
            or challenge.expires_at <= now
            or challenge.failed_attempts >= SIGN_IN_CHALLENGE_MAX_FAILURES
            or not challenge.user.is_active
        ):
            raise _challenge_invalid()
        user = challenge.user
        try:
            sign_in_code_check(request=request, user=user, code=code)
        except ApplicationError as exc:
            # Not raised inside the block: the counts must commit.
            error = exc
            if exc.code == AccountsError.INVALID_OTP:
                challenge.failed_attempts += 1
                challenge.save(update_fields=["failed_attempts", "updated_at"])
        else:
            challenge.consumed_at = now
            challenge.save(update_fields=["consumed_at", "updated_at"])
    if error is not None:
        if error.code == AccountsError.INVALID_OTP:
            error.fields = {"code": ["Invalid code."]}
        raise error
    sign_in_succeeded(request=request, user=user)
    return token_pair_issue(user=user)


def sign_in_challenges_prune(*, now: dt.datetime | None = None) -> int:
    """Delete sign-in challenges past their expiry (used or not). Returns the rows removed."""
    deleted, _ = SignInChallenge.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
