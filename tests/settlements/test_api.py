"""Bank webhook endpoint and wallet: signed events apply once; refusals write nothing."""

from __future__ import annotations

import json
import time
import types
from decimal import Decimal

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from settlements import webhooks
from settlements.enums import EntryKind
from settlements.models import BankEvent, JournalEntry, Posting
from settlements.webhooks import sign
from tests.factories import mustang_listing
from tests.helpers import (
    api_client_for,
    assert_books_balanced,
    bank_event,
    db_counts,
    signed_webhook,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank():
    return APIClient()


@pytest.fixture
def investor(make_investor):
    return make_investor()


def deposit_event(investor, event_id="evt_1", amount="250.00", currency="EUR"):
    return bank_event(event_id, "deposit.received", investor.deposit_reference, amount, currency)


def assert_refused(response, status, code, before):
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert set(response.json()) == {"code", "message", "fields"}
    assert db_counts() == before


class TestDeposits:
    def test_signed_deposit_credits_the_wallet(self, bank, investor):
        response = signed_webhook(bank, deposit_event(investor))
        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["status"]) == ("evt_1", "APPLIED")
        entry = JournalEntry.objects.get(public_id=body["entry_id"])
        assert entry.kind == EntryKind.DEPOSIT
        wallet = api_client_for(investor).get("/api/v1/wallet").json()
        assert wallet["deposit_reference"] == investor.deposit_reference
        assert wallet["balances"] == [{"currency": "EUR", "balance": "250.00"}]
        assert [(e["kind"], e["amount"]) for e in wallet["entries"]] == [("DEPOSIT", "250.00")]
        assert_books_balanced()

    def test_reference_is_case_insensitive(self, bank, investor):
        event = bank_event(
            "evt_lc", "deposit.received", f"  {investor.deposit_reference.lower()} ", "10.00"
        )
        assert signed_webhook(bank, event).status_code == 200

    def test_wallet_needs_authentication(self, db):
        response = APIClient().get("/api/v1/wallet")
        assert (response.status_code, response.json()["code"]) == (401, "NOT_AUTHENTICATED")


class TestWebhookRefusals:
    def test_bad_signature(self, bank, investor):
        before = db_counts()
        response = signed_webhook(bank, deposit_event(investor), secret="whsec_wrong")
        assert_refused(response, 401, "WEBHOOK_SIGNATURE_INVALID", before)

    def test_body_changed_after_signing(self, bank, investor):
        before = db_counts()
        response = signed_webhook(
            bank,
            deposit_event(investor, amount="25.00"),
            tamper=lambda body: body.replace(b"25.00", b"95.00"),
        )
        assert_refused(response, 401, "WEBHOOK_SIGNATURE_INVALID", before)

    @pytest.mark.parametrize("age", [301, -301, 3600])
    def test_stale_or_future_timestamp(self, bank, investor, age, monkeypatch):
        now = int(time.time())
        # The server's clock stands still, so the timestamp is exactly ``age`` seconds off however
        # long the request takes (a second passing made -301 look like -300: accepted).
        monkeypatch.setattr(webhooks, "time", types.SimpleNamespace(time=lambda: now))
        before = db_counts()
        response = signed_webhook(bank, deposit_event(investor), timestamp=now - age)
        assert_refused(response, 401, "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE", before)

    def test_missing_signature(self, bank, investor):
        before = db_counts()
        response = bank.generic(
            "POST",
            "/api/v1/webhooks/bank",
            json.dumps(deposit_event(investor)),
            content_type="application/json",
        )
        assert_refused(response, 401, "WEBHOOK_SIGNATURE_MISSING", before)

    def test_replayed_event_id(self, bank, investor):
        assert signed_webhook(bank, deposit_event(investor)).status_code == 200
        before = db_counts()
        postings = Posting.objects.count()
        # a fresh signature (the bank retrying) and a different amount: still one effect
        response = signed_webhook(bank, deposit_event(investor, amount="999.00"))
        assert_refused(response, 409, "DUPLICATE_EVENT", before)
        assert Posting.objects.count() == postings
        assert BankEvent.objects.count() == 1
        balance = api_client_for(investor).get("/api/v1/wallet").json()["balances"]
        assert balance == [{"currency": "EUR", "balance": "250.00"}]

    def test_unknown_deposit_reference_goes_to_suspense(self, bank, db):
        """The money is in PayMint's bank account whatever the reference says: it is kept
        in suspense for finance to allocate (tests/settlements/test_suspense.py)."""
        event = bank_event("evt_x", "deposit.received", "PM-NOTHING1", "10.00")
        response = signed_webhook(bank, event)
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "UNMATCHED"
        stored = BankEvent.objects.get(event_id="evt_x")
        assert stored.entry.kind == EntryKind.SUSPENSE_IN
        # the bank's retry of the same event changes nothing
        assert signed_webhook(bank, event).status_code == 409

    def test_seller_reference_is_not_an_investor_wallet(self, bank, seller):
        event = bank_event("evt_s", "deposit.received", seller.deposit_reference, "10.00")
        response = signed_webhook(bank, event)
        assert (response.status_code, response.json()["status"]) == (200, "UNMATCHED")
        assert not Posting.objects.filter(account__owner=seller).exists()

    @pytest.mark.parametrize(
        ("mutate", "code"),
        [
            (lambda e: e.update(type="card.charged"), "UNKNOWN_EVENT_TYPE"),
            (lambda e: e.pop("id"), "INVALID_EVENT"),
            (lambda e: e.update(id=""), "INVALID_EVENT"),
            (lambda e: e.pop("data"), "INVALID_EVENT"),
            (lambda e: e["data"].update(reference=""), "INVALID_EVENT"),
            (lambda e: e["data"].update(currency="JPY"), "UNSUPPORTED_CURRENCY"),
            (lambda e: e["data"].update(currency="XXX"), "UNSUPPORTED_CURRENCY"),
            (lambda e: e["data"].update(amount="-5.00"), "INVALID_AMOUNT"),
            (lambda e: e["data"].update(amount="0"), "INVALID_AMOUNT"),
            (lambda e: e["data"].update(amount="1.001"), "INVALID_AMOUNT"),
            (lambda e: e["data"].update(amount="NaN"), "INVALID_AMOUNT"),
            (lambda e: e["data"].update(amount="lots"), "INVALID_AMOUNT"),
        ],
    )
    def test_malformed_event(self, bank, investor, mutate, code):
        event = deposit_event(investor)
        mutate(event)
        before = db_counts()
        assert_refused(signed_webhook(bank, event), 400, code, before)

    def test_body_that_is_not_json(self, bank, db):
        body = b"not json"
        header = sign(body, settings.BANK_WEBHOOK_SECRET, int(time.time()))
        before = db_counts()
        response = bank.generic(
            "POST",
            "/api/v1/webhooks/bank",
            body,
            content_type="application/json",
            HTTP_X_PAYMINT_SIGNATURE=header,
        )
        assert_refused(response, 400, "INVALID_EVENT", before)

    def test_repayment_for_an_invoice_not_yet_disbursed(self, bank, seller):
        listing = mustang_listing(seller)
        before = db_counts()
        event = bank_event(
            "evt_r", "repayment.received", listing.invoice.repayment_reference, "571.04"
        )
        assert_refused(signed_webhook(bank, event), 409, "INVOICE_NOT_AWAITING_REPAYMENT", before)

    def test_repayment_with_unknown_reference_goes_to_suspense(self, bank, db):
        event = bank_event("evt_r", "repayment.received", "INV-UNKNOWN000", "571.04")
        response = signed_webhook(bank, event)
        assert (response.status_code, response.json()["status"]) == (200, "UNMATCHED")
        assert BankEvent.objects.get(event_id="evt_r").entry.kind == EntryKind.SUSPENSE_IN

    def test_deposit_amount_is_stored_exactly(self, bank, investor):
        signed_webhook(bank, deposit_event(investor, amount="0.01"))
        assert BankEvent.objects.get().amount == Decimal("0.01")
