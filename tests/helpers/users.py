"""Users as the product makes them: registered, confirmed and approved through the real
services (never rows written by hand where the status matters), and clients signed in as them."""

from __future__ import annotations

from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.kyc_documents import kyc_document_upload, kyc_onboarding_document_kind
from accounts.models import User
from accounts.services import kyc_approve, kyc_submit, user_register

STRONG_PASSWORD = "correct-horse-battery-42"

#: The smallest valid PNG (1x1 pixel): a stand-in identity or register document.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

#: Valid EU VAT ids (python-stdnum accepts them) for the investors ``make_investor`` creates.
INVESTOR_TAX_IDS = ["FR40303265045", "NL004495445B01", "BE0403170701", "IT00743110157",
                    "ATU13585627", "ESA28015865"]


def kyc_ready(user):
    """What onboarding needs before KYC/KYB can be sent: the email address confirmed and the
    document the profile kind requires uploaded, through the same services as the dashboard
    and the API. Returns ``user``."""
    user.email_verified_at = timezone.now()
    User.objects.filter(pk=user.pk).update(email_verified_at=user.email_verified_at)
    kyc_document_upload(user=user, kind=kyc_onboarding_document_kind(user=user),
                        uploaded_file=SimpleUploadedFile("document.png", TINY_PNG, "image/png"))
    return user


def make_user(role: str, email: str, *, kyc: dict | None = None, approve_by=None,
              email_verified: bool = True):
    """A registered user (email confirmed unless ``email_verified=False``); with ``kyc``, the
    profile is sent with the required document and, with ``approve_by``, approved."""
    user = user_register(email=email, password=STRONG_PASSWORD, role=role)
    if email_verified:
        user.email_verified_at = timezone.now()
        User.objects.filter(pk=user.pk).update(email_verified_at=user.email_verified_at)
    if kyc is not None:
        kyc_ready(user)
        profile = kyc_submit(user=user, **kyc)
        if approve_by is not None:
            kyc_approve(profile=profile, reviewer=approve_by)
    return type(user).objects.get(pk=user.pk)  # as a request would load it: no stale caches


def api_client_for(user) -> APIClient:
    """A DRF test client that sends ``user``'s access token (a JWT) on every request."""
    client = APIClient()
    token = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def admin_sign_in(client, user):
    """Sign ``client`` in as ``user`` with a verified TOTP device (the admin requires
    two-factor authentication for staff)."""
    client.force_login(user)
    if apps.is_installed("django_otp.plugins.otp_totp"):
        from django_otp import DEVICE_ID_SESSION_KEY  # only when installed
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.create(user=user, name="ops phone", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client
