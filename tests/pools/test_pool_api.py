"""The pools API: figures with their formulas, NAV history, deposits and redemptions with
Idempotency-Key, cancellation by the owner only, the position with the queue, the calculator,
and refusals with stable codes that write nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paymint.core import clock
from pools.models import PoolDeposit, RedemptionRequest
from pools.services import pool_create, pool_nav_snapshot
from tests.helpers import LISTING_DAY, api_client_for, db_counts, deposit

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def pool(staff):
    with clock.frozen_at(LISTING_DAY):
        return pool_create(currency="EUR", actor=staff)


@pytest.fixture
def alice(make_investor):
    person = make_investor()
    deposit(person, D("1000.00"))
    return person


def url(pool, tail=""):
    return f"/api/v1/pools/{pool.public_id}{tail}"


def test_list_detail_and_figures_with_their_formulas(pool, alice):
    client = api_client_for(alice)
    listed = client.get("/api/v1/pools").json()["results"]
    assert [p["currency"] for p in listed] == ["EUR"]
    client.post(url(pool, "/deposits"), {"amount": "400.00"}, format="json")
    stats = client.get(url(pool)).json()["stats"]
    assert stats["net_assets"] == "400.00" and stats["nav_per_share"] == "1.0000000000"
    assert stats["day_count"] == "ACT/365F"
    assert "365 / days" in stats["apy_formula"]
    assert stats["utilisation"] == "0.000000" and stats["forward_yield"] == "0.000000"
    assert stats["redemption_queue"]["requests"] == 0
    pool_nav_snapshot(pool_id=pool.pk)
    history = client.get(url(pool, "/nav-history")).json()["results"]
    assert [h["net_assets"] for h in history] == ["400.00"]


def test_deposit_with_idempotency_key_and_its_refusals(pool, alice, seller):
    client = api_client_for(alice)
    first = client.post(
        url(pool, "/deposits"), {"amount": "250.00"}, format="json", HTTP_IDEMPOTENCY_KEY="dep-1"
    )
    assert first.status_code == 201, first.json()
    assert first.json()["shares"] == "250.0000000000"
    replay = client.post(
        url(pool, "/deposits"), {"amount": "250.00"}, format="json", HTTP_IDEMPOTENCY_KEY="dep-1"
    )
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
    before = (db_counts(), PoolDeposit.objects.count())
    reused = client.post(
        url(pool, "/deposits"), {"amount": "260.00"}, format="json", HTTP_IDEMPOTENCY_KEY="dep-1"
    )
    assert (reused.status_code, reused.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    short = client.post(url(pool, "/deposits"), {"amount": "5000.00"}, format="json")
    assert (short.status_code, short.json()["code"]) == (409, "INSUFFICIENT_FUNDS")
    bad = client.post(url(pool, "/deposits"), {"amount": "1.001"}, format="json")
    assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_AMOUNT")
    missing = client.post("/api/v1/pools/not-a-pool/deposits", {"amount": "1.00"}, format="json")
    assert (missing.status_code, missing.json()["code"]) == (404, "POOL_NOT_FOUND")
    refused = api_client_for(seller).post(url(pool, "/deposits"), {"amount": "1.00"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "NOT_AN_INVESTOR")
    assert (db_counts(), PoolDeposit.objects.count()) == before


def test_redeem_see_the_queue_cancel_and_the_calculator(pool, alice, make_investor):
    bob = make_investor()
    deposit(bob, D("300.00"))
    a, b = api_client_for(alice), api_client_for(bob)
    a.post(url(pool, "/deposits"), {"amount": "500.00"}, format="json")
    b.post(url(pool, "/deposits"), {"amount": "300.00"}, format="json")
    first = a.post(
        url(pool, "/redemptions"), {"shares": "200"}, format="json", HTTP_IDEMPOTENCY_KEY="r1"
    )
    assert first.status_code == 201, first.json()
    assert first.json()["status"] == "QUEUED"  # the notice period: not paid today
    second = b.post(url(pool, "/redemptions"), {"amount": "100.00"}, format="json")
    assert second.status_code == 201
    position = b.get(url(pool, "/position")).json()
    assert position["shares"] == "300.0000000000" and position["value"] == "300.00"
    assert position["gain"] == "0.00"
    assert [(r["place"], r["shares_ahead"], r["estimate"]) for r in position["redemptions"]] == [
        (2, "200.0000000000", "100.00")
    ]
    both = a.post(url(pool, "/redemptions"), {"shares": "1", "amount": "1.00"}, format="json")
    assert (both.status_code, both.json()["code"]) == (400, "INVALID_REDEMPTION")
    too_many = a.post(url(pool, "/redemptions"), {"shares": "301"}, format="json")
    assert (too_many.status_code, too_many.json()["code"]) == (409, "INSUFFICIENT_SHARES")
    rid = second.json()["id"]
    stolen = a.delete(url(pool, f"/redemptions/{rid}"))
    assert (stolen.status_code, stolen.json()["code"]) == (404, "REDEMPTION_NOT_FOUND")
    assert RedemptionRequest.objects.get(public_id=rid).status == "QUEUED"
    cancelled = b.delete(url(pool, f"/redemptions/{rid}"))
    assert cancelled.json()["status"] == "CANCELLED"
    quote = a.get(url(pool, "/quote"), {"amount": "1000.00", "days": 365}).json()
    assert quote["estimate"] is True and "not a promise" in quote["label"]
    assert quote["projected_value"] == "1000.00"  # nothing invested yet: no forward yield


def test_redemption_above_the_limit_is_refused(pool, alice, settings):
    settings.PAYMINT = {**settings.PAYMINT, "POOL_MAX_REDEMPTION": D("100")}
    client = api_client_for(alice)
    client.post(url(pool, "/deposits"), {"amount": "500.00"}, format="json")
    refused = client.post(url(pool, "/redemptions"), {"amount": "150.00"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, "REDEMPTION_ABOVE_LIMIT")
    assert not RedemptionRequest.objects.exists()
