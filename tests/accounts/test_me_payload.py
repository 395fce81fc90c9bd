"""``GET /api/v1/me`` answers from a plain dict (:func:`accounts.api.me_payload`) and the
profile's summary columns (:func:`accounts.selectors.kyc_summary_for_user`): the same answer as
the documented serializers, for a user without a profile, with a pending one and with an
approved one (IBAN masked, decision time formatted as DRF does)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.api import KycOutputSerializer, MeApi, UserOutputSerializer, me_payload
from accounts.models import KycProfile
from accounts.selectors import kyc_summary_for_user
from tests.helpers import api_client_for, make_user

pytestmark = pytest.mark.django_db

KYC = {"legal_name": "Ida Investor", "country": "FR", "tax_id": "FR40303265045",
       "date_of_birth": dt.date(1975, 3, 9), "identity_document_number": "18AB12345",
       "bank_account_iban": "DE89370400440532013000", "address": "1 rue de Paris"}


def serializer_answer(user) -> dict:
    profile = KycProfile.objects.filter(user=user).first()
    payload = dict(UserOutputSerializer(user).data)
    payload["kyc"] = dict(KycOutputSerializer(profile).data) if profile else None
    return payload


@pytest.mark.parametrize("state", ["none", "pending", "approved"])
def test_me_answers_what_the_serializers_answer(state, staff):
    kyc = None if state == "none" else KYC
    user = make_user("INVESTOR", f"me-{state}@example.com", kyc=kyc,
                     approve_by=staff if state == "approved" else None)
    expected = serializer_answer(user)
    assert me_payload(user, kyc_summary_for_user(user=user)) == expected
    body = api_client_for(user).get("/api/v1/me").json()
    assert body == expected
    assert set(body) == set(MeApi.OutputSerializer().fields)
    if state == "approved":
        assert body["kyc"]["bank_account"] == "DE89 **** 3000" and body["kyc"]["decided_at"]


def test_the_summary_reads_only_the_answered_columns(staff):
    user = make_user("INVESTOR", "me-cols@example.com", kyc=KYC, approve_by=staff)
    with CaptureQueriesContext(connection) as captured:
        row = kyc_summary_for_user(user=user)
    (sql,) = [q["sql"] for q in captured.captured_queries]
    for secret in ("address", "date_of_birth", "identity_document_number"):
        assert f'"{secret}"' not in sql
    assert row["tax_id"] == "FR40303265045"
