"""Marketplace API: listing, browsing, funding, idempotent retries, refusals that write nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from marketplace.models import Investment
from paymint.core import clock
from settlements.enums import EntryKind
from settlements.models import JournalEntry
from tests.factories import InvoiceFactory, mustang_listing
from tests.helpers import (
    LISTING_DAY,
    api_client_for,
    db_counts,
    deposit,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def listing(seller):
    """The Mustang invoice's listing (513.94 EUR for 20 days), made by factories."""
    return mustang_listing(seller)


@pytest.fixture
def investor(make_investor):
    person = make_investor()
    deposit(person, "1000.00")
    return person


def invest(client, listing_id, amount, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    with clock.frozen_at(LISTING_DAY):
        return client.post(
            f"/api/v1/marketplace/{listing_id}/investments",
            {"amount": amount},
            format="json",
            **headers,
        )


def assert_refused(response, status, code, before):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["code"] == code
    assert db_counts() == before
    return body


def wallet(client) -> Decimal:
    balances = client.get("/api/v1/wallet").json()["balances"]
    return Decimal(balances[0]["balance"]) if balances else Decimal(0)


class TestListing:
    def test_list_a_priced_invoice(self, seller):
        invoice = InvoiceFactory(mustang=True, seller=seller)
        client = api_client_for(seller)
        with clock.frozen_at(LISTING_DAY):
            response = client.post(
                f"/api/v1/invoices/{invoice.public_id}/list",
                {"advance_rate": "0.8"},
                format="json",
            )
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == "LISTED"
        # 571.04 x 0.8 = 456.832 -> 456.83; fee 4.5683 -> 4.57
        assert response.json()["listing"]["advance_amount"] == "456.83"
        assert response.json()["listing"]["platform_fee"] == "4.57"

    def test_advance_rate_above_cap(self, seller):
        invoice = InvoiceFactory(mustang=True, seller=seller)
        before = db_counts()
        with clock.frozen_at(LISTING_DAY):
            response = api_client_for(seller).post(
                f"/api/v1/invoices/{invoice.public_id}/list",
                {"advance_rate": "0.95"},
                format="json",
            )
        assert_refused(response, 400, "ADVANCE_RATE_ABOVE_CAP", before)

    def test_advance_rate_out_of_range(self, seller):
        invoice = InvoiceFactory(mustang=True, seller=seller)
        before = db_counts()
        with clock.frozen_at(LISTING_DAY):
            response = api_client_for(seller).post(
                f"/api/v1/invoices/{invoice.public_id}/list",
                {"advance_rate": "1.5"},
                format="json",
            )
        body = assert_refused(response, 400, "VALIDATION_ERROR", before)
        assert "advance_rate" in body["fields"]


class TestBrowse:
    def test_open_listings_and_filters(self, listing, investor):
        client = api_client_for(investor)
        with clock.frozen_at(LISTING_DAY):
            results = client.get("/api/v1/marketplace").json()["results"]
            assert [r["id"] for r in results] == [str(listing.public_id)]
            assert results[0]["tenor_days"] == 20
            assert results[0]["remaining_amount"] == "513.94"
            assert results[0]["risk_grade"] == "A"
            for query, expected in [
                ("grade=A", 1),
                ("grade=B&grade=C", 0),
                ("currency=eur", 1),
                ("currency=USD", 0),
                ("min_tenor=20", 1),
                ("min_tenor=21", 0),
                ("max_tenor=19", 0),
                ("min_amount=513.94", 1),
                ("max_amount=500", 0),
            ]:
                found = client.get(f"/api/v1/marketplace?{query}").json()["results"]
                assert len(found) == expected, query
        response = client.get("/api/v1/marketplace?grade=Z")
        assert response.status_code == 400
        assert response.json()["code"] == "VALIDATION_ERROR"

    def test_expired_listings_are_hidden_like_on_the_page(self, listing, investor, client):
        """The API and the marketplace page search through one selector: a listing past its
        expiry that the expiry task has not closed yet is offered by neither."""
        api = api_client_for(investor)
        client.force_login(investor)
        with clock.frozen_at(listing.expires_at - dt.timedelta(minutes=1)):
            assert len(api.get("/api/v1/marketplace").json()["results"]) == 1
        with clock.frozen_at(listing.expires_at):
            assert api.get("/api/v1/marketplace").json()["results"] == []
            page = client.get("/marketplace/")
            assert listing.invoice.debtor_name.encode() not in page.content

    def test_detail(self, listing, investor):
        client = api_client_for(investor)
        body = client.get(f"/api/v1/marketplace/{listing.public_id}").json()
        assert body["id"] == str(listing.public_id)
        assert body["seller_name"] == "Bei Spiel GmbH"
        for bad in ["nope", str(uuid.uuid4())]:
            response = client.get(f"/api/v1/marketplace/{bad}")
            assert (response.status_code, response.json()["code"]) == (404, "LISTING_NOT_FOUND")

    def test_closed_listing_is_hidden_from_non_investors(self, listing, investor, make_investor):
        invest(api_client_for(investor), listing.public_id, "513.94")
        outsider = api_client_for(make_investor())
        response = outsider.get(f"/api/v1/marketplace/{listing.public_id}")
        assert (response.status_code, response.json()["code"]) == (404, "LISTING_NOT_FOUND")
        # but the investor still sees what they funded
        mine = api_client_for(investor).get(f"/api/v1/marketplace/{listing.public_id}")
        assert mine.status_code == 200


class TestFunding:
    def test_fund_part_of_a_listing(self, listing, investor):
        client = api_client_for(investor)
        response = invest(client, listing.public_id, "200.00")
        assert response.status_code == 201, response.json()
        body = response.json()
        assert (body["amount"], body["expected_return"], body["expected_days"]) == (
            "200.00",
            "200.88",
            20,
        )
        assert "Idempotent-Replayed" not in response.headers
        assert wallet(client) == Decimal("800.00")
        mine = client.get("/api/v1/investments").json()["results"]
        assert [m["id"] for m in mine] == [body["id"]]
        assert mine[0]["invoice_status"] == "LISTED"

    def test_unapproved_kyc_investor(self, listing, make_investor):
        pending = make_investor(approved=False)
        deposit(pending, "500.00")
        before = db_counts()
        response = invest(api_client_for(pending), listing.public_id, "100.00")
        assert_refused(response, 403, "KYC_NOT_APPROVED", before)

    def test_seller_cannot_fund(self, listing, seller):
        before = db_counts()
        response = invest(api_client_for(seller), listing.public_id, "100.00")
        assert_refused(response, 403, "NOT_AN_INVESTOR", before)

    def test_above_remaining(self, listing, investor):
        before = db_counts()
        response = invest(api_client_for(investor), listing.public_id, "513.95")
        body = assert_refused(response, 409, "AMOUNT_EXCEEDS_REMAINING", before)
        assert "amount" in body["fields"]

    def test_insufficient_wallet(self, listing, make_investor):
        poor = make_investor()
        deposit(poor, "120.00")
        client = api_client_for(poor)
        before = db_counts()
        response = invest(client, listing.public_id, "120.01")
        assert_refused(response, 409, "INSUFFICIENT_FUNDS", before)
        assert wallet(client) == Decimal("120.00")

    def test_below_min_ticket(self, listing, investor):
        before = db_counts()
        response = invest(api_client_for(investor), listing.public_id, "49.99")
        body = assert_refused(response, 400, "BELOW_MIN_TICKET", before)
        assert "amount" in body["fields"]

    @pytest.mark.parametrize("amount", ["abc", "", "1e400", "-5"])
    def test_malformed_amount(self, listing, investor, amount):
        before = db_counts()
        response = invest(api_client_for(investor), listing.public_id, amount)
        assert response.status_code == 400
        assert response.json()["code"] in ("VALIDATION_ERROR", "INVALID_AMOUNT")
        assert db_counts() == before

    @pytest.mark.parametrize("listing_id", ["not-a-uuid", "5b0e6a53-9a3c-4c3e-8f1d-2f6b1c9d7e41"])
    def test_unknown_listing(self, investor, listing_id):
        before = db_counts()
        response = invest(api_client_for(investor), listing_id, "100.00")
        assert_refused(response, 404, "LISTING_NOT_FOUND", before)

    def test_idempotency_key_too_long(self, listing, investor):
        before = db_counts()
        response = invest(api_client_for(investor), listing.public_id, "100.00", key="k" * 256)
        assert_refused(response, 400, "INVALID_IDEMPOTENCY_KEY", before)


class TestIdempotentRetry:
    def test_replay_returns_the_same_response(self, listing, investor):
        client = api_client_for(investor)
        first = invest(client, listing.public_id, "150.00", key="order-1")
        assert first.status_code == 201
        before = db_counts()
        replay = invest(client, listing.public_id, "150.00", key="order-1")
        assert replay.status_code == first.status_code
        assert replay.json() == first.json()
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert db_counts() == before
        assert Investment.objects.count() == 1
        assert JournalEntry.objects.filter(kind=EntryKind.FUNDING).count() == 1
        assert wallet(client) == Decimal("850.00")

    def test_replay_after_the_investment_filled_the_listing(self, listing, investor):
        client = api_client_for(investor)
        first = invest(client, listing.public_id, "513.94", key="fill-1")
        replay = invest(client, listing.public_id, "513.94", key="fill-1")
        assert (replay.status_code, replay.json()) == (201, first.json())
        assert replay.headers["Idempotent-Replayed"] == "true"

    def test_same_key_different_amount(self, listing, investor):
        client = api_client_for(investor)
        invest(client, listing.public_id, "150.00", key="order-1")
        before = db_counts()
        response = invest(client, listing.public_id, "150.01", key="order-1")
        assert_refused(response, 422, "IDEMPOTENCY_KEY_REUSED", before)
        assert wallet(client) == Decimal("850.00")
