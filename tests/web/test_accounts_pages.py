"""Sign-up, sign-in, onboarding (KYC/KYB) and the role router, through the real pages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.enums import KycStatus
from accounts.models import KycProfile, User
from accounts.services import kyc_reject
from tests.helpers import (
    PNG_BYTES,
    STRONG_PASSWORD,
    mark_email_verified,
    uploaded,
    verify_from_outbox,
)

pytestmark = pytest.mark.django_db


def test_signup_then_kyc_with_invalid_tax_id_shows_field_error(client, staff, committed):
    response = client.get(reverse("signup"))
    assert response.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in response.content

    with committed():
        response = client.post(
            reverse("signup"),
            {
                "email": "Anna@Example.com",
                "password": STRONG_PASSWORD,
                "role": "SELLER",
            },
        )
    assert response.status_code == 302
    assert response["Location"] == reverse("kyc")
    user = User.objects.get(email="anna@example.com")
    assert user.role == "SELLER"
    assert user.email_verified_at is None

    # Onboarding is closed until the email address is confirmed.
    page = client.get(reverse("kyc"))
    assert page.status_code == 200
    assert b"Company verification (KYB)" in page.content
    assert b"Confirm your email address first" in page.content
    assert b"Send for review" not in page.content
    blocked = client.post(
        reverse("kyc"),
        {
            "legal_name": "Anna GmbH",
            "country": "de",
            "tax_id": "DE136695976",
            "document": uploaded(PNG_BYTES, "id.png", "image/png"),
        },
    )
    assert blocked.status_code == 200
    assert b"confirm your email address" in blocked.content
    assert not KycProfile.objects.filter(user=user).exists()

    verify_from_outbox(client)
    user.refresh_from_db()
    assert user.email_verified_at is not None

    response = client.post(
        reverse("kyc"),
        {
            "legal_name": "Anna GmbH",
            "country": "de",
            "tax_id": "DE123456789",
            "address": "",
            "document": uploaded(PNG_BYTES, "id.png", "image/png"),
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["tax_id"]
    assert any(e.code == "INVALID_TAX_ID" for e in form.non_field_errors().as_data())
    html = response.content.decode()
    # The message sits next to the tax id field, wired to it for screen readers.
    assert 'id="id_tax_id_error"' in html
    assert 'aria-invalid="true"' in html
    assert not KycProfile.objects.filter(user=user).exists()

    response = client.post(
        reverse("kyc"),
        {
            "legal_name": "Bei Spiel GmbH",
            "country": "de",
            "tax_id": "DE136695976",
            "address": "Musterstr. 1, Berlin",
            "document": uploaded(PNG_BYTES, "register.png", "image/png"),
        },
    )
    assert response.status_code == 302
    profile = KycProfile.objects.get(user=user)
    assert profile.documents.get().content_type == "image/png"
    assert profile.status == KycStatus.PENDING_REVIEW
    assert profile.country == "DE"
    page = client.get(reverse("kyc"))
    assert b"Pending review" in page.content
    assert b"Send for review" not in page.content  # no form while under review

    kyc_reject(profile=profile, reviewer=staff, reason="The address does not match.")
    page = client.get(reverse("kyc"))
    assert b"The address does not match." in page.content
    assert b"Send for review" in page.content


def test_signup_shows_service_errors_next_to_fields(client, seller):
    response = client.post(
        reverse("signup"),
        {
            "email": "x@example.com",
            "password": "12345",
            "role": "INVESTOR",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["password"]

    response = client.post(
        reverse("signup"),
        {
            "email": seller.email,
            "password": STRONG_PASSWORD,
            "role": "INVESTOR",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["Already registered."]


def test_signup_cannot_create_staff(client):
    response = client.post(
        reverse("signup"),
        {
            "email": "evil@example.com",
            "password": STRONG_PASSWORD,
            "role": "STAFF",
        },
    )
    assert response.status_code == 200
    assert "role" in response.context["form"].errors
    assert not User.objects.filter(email="evil@example.com").exists()


def test_login_with_email_and_role_router(client, seller, make_investor, staff):
    response = client.post(
        reverse("login"), {"username": seller.email, "password": STRONG_PASSWORD}
    )
    assert response.status_code == 302
    assert client.get(reverse("dashboard"))["Location"] == reverse("seller-dashboard")

    investor = make_investor()
    other = Client()
    other.force_login(investor)
    assert other.get(reverse("dashboard"))["Location"] == reverse("investor-dashboard")
    other.force_login(staff)
    assert other.get(reverse("dashboard"))["Location"] == reverse("admin:index")


def test_wrong_password_is_refused(client, seller):
    response = client.post(reverse("login"), {"username": seller.email, "password": "nope"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()


def test_logout_is_post_only(client, seller):
    client.force_login(seller)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("seller-dashboard")).status_code == 302  # back to login


def test_pages_require_login(client):
    for name in (
        "dashboard",
        "seller-dashboard",
        "investor-dashboard",
        "marketplace",
        "wallet",
        "kyc",
    ):
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("login"))


def test_csrf_is_enforced(seller):
    client = Client(enforce_csrf_checks=True)
    client.force_login(seller)
    response = client.post(
        reverse("kyc"),
        {
            "legal_name": "X",
            "country": "DE",
            "tax_id": "DE136695976",
        },
    )
    assert response.status_code == 403

    page = client.get(reverse("kyc"))
    token = page.context["csrf_token"]
    response = client.post(reverse("invoice-upload"), {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 400  # past CSRF; the form says the document is missing
    assert response.context["upload_form"].errors["document"]


def test_approved_profile_cannot_be_resubmitted(seller, login):
    mark_email_verified(seller)
    client = login(seller)
    page = client.get(reverse("kyc"))
    assert b"You are verified" in page.content
    assert b"Send for review" not in page.content
    response = client.post(
        reverse("kyc"),
        {
            "legal_name": "Renamed GmbH",
            "country": "DE",
            "tax_id": "DE136695976",
            "document": uploaded(PNG_BYTES, "id.png", "image/png"),
        },
    )
    assert response.status_code == 200
    assert b"cannot be changed" in response.content
    assert KycProfile.objects.get(user=seller).legal_name == "Bei Spiel GmbH"
