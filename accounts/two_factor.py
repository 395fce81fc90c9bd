"""Optional two-factor sign-in with a TOTP authenticator app (django-otp), required for staff.

A user has at most one TOTP device. Enrolment creates an *unconfirmed* device (its secret is
shown as an ``otpauth://`` URI and a QR code); the first valid code confirms it. From then on
sign-in asks for a code after the password, and staff reach the admin only with a verified
session (:class:`accounts.middleware.StaffTwoFactorMiddleware`).

Codes are checked against the user's own device with :meth:`TOTPDevice.verify_token`, which
applies django-otp's throttling (growing delays after failures) and refuses a code that was
already used (``last_t``).
"""

from __future__ import annotations

import base64
import io

import qrcode
import qrcode.image.svg
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from paymint.core.errors import PermissionDenied, ValidationFailed
from paymint.core.events import EventName, event_emit

from .error_codes import AccountsError
from .models import User

DEVICE_NAME = "Authenticator app"


def totp_device_for_user(*, user: User) -> TOTPDevice | None:
    """The user's confirmed TOTP device, or None when two-factor is off."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def totp_enrolment_start(*, user: User) -> TOTPDevice:
    """The user's pending (unconfirmed) device, created on first call; the same secret is
    shown on every reload until it is confirmed.

    Raises:
        ValidationFailed: ``TWO_FACTOR_ALREADY_ON`` when a confirmed device exists.
    """
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise ValidationFailed(
                "Two-factor sign-in is already on.", code=AccountsError.TWO_FACTOR_ALREADY_ON
            )
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
        return device


def totp_enrolment_confirm(*, user: User, token: str) -> TOTPDevice:
    """Confirm the pending device with a code from the app.

    Raises:
        ValidationFailed: ``INVALID_OTP`` for a wrong, reused or throttled code;
            ``NO_PENDING_DEVICE`` when enrolment was not started.
    """
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            raise ValidationFailed("Start the set-up again.", code=AccountsError.NO_PENDING_DEVICE)
        # The throttling counter a failure increments must commit: raise after the block.
        valid = device.verify_token(_clean(token))
        if valid:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            event_emit(name=EventName.SECURITY_TWO_FACTOR_CHANGED,
                       key=f"security.two_factor_changed:on:{device.pk}",
                       recipients={user: {"enabled": True}})
    if not valid:
        raise _invalid_code()
    return device


def totp_verify(*, user: User, token: str) -> TOTPDevice:
    """Check a sign-in code against the user's confirmed device.

    Raises:
        ValidationFailed: ``INVALID_OTP`` (wrong, reused or throttled code, or no device).
    """
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        valid = device is not None and device.verify_token(_clean(token))
    if not valid:  # raised outside the block so that the throttling counter is kept
        raise _invalid_code()
    return device


def totp_step_up(*, user: User, code: str, action: str) -> TOTPDevice:
    """Check a fresh code before a sensitive ``action`` (e.g. "withdraw 12,000 EUR"); the
    errors name the ``otp_code`` field of the API input and the dashboard form.

    Raises:
        PermissionDenied: ``TWO_FACTOR_SETUP_REQUIRED`` when the user has no confirmed device.
        ValidationFailed: ``OTP_REQUIRED`` (no code given), ``INVALID_OTP`` (wrong, reused or
            throttled code).
    """
    if totp_device_for_user(user=user) is None:
        raise PermissionDenied(
            f"To {action}, first turn on two-factor sign-in with an authenticator app.",
            code=AccountsError.TWO_FACTOR_SETUP_REQUIRED,
            fields={"otp_code": ["Set up two-factor sign-in first."]},
        )
    if not _clean(code):
        raise ValidationFailed(
            f"To {action}, enter the 6-digit code from your authenticator app.",
            code=AccountsError.OTP_REQUIRED,
            fields={"otp_code": ["Enter the code from your authenticator app."]},
        )
    try:
        return totp_verify(user=user, token=code)
    except ValidationFailed as exc:
        raise ValidationFailed(
            exc.message, code=exc.code, fields={"otp_code": ["Invalid code."]}
        ) from None


def totp_disable(*, user: User, password: str, token: str) -> None:
    """Turn two-factor off after checking the password and a current code (the dashboard and
    ``DELETE /api/v1/me/two-factor``). Staff cannot turn it off.

    Raises:
        PermissionDenied: ``TWO_FACTOR_REQUIRED`` for staff.
        ValidationFailed: ``WRONG_PASSWORD`` (on ``password``), ``INVALID_OTP``,
            ``TWO_FACTOR_NOT_ON``; nothing is changed.
    """
    if user.is_staff:
        raise PermissionDenied(
            "Staff accounts must keep two-factor sign-in.", code=AccountsError.TWO_FACTOR_REQUIRED
        )
    if not user.check_password(password or ""):
        raise ValidationFailed(
            "The password is not right.",
            code=AccountsError.WRONG_PASSWORD,
            fields={"password": ["Wrong password."]},
        )
    if totp_device_for_user(user=user) is None:
        raise ValidationFailed(
            "Two-factor sign-in is not on.", code=AccountsError.TWO_FACTOR_NOT_ON
        )
    device = totp_verify(user=user, token=token)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        event_emit(name=EventName.SECURITY_TWO_FACTOR_CHANGED,
                   key=f"security.two_factor_changed:off:{device.pk}",
                   recipients={user: {"enabled": False}})


def totp_status(*, user: User) -> dict[str, bool]:
    """``{"enabled": a confirmed device exists, "pending": an enrolment awaits its first
    code, "required": the user must have it (staff)}``."""
    confirmed = set(TOTPDevice.objects.filter(user=user).values_list("confirmed", flat=True))
    return {
        "enabled": True in confirmed,
        "pending": False in confirmed and True not in confirmed,
        "required": bool(user.is_staff),
    }


def totp_qr_svg(device: TOTPDevice) -> str:
    """The device's ``otpauth://`` URI as an inline SVG QR code (no external service)."""
    image = qrcode.make(
        device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2
    )
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    # Drop the XML declaration so the SVG can sit inline in HTML.
    return svg[svg.index("<svg") :]


def totp_secret_base32(device: TOTPDevice) -> str:
    """The shared secret in the base32 form authenticator apps accept for manual entry."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def user_for_pending_sign_in(*, user_id: int) -> User | None:
    """The active user whose password step is done (id from the server-side session)."""
    return User.objects.filter(pk=user_id, is_active=True).first()


def _clean(token: str) -> str:
    return "".join((token or "").split())


def _invalid_code() -> ValidationFailed:
    return ValidationFailed(
        "That code is not valid. Check your authenticator app's time and try again.",
        code=AccountsError.INVALID_OTP,
        fields={"token": ["Invalid code."]},
    )
