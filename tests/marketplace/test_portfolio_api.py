"""``GET /api/v1/portfolio`` (the investor dashboard's one read, per currency) and
``GET /api/v1/marketplace/stats``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import TestCase
from rest_framework.test import APIClient

from marketplace.services import investment_create
from marketplace.web_selectors import investor_portfolio
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
def positions(seller, make_investor):
    """Anna funds 200.00 of a listing that is repaid in full (settled) and 100.00 of an open
    one."""
    anna, bram = make_investor(), make_investor()
    deposit(anna, "500.00")
    deposit(bram, "400.00")
    settled = mustang_listing(seller, invoice_number="PF-1")
    open_ = mustang_listing(seller, invoice_number="PF-2")
    with clock.frozen_at(LISTING_DAY):
        investment_create(investor=anna, listing=settled, amount="200.00")
        investment_create(investor=bram, listing=settled, amount="313.94")
        investment_create(investor=anna, listing=open_, amount="100.00")
    with clock.frozen_at(MUSTANG_DUE), TestCase.captureOnCommitCallbacks(execute=True):
        bank_event_apply(payload=bank_event("evt_pf_1", "repayment.received",
                                            settled.invoice.repayment_reference, "571.04"))
    return anna, settled, open_


def test_portfolio_per_currency(positions, client):
    anna, _, open_ = positions
    with clock.frozen_at(MUSTANG_DUE - dt.timedelta(days=1)):
        response = api_client_for(anna).get("/api/v1/portfolio")
    assert response.status_code == 200, response.json()
    body = response.json()
    [eur] = body["currencies"]
    # 500.00 - 200.00 - 100.00 + 200.88 repaid
    assert (eur["currency"], eur["cash"]) == ("EUR", "400.88")
    assert eur["invested"] == "100.00"  # the open position's principal
    # 100.00 + its discount fee (100 x the listing's rate x 20 / 365, rounded once)
    fee = (D(100) * open_.discount_rate * 20 / 365).quantize(D("0.01"))
    assert eur["expected_back"] == f"{100 + fee:.2f}"
    assert (eur["repaid"], eur["realised_loss"]) == ("200.88", "0.00")
    assert eur["xirr"] is not None and D(eur["xirr"]) > 0
    assert eur["allocation_by_grade"] == [{"grade": open_.invoice.risk_grade,
                                           "amount": "100.00"}]
    assert [r["amount"] for r in eur["allocation_by_debtor"]] == ["100.00"]
    [upcoming] = eur["upcoming_repayments"]
    assert (upcoming["invoice_number"], upcoming["expected_amount"]) == ("PF-2",
                                                                         f"{100 + fee:.2f}")

    # The dashboard reads the same selector: the same XIRR on the page.
    portfolio = investor_portfolio(investor=anna, today=MUSTANG_DUE - dt.timedelta(days=1))
    assert f"{portfolio.xirr['EUR']:.6f}" == eur["xirr"]


def test_portfolio_refusals(seller):
    response = api_client_for(seller).get("/api/v1/portfolio")
    assert (response.status_code, response.json()["code"]) == (403, "NOT_AN_INVESTOR")
    assert APIClient().get("/api/v1/portfolio").status_code == 401


def test_marketplace_stats(positions, seller, make_investor):
    _, _, open_ = positions
    reader = make_investor()
    with clock.frozen_at(LISTING_DAY + dt.timedelta(days=1)):
        response = api_client_for(reader).get("/api/v1/marketplace/stats")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["open_listings"] == 1
    assert body["open_by_grade"] == [
        {"grade": open_.invoice.risk_grade, "currency": "EUR", "count": 1,
         "amount": f"{open_.advance_amount - 100:.2f}"}]
    assert body["average_yield"] == [{"currency": "EUR", "rate": f"{open_.discount_rate:.6f}"}]
    assert body["funded_last_30_days"] == [{"currency": "EUR", "count": 1,
                                            "amount": "513.94"}]
    refused = api_client_for(seller).get("/api/v1/marketplace/stats")
    assert (refused.status_code, refused.json()["code"]) == (403, "NOT_AN_INVESTOR")
