"""The account journeys of a mobile client, through ``/api/v1`` only: confirm the email,
reset a forgotten password, edit the profile, manage two-factor, send KYC/KYB documents.

Each endpoint calls the service the dashboard calls; refusals answer the standard error body
and write nothing.
"""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import KycDocument, KycProfile, User
from paymint.core.models import OutboundMessage
from tests.helpers import STRONG_PASSWORD, TINY_PNG, api_client_for, make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-horse-staple-77"


def code_for(device: TOTPDevice, offset: int = 0) -> str:
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + offset)
    return f"{value:06d}"


def png(name: str = "passport.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, TINY_PNG, "image/png")


def mails_to(email: str) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(recipient=email).order_by("id"))


# --- Email confirmation -------------------------------------------------------------------


def test_api_registration_sends_the_confirmation_mail_and_the_token_confirms(committed):
    client = APIClient()
    with committed():
        response = client.post("/api/v1/auth/register", {
            "email": "mo@example.com", "password": STRONG_PASSWORD, "role": "INVESTOR"},
            format="json")
    assert response.status_code == 201 and response.json()["email_verified"] is False
    (mail,) = mails_to("mo@example.com")
    assert mail.status == OutboundMessage.Status.SENT
    token = re.search(r"/verify-email/([^/\s]+)/", mail.body).group(1)

    answer = client.post("/api/v1/auth/email/verify", {"token": token}, format="json")
    assert answer.status_code == 200
    assert answer.json() == {"email": "mo@example.com", "email_verified": True}
    assert User.objects.get(email="mo@example.com").email_verified_at is not None
    # Twice is harmless.
    assert client.post("/api/v1/auth/email/verify", {"token": token},
                       format="json").status_code == 200


def test_a_bad_confirmation_token_is_refused():
    response = APIClient().post("/api/v1/auth/email/verify", {"token": "nonsense"},
                                format="json")
    assert (response.status_code, response.json()["code"]) == (400, "VERIFICATION_LINK_INVALID")


def test_resend_is_once_a_minute_and_not_after_confirmation(committed):
    from django.core.cache import cache

    cache.clear()
    user = make_user("SELLER", "rae@example.com", email_verified=False)
    client = api_client_for(user)
    with committed():
        first = client.post("/api/v1/auth/email/resend")
    assert first.status_code == 202 and first.json() == {"sent_to": "rae@example.com"}
    again = client.post("/api/v1/auth/email/resend")
    assert (again.status_code, again.json()["code"]) == (429, "VERIFICATION_RESEND_TOO_SOON")
    assert len(mails_to("rae@example.com")) == 1

    verified = api_client_for(make_user("SELLER", "done@example.com"))
    response = verified.post("/api/v1/auth/email/resend")
    assert (response.status_code, response.json()["code"]) == (409, "EMAIL_ALREADY_VERIFIED")


def test_unconfirmed_users_cannot_send_documents_or_kyc():
    user = make_user("INVESTOR", "early@example.com", email_verified=False)
    client = api_client_for(user)
    upload = client.post("/api/v1/me/kyc/documents", {"kind": "IDENTITY", "file": png()},
                         format="multipart")
    assert (upload.status_code, upload.json()["code"]) == (403, "EMAIL_NOT_VERIFIED")
    submit = client.post("/api/v1/me/kyc", {"legal_name": "Ada", "country": "FR",
                                            "tax_id": "FR40303265045"}, format="json")
    assert (submit.status_code, submit.json()["code"]) == (403, "EMAIL_NOT_VERIFIED")
    assert not KycDocument.objects.exists() and not KycProfile.objects.exists()


# --- KYC/KYB documents ----------------------------------------------------------------------


def test_a_company_uploads_its_register_extract_then_sends_kyb():
    seller = make_user("SELLER", "firm@example.com")
    client = api_client_for(seller)
    kyb = {"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"}

    missing = client.post("/api/v1/me/kyc", kyb, format="json")
    assert (missing.status_code, missing.json()["code"]) == (400, "DOCUMENT_REQUIRED")
    assert "COMPANY_REGISTRATION" in missing.json()["fields"]["document"][0]
    assert not KycProfile.objects.filter(status="PENDING_REVIEW").exists()

    # An identity document is not what a company needs.
    client.post("/api/v1/me/kyc/documents", {"kind": "IDENTITY", "file": png()},
                format="multipart")
    still = client.post("/api/v1/me/kyc", kyb, format="json")
    assert still.json()["code"] == "DOCUMENT_REQUIRED"

    upload = client.post("/api/v1/me/kyc/documents",
                         {"kind": "COMPANY_REGISTRATION", "file": png("register.png")},
                         format="multipart")
    assert upload.status_code == 201, upload.content
    body = upload.json()
    assert (body["kind"], body["content_type"], body["size"]) == (
        "COMPANY_REGISTRATION", "image/png", len(TINY_PNG))

    sent = client.post("/api/v1/me/kyc", kyb, format="json")
    assert sent.status_code == 201 and sent.json()["status"] == "PENDING_REVIEW"

    late = client.post("/api/v1/me/kyc/documents", {"kind": "OTHER", "file": png()},
                       format="multipart")
    assert (late.status_code, late.json()["code"]) == (409, "KYC_ALREADY_SUBMITTED")
    assert KycDocument.objects.filter(profile__user=seller).count() == 2


def test_documents_are_listed_with_links_only_their_owner_can_open(client):
    owner = make_user("INVESTOR", "ivy@example.com")
    api = api_client_for(owner)
    for name in ("front.png", "back.png"):
        assert api.post("/api/v1/me/kyc/documents", {"kind": "IDENTITY", "file": png(name)},
                        format="multipart").status_code == 201
    listing = api.get("/api/v1/me/kyc/documents")
    assert listing.status_code == 200
    results = listing.json()["results"]
    assert [r["original_filename"] for r in results] == ["back.png", "front.png"]
    url = results[0]["download_url"]
    path = url.split("://", 1)[1].split("/", 1)[1]

    client.force_login(owner)
    download = client.get("/" + path)
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert b"".join(download.streaming_content) == TINY_PNG

    stranger = make_user("INVESTOR", "eve@example.com")
    client.force_login(stranger)
    assert client.get("/" + path).status_code in (403, 404)
    assert api_client_for(stranger).get("/api/v1/me/kyc/documents").json()["results"] == []


@pytest.mark.parametrize(("payload", "code"), [
    ({"kind": "IDENTITY", "file": SimpleUploadedFile("x.pdf", b"MZ\x90\x00exe", "application/pdf")},
     "UNSUPPORTED_DOCUMENT_TYPE"),
    ({"kind": "IDENTITY", "file": SimpleUploadedFile("e.png", b"", "image/png")},
     "VALIDATION_ERROR"),
    ({"kind": "SELFIE", "file": png()}, "VALIDATION_ERROR"),
])
def test_bad_documents_are_refused_and_nothing_is_written(payload, code):
    user = make_user("INVESTOR", "bad@example.com")
    response = api_client_for(user).post("/api/v1/me/kyc/documents", payload,
                                         format="multipart")
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert not KycDocument.objects.exists() and not KycProfile.objects.exists()


# --- Password reset -------------------------------------------------------------------------


def test_password_reset_answers_the_same_for_unknown_addresses(committed):
    make_user("SELLER", "known@example.com")
    client = APIClient()
    with committed():
        known = client.post("/api/v1/auth/password/reset", {"email": "KNOWN@example.com"},
                            format="json")
        unknown = client.post("/api/v1/auth/password/reset", {"email": "nobody@example.com"},
                              format="json")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 202
    assert len(mails_to("known@example.com")) == 1
    assert not mails_to("nobody@example.com")


def test_password_reset_confirm_sets_the_password_once_and_revokes_every_token(committed):
    user = make_user("SELLER", "forgetful@example.com")
    refresh = APIClient().post("/api/v1/auth/token", {"email": user.email,
                                                      "password": STRONG_PASSWORD},
                               format="json").json()["refresh"]
    with committed():
        APIClient().post("/api/v1/auth/password/reset", {"email": user.email}, format="json")
    (mail,) = mails_to(user.email)
    token = re.search(r"/password-reset/([^/\s]+/[^/\s]+)/", mail.body).group(1)

    weak = APIClient().post("/api/v1/auth/password/reset/confirm",
                            {"token": token, "new_password": "password"}, format="json")
    assert (weak.status_code, weak.json()["code"]) == (400, "WEAK_PASSWORD")
    assert "new_password" in weak.json()["fields"]
    user.refresh_from_db()
    assert user.check_password(STRONG_PASSWORD)

    done = APIClient().post("/api/v1/auth/password/reset/confirm",
                            {"token": token, "new_password": NEW_PASSWORD}, format="json")
    assert done.status_code == 204
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert BlacklistedToken.objects.filter(token__jti=OutstandingToken.objects.get(
        user=user).jti).exists()
    refused = APIClient().post("/api/v1/auth/token/refresh", {"refresh": refresh},
                               format="json")
    assert refused.status_code == 401

    again = APIClient().post("/api/v1/auth/password/reset/confirm",
                             {"token": token, "new_password": "yet-another-pass-88"},
                             format="json")
    assert (again.status_code, again.json()["code"]) == (400, "RESET_LINK_INVALID")


# --- Profile --------------------------------------------------------------------------------


def test_patch_me_changes_names_and_language_only():
    user = make_user("INVESTOR", "pat@example.com")
    client = api_client_for(user)
    response = client.patch("/api/v1/me", {
        "first_name": " Pat ", "last_name": "Lee", "language": "de",
        "email": "evil@example.com", "role": "STAFF", "is_staff": True,
        "deposit_reference": "PM-XXXX"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["first_name"], body["last_name"], body["language"]) == ("Pat", "Lee", "de")
    user.refresh_from_db()
    assert (user.email, user.role, user.is_staff) == ("pat@example.com", "INVESTOR", False)
    assert body["deposit_reference"] == user.deposit_reference != "PM-XXXX"

    bad = client.patch("/api/v1/me", {"language": "xx"}, format="json")
    assert bad.status_code == 400 and "language" in bad.json()["fields"]
    user.refresh_from_db()
    assert user.language == "de"


# --- Two-factor -----------------------------------------------------------------------------


def test_two_factor_enrolment_sign_in_and_turning_it_off():
    user = make_user("INVESTOR", "tf@example.com")
    client = api_client_for(user)
    assert client.get("/api/v1/me/two-factor").json() == {
        "enabled": False, "pending": False, "required": False}

    started = client.post("/api/v1/me/two-factor")
    assert started.status_code == 201
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert body["qr_svg"].startswith("<svg")
    assert client.post("/api/v1/me/two-factor").json()["secret"] == body["secret"]
    assert client.get("/api/v1/me/two-factor").json()["pending"] is True

    device = TOTPDevice.objects.get(user=user)
    wrong = client.post("/api/v1/me/two-factor/confirm", {"code": "000000"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["code"] == "INVALID_OTP"
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.save()
    confirmed = client.post("/api/v1/me/two-factor/confirm", {"code": code_for(device)},
                            format="json")
    assert confirmed.status_code == 200 and confirmed.json()["enabled"] is True

    sign_in = APIClient().post("/api/v1/auth/token", {"email": user.email,
                                                      "password": STRONG_PASSWORD},
                               format="json")
    assert sign_in.json()["code"] == "OTP_REQUIRED"

    no_password = client.delete("/api/v1/me/two-factor",
                                {"password": "wrong-password-9", "code": code_for(device, 1)},
                                format="json")
    assert (no_password.status_code, no_password.json()["code"]) == (400, "WRONG_PASSWORD")
    assert TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    off = client.delete("/api/v1/me/two-factor",
                        {"password": STRONG_PASSWORD, "code": code_for(device, 1)},
                        format="json")
    assert off.status_code == 204
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_staff_cannot_turn_two_factor_off(staff):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    response = api_client_for(staff).delete(
        "/api/v1/me/two-factor", {"password": STRONG_PASSWORD, "code": code_for(device)},
        format="json")
    assert (response.status_code, response.json()["code"]) == (403, "TWO_FACTOR_REQUIRED")
    assert TOTPDevice.objects.filter(user=staff).exists()
