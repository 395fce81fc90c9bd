"""``GET /api/v1/settlements`` (+ ``/{id}``): the seller sees each payment on their invoices
with the reserve released to them, an investor only their own share; ``GET wallet/entries``
(cursor pages, filters by kind and dates) and ``GET wallet/statement.csv``."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.test import TestCase
from rest_framework.test import APIClient

from marketplace.services import investment_create
from paymint.core import clock
from settlements.services import bank_event_apply
from tests.factories import mustang_listing
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    api_client_for,
    bank_event,
    deposit,
)

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def settled(seller, make_investor):
    """The Mustang invoice funded 200.00 + 313.94 and paid 571.04 on the due date."""
    listing = mustang_listing(seller)
    anna, bram = make_investor(), make_investor()
    deposit(anna, "300.00")
    deposit(bram, "400.00")
    with clock.frozen_at(LISTING_DAY):
        investment_create(investor=anna, listing=listing, amount="200.00")
        investment_create(investor=bram, listing=listing, amount="313.94")
    with clock.frozen_at(MUSTANG_DUE), TestCase.captureOnCommitCallbacks(execute=True):
        bank_event_apply(
            payload=bank_event(
                "evt_settle_api",
                "repayment.received",
                listing.invoice.repayment_reference,
                "571.04",
            )
        )
    return listing, anna, bram


def test_each_party_sees_their_part(settled, seller, make_investor):
    listing, anna, bram = settled
    seller_rows = api_client_for(seller).get("/api/v1/settlements").json()
    assert set(seller_rows) == {"next", "previous", "results"}
    [row] = seller_rows["results"]
    assert row["role"] == "SELLER"
    assert (row["paid_amount"], row["currency"], row["status"], row["source"]) == (
        "571.04",
        "EUR",
        "COMPLETED",
        "DEBTOR",
    )
    # 571.04 - (200.00 + 0.88) - (313.94 + 1.38)
    assert (row["seller_reserve"], row["investor_share"]) == ("54.84", None)
    assert row["invoice_id"] == str(listing.invoice.public_id)

    for person, share in ((anna, "200.88"), (bram, "315.32")):
        rows = api_client_for(person).get("/api/v1/settlements").json()["results"]
        assert len(rows) == 1
        assert (rows[0]["role"], rows[0]["investor_share"]) == ("INVESTOR", share)
        assert rows[0]["seller_reserve"] is None  # the seller's figures are not theirs
        assert rows[0]["invoice_id"] is None
        assert [s["amount"] for s in rows[0]["investor_shares"]] == [share]
        detail = api_client_for(person).get(f"/api/v1/settlements/{row['id']}")
        assert detail.status_code == 200
        assert detail.json()["investor_share"] == share

    stranger = make_investor()
    client = api_client_for(stranger)
    assert client.get("/api/v1/settlements").json()["results"] == []
    missing = client.get(f"/api/v1/settlements/{row['id']}")
    assert (missing.status_code, missing.json()["code"]) == (404, "SETTLEMENT_NOT_FOUND")
    assert client.get("/api/v1/settlements/not-a-uuid").json()["code"] == "SETTLEMENT_NOT_FOUND"
    assert APIClient().get("/api/v1/settlements").status_code == 401


def test_wallet_entries_pages_and_filters(settled):
    _, anna, _ = settled
    client = api_client_for(anna)
    # anna: deposit 300.00, funding -200.00, settlement +200.88
    first = client.get("/api/v1/wallet/entries", {"page_size": 2}).json()
    assert [e["kind"] for e in first["results"]] == ["SETTLEMENT", "FUNDING"]
    second = client.get(first["next"]).json()
    assert [e["kind"] for e in second["results"]] == ["DEPOSIT"]
    assert second["next"] is None

    deposits = client.get("/api/v1/wallet/entries", {"kind": "DEPOSIT"}).json()["results"]
    assert [(e["kind"], e["amount"]) for e in deposits] == [("DEPOSIT", "300.00")]
    both = client.get("/api/v1/wallet/entries?kind=FUNDING&kind=SETTLEMENT").json()["results"]
    assert [e["amount"] for e in both] == ["200.88", "-200.00"]
    on_due = client.get(
        "/api/v1/wallet/entries", {"date_from": str(MUSTANG_DUE), "date_to": str(MUSTANG_DUE)}
    ).json()
    assert [e["kind"] for e in on_due["results"]] == ["SETTLEMENT"]
    before = client.get("/api/v1/wallet/entries", {"date_to": str(LISTING_DAY)}).json()
    assert "SETTLEMENT" not in [e["kind"] for e in before["results"]]

    bad = client.get("/api/v1/wallet/entries", {"date_from": "yesterday", "kind": "NOPE"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "VALIDATION_ERROR"
    assert set(bad.json()["fields"]) == {"date_from", "kind"}


def test_statement_csv(settled, seller):
    _, anna, _ = settled
    response = api_client_for(anna).get("/api/v1/wallet/statement.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:2] == ["date", "booked_at"]
    assert [(r[3], r[7], r[8]) for r in rows[1:]] == [
        ("DEPOSIT", "300.00", "300.00"),
        ("FUNDING", "-200.00", "100.00"),
        ("SETTLEMENT", "200.88", "300.88"),
    ]
    assert APIClient().get("/api/v1/wallet/statement.csv").status_code == 401
