"""Email address verification: a signed, expiring link sent at sign-up.

The token is ``django.core.signing`` over the user's public id and current email (salted,
timestamped, valid ``settings.EMAIL_VERIFICATION_MAX_AGE`` seconds). Changing the email
invalidates older links; using a link twice is harmless (the first use wins).

Unverified users can sign in and look around; KYC/KYB cannot be sent until they confirm their
address (:func:`accounts.services.kyc_submit`, ``EMAIL_NOT_VERIFIED``), on the dashboard and in
the API alike. The link can be sent again at most once a minute
(:func:`email_verification_resend`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from paymint.core.errors import ApplicationError, Conflict, ValidationFailed
from paymint.core.outbox import outbox_enqueue_email

from .error_codes import AccountsError
from .models import User

SALT = "accounts.email-verification"
#: The shortest interval between two confirmation emails to one user, in seconds.
RESEND_INTERVAL_SECONDS = 60


def email_verification_token(*, user: User) -> str:
    """A signed token naming the user and the address being confirmed."""
    return signing.TimestampSigner(salt=SALT).sign_object(
        {"user": str(user.public_id), "email": user.email}, compress=True
    )


def email_verification_send(*, user: User, link_for: Callable[[str], str]) -> str:
    """Email the user a confirmation link (``link_for(token)`` builds the absolute URL).

    The mail is written to the outbox and leaves after commit. Returns the token.
    """
    token = email_verification_token(user=user)
    context = {
        "user": user,
        "link": link_for(token),
        "hours": settings.EMAIL_VERIFICATION_MAX_AGE // 3600,
    }
    subject = "Confirm your email address for PayMint"
    body = render_to_string("accounts/email/verify_email.txt", context)
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    with transaction.atomic():
        outbox_enqueue_email(
            dedupe_key=f"email-verification:{user.pk}:{digest}",
            recipient=user.email,
            subject=subject,
            body=body,
        )
    return token


def email_verification_resend(*, user: User, link_for: Callable[[str], str]) -> str:
    """Send the confirmation link again (the dashboard's button, ``POST auth/email/resend``).

    At most once every ``RESEND_INTERVAL_SECONDS`` per user, counted in the default cache
    (shared by all web processes); if the cache is down the mail is sent (fail open: a mail
    too many is better than a user who cannot confirm). Returns the token.

    Raises:
        Conflict: ``EMAIL_ALREADY_VERIFIED`` (409).
        ApplicationError: ``VERIFICATION_RESEND_TOO_SOON`` (429).
    """
    if user.email_verified_at is not None:
        raise Conflict(
            "Your email address is already confirmed.", code=AccountsError.EMAIL_ALREADY_VERIFIED
        )
    try:
        first = cache.add(f"email-verification-sent:{user.pk}", 1, RESEND_INTERVAL_SECONDS)
    except Exception:  # noqa: BLE001 - fail open, see the docstring
        first = True
    if not first:
        raise ApplicationError(
            "We just sent you an email; please wait a minute before asking again.",
            code=AccountsError.VERIFICATION_RESEND_TOO_SOON,
        )
    return email_verification_send(user=user, link_for=link_for)


def email_verify(*, token: str) -> User:
    """Mark the address in ``token`` verified.

    Raises:
        ValidationFailed: ``VERIFICATION_LINK_EXPIRED`` or ``VERIFICATION_LINK_INVALID``
            (bad signature, unknown user, or the account's email changed since).
    """
    signer = signing.TimestampSigner(salt=SALT)
    try:
        payload = signer.unsign_object(token, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.SignatureExpired:
        raise ValidationFailed(
            "This confirmation link has expired. Sign in and ask for a new one.",
            code=AccountsError.VERIFICATION_LINK_EXPIRED,
        ) from None
    except signing.BadSignature:
        raise _invalid() from None
    if not isinstance(payload, dict):
        raise _invalid()
    with transaction.atomic():
        user = (
            User.objects.select_for_update()
            .filter(public_id=payload.get("user"), email=payload.get("email"))
            .first()
        )
        if user is None:
            raise _invalid()
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at", "updated_at"])
    return user


def _invalid() -> ValidationFailed:
    return ValidationFailed(
        "This confirmation link is not valid. Sign in and ask for a new one.",
        code=AccountsError.VERIFICATION_LINK_INVALID,
    )
