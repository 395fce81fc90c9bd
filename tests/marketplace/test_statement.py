"""Each investor sees an itemized statement per invoice; nobody else can read it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.test import TestCase

from marketplace.services import investment_create
from paymint.core import clock
from settlements.services import bank_event_apply
from tests.factories import mustang_listing
from tests.helpers import LISTING_DAY, MUSTANG_DUE, bank_event, deposit


def test_statement_itemizes_funding_and_each_distribution(seller, make_investor, api_client):
    listing = mustang_listing(seller)
    a, b = make_investor(), make_investor()
    deposit(a, "400.00")
    deposit(b, "400.00")
    with clock.frozen_at(LISTING_DAY):
        inv_a, _ = investment_create(investor=a, listing=listing, amount="300.00")
        investment_create(investor=b, listing=listing, amount="213.94")
    invoice = listing.invoice
    invoice.refresh_from_db()
    for n, (amount, day) in enumerate(
        [("100.00", MUSTANG_DUE), ("471.04", MUSTANG_DUE + dt.timedelta(days=2))]
    ):
        with clock.frozen_at(day), TestCase.captureOnCommitCallbacks(execute=True):
            bank_event_apply(
                payload=bank_event(
                    f"evt_s{n}", "repayment.received", invoice.repayment_reference, amount
                )
            )

    response = api_client(a).get(f"/api/v1/investments/{inv_a.public_id}")
    assert response.status_code == 200, response.content
    body = response.json()
    kinds = [line["kind"] for line in body["lines"]]
    assert kinds == ["FUNDING", "SETTLEMENT", "SETTLEMENT"]
    amounts = [Decimal(line["amount"]) for line in body["lines"]]
    assert amounts[0] == Decimal("-300.00")
    assert sum(amounts[1:]) == Decimal(body["repaid_amount"]) == Decimal("301.32")
    assert Decimal(body["principal_repaid"]) == Decimal("300.00")
    assert Decimal(body["fee_repaid"]) == Decimal("1.32")  # its own fee, as quoted
    assert body["status"] == "SETTLED"

    # Another investor (and the seller) get a 404, not the statement.
    for other in (b, seller):
        denied = api_client(other).get(f"/api/v1/investments/{inv_a.public_id}")
        assert denied.status_code == 404
        assert denied.json()["code"] == "INVESTMENT_NOT_FOUND"
