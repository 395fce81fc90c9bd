"""Invoices API for sellers: upload, read, correct, submit - and every refusal writes nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from rest_framework.test import APIClient

from invoices.models import Invoice
from paymint.core import clock
from tests.helpers import (
    LISTING_DAY,
    api_client_for,
    db_counts,
    make_user,
    mustang_bytes,
    uploaded,
)

pytestmark = pytest.mark.django_db


def upload(client, data: bytes, name: str = "invoice.pdf", content_type="application/pdf"):
    return client.post(
        "/api/v1/invoices",
        {"document": uploaded(data, name=name, content_type=content_type)},
        format="multipart",
    )


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.fixture
def client(seller):
    return api_client_for(seller)


@pytest.fixture
def invoice_id(client, committed):
    """The Mustang invoice uploaded through the API and read (EXTRACTED)."""
    with committed():
        response = upload(client, mustang_bytes())
    assert response.status_code == 201
    return response.json()["id"]


@pytest.fixture
def other_seller(staff):
    return make_user(
        "SELLER",
        "other-seller@example.com",
        kyc={"legal_name": "Andere GmbH", "country": "DE", "tax_id": "DE129273398"},
        approve_by=staff,
    )


class TestUpload:
    def test_upload_then_read_the_fields(self, client, committed):
        with committed():
            response = upload(client, mustang_bytes(), name="RE-508.pdf")
        assert response.status_code == 201
        body = response.json()
        uuid.UUID(body["id"])
        assert body["status"] == "UPLOADED"
        detail = client.get(f"/api/v1/invoices/{body['id']}").json()
        assert detail["status"] == "EXTRACTED"
        assert detail["invoice_number"] == "RE-20201121/508"
        assert detail["face_value"] == "571.04"
        assert detail["low_confidence_fields"] == ["buyer_tax_id"]
        listing = client.get("/api/v1/invoices").json()
        assert [i["id"] for i in listing["results"]] == [body["id"]]
        # no sequential id leaks
        assert "pk" not in detail
        assert Invoice.objects.get().public_id == uuid.UUID(body["id"])

    def test_unauthenticated(self, db):
        before = db_counts()
        response = APIClient().post(
            "/api/v1/invoices", {"document": uploaded(mustang_bytes())}, format="multipart"
        )
        assert_error(response, 401, "NOT_AUTHENTICATED")
        assert db_counts() == before

    def test_bad_token(self, db):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
        assert client.get("/api/v1/invoices").status_code == 401

    def test_seller_with_unapproved_kyb(self, staff):
        pending = make_user(
            "SELLER",
            "pending@example.com",
            kyc={"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"},
        )
        before = db_counts()
        assert_error(upload(api_client_for(pending), mustang_bytes()), 403, "KYB_NOT_APPROVED")
        assert db_counts() == before

    def test_investor_cannot_upload(self, make_investor):
        client = api_client_for(make_investor())
        before = db_counts()
        response = upload(client, mustang_bytes())
        assert_error(response, 403, "NOT_A_SELLER")
        assert db_counts() == before

    def test_text_file(self, client):
        before = db_counts()
        response = upload(client, b"Invoice 42, total 100 EUR\n", "invoice.txt", "text/plain")
        body = assert_error(response, 415, "UNSUPPORTED_FILE_TYPE")
        assert "document" in body["fields"]
        assert db_counts() == before

    def test_elf_executable_renamed_invoice_pdf(self, client):
        before = db_counts()
        elf = open("/bin/true", "rb").read()  # noqa: SIM115
        assert elf[:4] == b"\x7fELF"
        response = upload(client, elf, "invoice.pdf", "application/pdf")
        assert_error(response, 415, "UNSUPPORTED_FILE_TYPE")
        assert db_counts() == before

    def test_oversized_file(self, client, settings):
        settings.INVOICE_UPLOAD_MAX_BYTES = 10_000
        before = db_counts()
        assert_error(upload(client, mustang_bytes()), 413, "FILE_TOO_LARGE")
        assert db_counts() == before

    def test_empty_file(self, client):
        before = db_counts()
        response = upload(client, b"")
        assert response.status_code == 400
        assert response.json()["code"] in ("VALIDATION_ERROR", "EMPTY_FILE")
        assert db_counts() == before

    def test_missing_document_field(self, client):
        response = client.post("/api/v1/invoices", {}, format="multipart")
        body = assert_error(response, 400, "VALIDATION_ERROR")
        assert "document" in body["fields"]


class TestOwnership:
    @pytest.mark.parametrize(
        ("method", "suffix"),
        [("get", ""), ("patch", ""), ("post", "/submit"), ("post", "/list")],
    )
    def test_another_sellers_invoice_is_not_found(self, invoice_id, other_seller, method, suffix):
        before = db_counts()
        snapshot = Invoice.objects.values().get()
        client = api_client_for(other_seller)
        with clock.frozen_at(LISTING_DAY):
            response = getattr(client, method)(
                f"/api/v1/invoices/{invoice_id}{suffix}", {"debtor_name": "Mine"}, format="json"
            )
        assert_error(response, 404, "INVOICE_NOT_FOUND")
        assert db_counts() == before
        assert Invoice.objects.values().get() == snapshot

    def test_investor_sees_no_invoices(self, invoice_id, make_investor):
        client = api_client_for(make_investor())
        assert_error(client.get(f"/api/v1/invoices/{invoice_id}"), 404, "INVOICE_NOT_FOUND")
        assert client.get("/api/v1/invoices").json()["results"] == []

    @pytest.mark.parametrize(
        "bad_id", ["42", "not-a-uuid", "1 OR 1=1", "5b0e6a53-9a3c-4c3e-8f1d-2f6b1c9d7e41"])
    def test_unknown_or_malformed_id(self, client, bad_id):
        assert_error(client.get(f"/api/v1/invoices/{bad_id}"), 404, "INVOICE_NOT_FOUND")
        assert_error(client.post(f"/api/v1/invoices/{bad_id}/submit"), 404, "INVOICE_NOT_FOUND")


class TestCorrections:
    def test_patch_corrects_a_field(self, client, invoice_id):
        response = client.patch(
            f"/api/v1/invoices/{invoice_id}", {"due_date": "2020-12-15"}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["due_date"] == "2020-12-15"
        assert Invoice.objects.get().due_date == dt.date(2020, 12, 15)

    def test_mass_assignment_is_ignored(self, client, invoice_id, other_seller):
        snapshot = Invoice.objects.values().get()
        before = db_counts()
        response = client.patch(
            f"/api/v1/invoices/{invoice_id}",
            {
                "status": "SETTLED",
                "risk_grade": "A",
                "risk_score": 100,
                "advance_rate": "1.0",
                "discount_rate": "0",
                "seller": str(other_seller.public_id),
                "seller_id": other_seller.pk,
                "repayment_reference": "INV-MINE",
                "document_sha256": "0" * 64,
                "id": str(uuid.uuid4()),
            },
            format="json",
        )
        assert response.status_code in (200, 400)
        assert db_counts() == before
        after = Invoice.objects.values().get()
        for field in (
            "status",
            "risk_grade",
            "risk_score",
            "advance_rate",
            "discount_rate",
            "seller_id",
            "repayment_reference",
            "document_sha256",
            "public_id",
        ):
            assert after[field] == snapshot[field], field
        assert after["status"] == "EXTRACTED"

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"face_value": "abc"}, "face_value"),
            ({"face_value": "571.041"}, "face_value"),
            ({"currency": "EURO"}, "currency"),
            ({"currency": "E1R"}, "currency"),
            ({"due_date": "12/12/2020"}, "due_date"),
            ({"due_date": None}, "due_date"),
            ({"invoice_number": "x" * 101}, "invoice_number"),
        ],
    )
    def test_invalid_values_write_nothing(self, client, invoice_id, payload, field):
        snapshot = Invoice.objects.values().get()
        response = client.patch(f"/api/v1/invoices/{invoice_id}", payload, format="json")
        body = assert_error(response, 400, "VALIDATION_ERROR")
        assert field in body["fields"]
        assert Invoice.objects.values().get() == snapshot

    def test_not_editable_after_submit(self, client, invoice_id):
        with clock.frozen_at(LISTING_DAY):
            assert client.post(f"/api/v1/invoices/{invoice_id}/submit").status_code == 200
        snapshot = Invoice.objects.values().get()
        response = client.patch(
            f"/api/v1/invoices/{invoice_id}", {"face_value": "1000.00"}, format="json"
        )
        assert_error(response, 409, "INVOICE_NOT_EDITABLE")
        assert Invoice.objects.values().get() == snapshot


class TestSubmitRefusals:
    def submit_refused(self, client, invoice_id, status, code, when=LISTING_DAY):
        before = db_counts()
        snapshot = Invoice.objects.values().get(public_id=invoice_id)
        with clock.frozen_at(when):
            response = client.post(f"/api/v1/invoices/{invoice_id}/submit")
        body = assert_error(response, status, code)
        assert db_counts() == before
        assert Invoice.objects.values().get(public_id=invoice_id) == snapshot
        return body

    def test_invalid_issuer_tax_id(self, client, invoice_id):
        response = client.patch(
            f"/api/v1/invoices/{invoice_id}", {"issuer_tax_id": "DE123456789"}, format="json"
        )
        assert response.status_code == 200
        body = self.submit_refused(client, invoice_id, 422, "INVALID_TAX_ID")
        assert "issuer_tax_id" in body["fields"]

    def test_issuer_tax_id_not_the_sellers(self, client, invoice_id):
        client.patch(
            f"/api/v1/invoices/{invoice_id}", {"issuer_tax_id": "DE129273398"}, format="json"
        )
        self.submit_refused(client, invoice_id, 422, "ISSUER_TAX_ID_MISMATCH")

    def test_due_date_in_the_past(self, client, invoice_id):
        body = self.submit_refused(
            client, invoice_id, 422, "DUE_DATE_NOT_IN_FUTURE", when=dt.date(2021, 1, 4)
        )
        assert "due_date" in body["fields"]

    def test_duplicate_document_from_a_second_seller(
        self, client, invoice_id, other_seller, committed
    ):
        with clock.frozen_at(LISTING_DAY):
            assert client.post(f"/api/v1/invoices/{invoice_id}/submit").status_code == 200
        second = api_client_for(other_seller)
        with committed():
            copy_id = upload(second, mustang_bytes()).json()["id"]
        self.submit_refused(second, copy_id, 409, "DUPLICATE_DOCUMENT")

    def test_duplicate_by_seller_number_and_debtor(self, client, invoice_id, committed):
        with clock.frozen_at(LISTING_DAY):
            assert client.post(f"/api/v1/invoices/{invoice_id}/submit").status_code == 200
        with committed():
            copy_id = upload(client, mustang_bytes("re-exported")).json()["id"]
        self.submit_refused(client, copy_id, 409, "DUPLICATE_INVOICE")

    def test_submit_twice(self, client, invoice_id):
        with clock.frozen_at(LISTING_DAY):
            assert client.post(f"/api/v1/invoices/{invoice_id}/submit").status_code == 200
        self.submit_refused(client, invoice_id, 409, "INVALID_STATUS_TRANSITION")
