"""Shared fixtures: API clients, approved sellers/investors, signed bank webhooks."""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.services import kyc_approve, kyc_submit, staff_user_create, user_register
from settlements.webhooks import sign

SHARED_INVOICES = Path(settings.BASE_DIR).parent / "shared" / "invoices"
MUSTANG_PDF = SHARED_INVOICES / "zugferd" / "MustangGnuaccountingBeispielRE-20201121_508.pdf"
STRONG_PASSWORD = "correct-horse-battery-42"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Give each pytest process its own test database (``test_paymint_<pid>``), so that
    several runs on one machine (developers, CI) never drop each other's database."""
    from django.db import connections

    suffix = f"p{os.getpid()}"
    for alias in connections:
        test = connections[alias].settings_dict.setdefault("TEST", {})
        base = test.get("NAME") or f"test_{connections[alias].settings_dict['NAME']}"
        test["NAME"] = f"{base}_{suffix}"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": tmp_path / "media"}},
    }


@pytest.fixture
def staff(db):
    return staff_user_create(email="ops@example.com", password=STRONG_PASSWORD)


def make_user(role: str, email: str, *, kyc: dict | None = None, approve_by=None):
    user = user_register(email=email, password=STRONG_PASSWORD, role=role)
    if kyc is not None:
        profile = kyc_submit(user=user, **kyc)
        if approve_by is not None:
            kyc_approve(profile=profile, reviewer=approve_by)
    return user


@pytest.fixture
def seller(staff):
    """An approved seller whose KYB matches the Mustang e-invoice's issuer (Bei Spiel GmbH)."""
    return make_user(
        "SELLER", "seller@example.com",
        kyc={"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"},
        approve_by=staff,
    )


INVESTOR_TAX_IDS = ["FR40303265045", "NL004495445B01", "BE0403170701", "IT00743110157",
                    "ATU13585627", "ESA28015865"]


@pytest.fixture
def make_investor(staff):
    counter = {"n": 0}

    def _make(*, approved: bool = True, email: str | None = None):
        n = counter["n"]
        counter["n"] += 1
        tax_id = INVESTOR_TAX_IDS[n % len(INVESTOR_TAX_IDS)]
        return make_user(
            "INVESTOR", email or f"investor{n}@example.com",
            kyc={"legal_name": f"Investor {n}", "country": tax_id[:2] if tax_id[:2] != "AT"
                 else "AT", "tax_id": tax_id},
            approve_by=staff if approved else None,
        )

    return _make


def api_client_for(user) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def api_client():
    return api_client_for


def signed_webhook(client: APIClient, event: dict, *, timestamp: int | None = None,
                   secret: str | None = None, tamper=None):
    body = json.dumps(event).encode()
    header = sign(body, secret or settings.BANK_WEBHOOK_SECRET,
                  int(time.time()) if timestamp is None else timestamp)
    if tamper is not None:
        body = tamper(body)
    return client.generic("POST", "/api/v1/webhooks/bank", body,
                          content_type="application/json", HTTP_X_PAYMINT_SIGNATURE=header)


def bank_event(event_id: str, event_type: str, reference: str, amount, currency="EUR") -> dict:
    return {"id": event_id, "type": event_type, "created": int(time.time()),
            "data": {"reference": reference, "amount": str(Decimal(amount)),
                     "currency": currency}}


@pytest.fixture
def webhook():
    return signed_webhook
