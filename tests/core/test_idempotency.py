"""Idempotency-Key on API writes without a business key (uploads, submissions, KYC)."""

from __future__ import annotations

from invoices.models import Invoice
from paymint.core.models import IdempotencyRecord
from tests.helpers import MUSTANG_PDF


def _upload(client, key, data=None):
    with MUSTANG_PDF.open("rb") as handle:
        return client.post(
            "/api/v1/invoices",
            {"document": data or handle},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY=key,
        )


def test_upload_replay_returns_the_first_response_and_uploads_once(seller, api_client):
    client = api_client(seller)
    first = _upload(client, "upload-1")
    again = _upload(client, "upload-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Invoice.objects.filter(seller=seller).count() == 1


def test_same_key_with_another_body_is_refused(seller, api_client, tmp_path):
    client = api_client(seller)
    assert _upload(client, "upload-2").status_code == 201
    other = tmp_path / "other.pdf"
    other.write_bytes(MUSTANG_PDF.read_bytes() + b"\n%another\n")
    with other.open("rb") as handle:
        response = _upload(client, "upload-2", data=handle)
    assert response.status_code == 422
    assert response.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert Invoice.objects.filter(seller=seller).count() == 1


def test_keys_are_scoped_per_user(seller, make_investor, api_client):
    investor = make_investor()
    body = {"legal_name": "X", "country": "FR", "tax_id": "FR40303265045"}
    # The same key used by two users are two different requests.
    r1 = api_client(investor).post("/api/v1/me/kyc", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    r2 = _upload(api_client(seller), "k")
    assert r1.status_code == 409  # already approved by the fixture: a stored 4xx is replayed
    assert r2.status_code == 201
    replay = api_client(investor).post(
        "/api/v1/me/kyc", body, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert (replay.status_code, replay.json()) == (409, r1.json())
    assert IdempotencyRecord.objects.count() == 2


def test_without_a_key_nothing_is_recorded(seller, api_client):
    assert _upload(api_client(seller), "").status_code == 201
    assert IdempotencyRecord.objects.count() == 0
