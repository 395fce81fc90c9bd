"""Forgotten passwords: a reset link by email, then a new password that ends every sign-in.

One service for the dashboard (``/password-reset/``) and the API
(``POST auth/password/reset``, ``POST auth/password/reset/confirm``). The token is Django's
``default_token_generator`` (an HMAC over the user's password hash, last sign-in and the time:
it stops working once used, when the password changes, and after ``PASSWORD_RESET_TIMEOUT``
seconds), written ``"<uidb64>/<token>"`` - the last two segments of the emailed link.

Asking for a reset answers the same whatever the email, so nobody can learn which accounts
exist; only an active account with a usable password gets a mail. The mail goes through the
outbox (:func:`paymint.core.outbox.outbox_enqueue_email`), after commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.template.loader import render_to_string
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from paymint.core.errors import ValidationFailed
from paymint.core.outbox import outbox_enqueue_email

from .error_codes import AccountsError
from .models import User
from .services import user_password_set


def password_reset_token(*, user: User) -> str:
    """The reset token of ``user`` as ``"<uidb64>/<token>"``."""
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    return f"{uidb64}/{default_token_generator.make_token(user)}"


def password_reset_request(*, email: str, link_for: Callable[[str], str]) -> None:
    """Email a reset link to the active account with this address, if there is one.

    Returns nothing and raises nothing for an unknown, inactive or password-less account: the
    caller answers the same in every case.
    """
    email = (email or "").strip()
    user = User.objects.filter(email__iexact=email, is_active=True).first()
    if user is None or not user.has_usable_password():
        return
    token = password_reset_token(user=user)
    body = render_to_string(
        "accounts/email/password_reset.txt", {"email": user.email, "link": link_for(token)}
    )
    subject = render_to_string("accounts/email/password_reset_subject.txt").strip()
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    with transaction.atomic():
        outbox_enqueue_email(
            dedupe_key=f"password-reset:{user.pk}:{digest}",
            recipient=user.email,
            subject=subject,
            body=body,
        )


def password_reset_user(*, token: str) -> User:
    """The user a reset token ``"<uidb64>/<token>"`` is valid for.

    Raises:
        ValidationFailed: ``RESET_LINK_INVALID`` (bad, used or expired token).
    """
    uidb64, _, secret = (token or "").partition("/")
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        pk = None
    user = User.objects.filter(pk=pk, is_active=True).first() if pk else None
    if user is None or not default_token_generator.check_token(user, secret):
        raise ValidationFailed(
            "This reset link is not valid any more. Ask for a new one.",
            code=AccountsError.RESET_LINK_INVALID,
            fields={"token": ["Invalid or expired."]},
        )
    return user


def password_reset_confirm(*, token: str, new_password: str) -> User:
    """Set a new password with a reset token: every refresh token is revoked, other sessions
    end and the address's sign-in lockouts are cleared (:func:`accounts.services.
    user_password_set` with ``via_reset``). The token then no longer works.

    Raises:
        ValidationFailed: ``RESET_LINK_INVALID``; ``WEAK_PASSWORD`` (on ``new_password``).
    """
    user = password_reset_user(token=token)
    try:
        user_password_set(user=user, password=new_password, via_reset=True)
    except ValidationFailed as exc:
        exc.fields = {"new_password": exc.fields.get("password", [exc.message])}
        raise
    return user
