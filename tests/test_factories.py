"""The status factories reach only states the product reaches: through the real services,
with every status event written and the books balanced."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoices.enums import InvoiceStatus
from settlements.ledger.enums import WithdrawalStatus
from settlements.ledger.selectors import wallet_balances
from tests.factories import InvestmentFactory, ListingFactory, WithdrawalFactory
from tests.helpers import assert_books_balanced

pytestmark = pytest.mark.django_db


def _cash(user, currency="EUR") -> Decimal:
    return next((row["balance"] for row in wallet_balances(user=user)
                 if row["currency"] == currency), Decimal(0))


def test_an_open_listing_lists_its_invoice():
    listing = ListingFactory()
    listing.invoice.refresh_from_db()
    assert listing.invoice.status == InvoiceStatus.LISTED
    assert listing.funded_amount == 0
    assert listing.advance_amount == (listing.face_value * listing.advance_rate).quantize(
        listing.advance_amount)
    assert listing.invoice.events.filter(to_status=InvoiceStatus.LISTED).exists()


def test_two_listings_have_different_debtors_and_documents():
    first, second = ListingFactory(), ListingFactory()
    assert first.invoice.debtor_key != second.invoice.debtor_key
    assert first.invoice.document_sha256 != second.invoice.document_sha256


def test_an_investment_moves_the_investors_deposit_into_the_listing():
    investment = InvestmentFactory(amount=Decimal("50.00"))
    listing = investment.listing
    listing.refresh_from_db()
    assert investment.amount == Decimal("50.00")
    assert listing.funded_amount == Decimal("50.00")
    assert _cash(investment.investor) == 0
    assert_books_balanced()


def test_a_funded_listing_disburses_the_advance_to_the_seller():
    listing = ListingFactory(funded=True)
    listing.invoice.refresh_from_db()
    assert listing.funded_amount == listing.advance_amount
    assert listing.invoice.status == InvoiceStatus.DISBURSED
    assert _cash(listing.invoice.seller) == listing.advance_amount - listing.platform_fee
    assert_books_balanced()


@pytest.mark.parametrize(("trait", "status", "cash"), [
    ({}, WithdrawalStatus.REQUESTED, Decimal(0)),
    ({"paid": True}, WithdrawalStatus.PAID, Decimal(0)),
    ({"failed": True}, WithdrawalStatus.FAILED, Decimal("80.00")),
])
def test_withdrawal_traits_follow_the_bank(trait, status, cash):
    withdrawal = WithdrawalFactory(amount=Decimal("80.00"), **trait)
    assert withdrawal.status == status
    assert _cash(withdrawal.user) == cash
    assert_books_balanced()
