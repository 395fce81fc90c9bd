"""Listings not fully funded by their expiry: cancelled with refunds, or partially disbursed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from invoices.enums import InvoiceStatus
from marketplace.enums import InvestmentStatus
from marketplace.services import investment_create
from marketplace.tasks import listings_expire_task
from paymint.core import clock
from settlements.ledger.posting import trial_balance
from settlements.ledger.selectors import wallet_balances
from tests.factories import mustang_listing
from tests.helpers import LISTING_DAY, deposit


def _cash(user) -> Decimal:
    return {b["currency"]: b["balance"] for b in wallet_balances(user=user)}.get("EUR", Decimal(0))


def _fund(investor, listing, amount):
    with clock.frozen_at(LISTING_DAY):
        return investment_create(investor=investor, listing=listing, amount=amount)[0]


def test_expired_listing_is_cancelled_and_every_investor_refunded(seller, make_investor):
    listing = mustang_listing(seller)
    a, b = make_investor(), make_investor()
    deposit(a, "300.00")
    deposit(b, "300.00")
    _fund(a, listing, "100.00")
    _fund(b, listing, "150.00")
    assert _cash(a) == Decimal("200.00")

    with clock.frozen_at(listing.expires_at.date() - dt.timedelta(days=1)):
        assert listings_expire_task() == 0  # not yet expired
    with clock.frozen_at(listing.expires_at + dt.timedelta(minutes=1)):
        assert listings_expire_task() == 1
        assert listings_expire_task() == 0  # running twice is harmless

    listing.invoice.refresh_from_db()
    assert listing.invoice.status == InvoiceStatus.CANCELLED
    assert _cash(a) == Decimal("300.00") and _cash(b) == Decimal("300.00")
    assert set(listing.investments.values_list("status", flat=True)) == {InvestmentStatus.REFUNDED}
    assert all(v == 0 for v in trial_balance().values())


def test_minimum_fill_disburses_partially_with_fee_on_funded_amount(seller, make_investor):
    listing = mustang_listing(seller, min_fill_rate=Decimal("0.5"))
    investor = make_investor()
    deposit(investor, "400.00")
    _fund(investor, listing, "300.00")  # 300 of 513.94 = 58 % >= 50 %

    with clock.frozen_at(listing.expires_at + dt.timedelta(minutes=1)):
        listings_expire_task()

    listing.refresh_from_db()
    listing.invoice.refresh_from_db()
    assert listing.invoice.status == InvoiceStatus.DISBURSED
    assert listing.platform_fee == Decimal("3.00")  # 1 % of 300.00
    assert _cash(seller) == Decimal("297.00")
    assert all(v == 0 for v in trial_balance().values())
