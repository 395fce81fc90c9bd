"""Accounts API: register, JWT tokens, me, KYC/KYB submission."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import KycProfile, User
from tests.helpers import STRONG_PASSWORD, api_client_for, db_counts, kyc_ready, make_user

pytestmark = pytest.mark.django_db


def register(email="new@example.com", password=STRONG_PASSWORD, role="INVESTOR"):
    return APIClient().post(
        "/api/v1/auth/register",
        {"email": email, "password": password, "role": role},
        format="json",
    )


class TestRegisterAndTokens:
    def test_register_then_sign_in(self, db):
        response = register()
        assert response.status_code == 201
        body = response.json()
        assert set(body) == {"id", "email", "role", "deposit_reference", "first_name",
                             "last_name", "language", "email_verified"}
        assert body["email_verified"] is False
        assert "password" not in body
        tokens = APIClient().post(
            "/api/v1/auth/token",
            {"email": "new@example.com", "password": STRONG_PASSWORD},
            format="json",
        )
        assert tokens.status_code == 200
        assert {"access", "refresh"} <= set(tokens.json())
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
        me = client.get("/api/v1/me").json()
        assert (me["id"], me["email"], me["kyc"]) == (body["id"], "new@example.com", None)
        refreshed = APIClient().post(
            "/api/v1/auth/token/refresh", {"refresh": tokens.json()["refresh"]}, format="json"
        )
        assert refreshed.status_code == 200
        assert "access" in refreshed.json()

    def test_wrong_password(self, db):
        register()
        response = APIClient().post(
            "/api/v1/auth/token",
            {"email": "new@example.com", "password": "wrong-password-123"},
            format="json",
        )
        assert response.status_code == 401
        assert response.json()["code"] == "AUTHENTICATION_FAILED"

    @pytest.mark.parametrize(
        ("kwargs", "status", "code"),
        [
            ({"role": "STAFF"}, 400, "VALIDATION_ERROR"),
            ({"email": "not-an-email"}, 400, "VALIDATION_ERROR"),
            ({"password": "password"}, 400, "WEAK_PASSWORD"),
        ],
    )
    def test_refused_registration_writes_nothing(self, db, kwargs, status, code):
        response = register(**kwargs)
        assert (response.status_code, response.json()["code"]) == (status, code)
        assert set(response.json()) == {"code", "message", "fields"}
        assert User.objects.count() == 0

    def test_duplicate_email(self, db):
        register()
        response = register(email="NEW@example.com")
        assert (response.status_code, response.json()["code"]) == (409, "EMAIL_TAKEN")
        assert User.objects.count() == 1

    def test_cannot_register_as_staff_by_extra_fields(self, db):
        response = APIClient().post(
            "/api/v1/auth/register",
            {
                "email": "sneaky@example.com",
                "password": STRONG_PASSWORD,
                "role": "INVESTOR",
                "is_staff": True,
                "is_superuser": True,
            },
            format="json",
        )
        assert response.status_code == 201
        user = User.objects.get(email="sneaky@example.com")
        assert (user.is_staff, user.is_superuser, user.role) == (False, False, "INVESTOR")

    def test_me_requires_a_token(self, db):
        response = APIClient().get("/api/v1/me")
        assert response.status_code == 401
        assert response.json() == {
            "code": "NOT_AUTHENTICATED",
            "message": response.json()["message"],
            "fields": {},
        }


class TestKycApi:
    @pytest.fixture
    def client_and_user(self, db):
        user = kyc_ready(make_user("SELLER", "kyb@example.com"))
        return api_client_for(user), user

    def test_submit(self, client_and_user):
        client, user = client_and_user
        response = client.post(
            "/api/v1/me/kyc",
            {"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE 136 695 976"},
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["status"] == "PENDING_REVIEW"
        assert response.json()["tax_id"] == "DE136695976"
        assert client.get("/api/v1/me").json()["kyc"]["kind"] == "KYB"

    def test_invalid_tax_id(self, client_and_user):
        client, _ = client_and_user
        before = db_counts()
        response = client.post(
            "/api/v1/me/kyc",
            {"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE123456789"},
            format="json",
        )
        assert (response.status_code, response.json()["code"]) == (400, "INVALID_TAX_ID")
        assert "tax_id" in response.json()["fields"]
        assert db_counts() == before
        assert KycProfile.objects.get().status == "DRAFT"  # made by the document upload

    def test_missing_fields(self, client_and_user):
        client, _ = client_and_user
        response = client.post("/api/v1/me/kyc", {"country": "Germany"}, format="json")
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")
        assert {"legal_name", "country", "tax_id"} <= set(response.json()["fields"])
        assert KycProfile.objects.get().status == "DRAFT"

    def test_resubmit_while_pending(self, client_and_user):
        client, _ = client_and_user
        payload = {"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"}
        assert client.post("/api/v1/me/kyc", payload, format="json").status_code == 201
        before = db_counts()
        response = client.post("/api/v1/me/kyc", payload, format="json")
        assert (response.status_code, response.json()["code"]) == (409, "KYC_ALREADY_SUBMITTED")
        assert db_counts() == before


def test_sign_in_with_the_email_in_another_case(db):
    """Registration stores the email lower-cased, so signing in must not depend on case."""
    assert register(email="Mixed.Case@Example.com").status_code == 201
    response = APIClient().post(
        "/api/v1/auth/token",
        {"email": "Mixed.Case@Example.com", "password": STRONG_PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.json()
