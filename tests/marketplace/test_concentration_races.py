"""Concentration limits under real concurrency on PostgreSQL: threads, each with its own
connection, released together by a barrier.

Each limit is a sum over rows that the competing transactions do not share (other listings,
other invoices), so without a common lock every request reads the exposure without the others'
uncommitted work and all of them pass. The investor's cash account (fundings) and the
seller's and debtor's advisory locks (listings) serialize them: exactly as many succeed as fit
under the cap, the others are refused with the limit's code, and nothing deadlocks.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from django.db.models import F, Sum

from invoices.enums import InvoiceStatus
from invoices.models import Invoice
from invoices.selectors import exposure
from marketplace.concentration import ConcentrationLimit
from marketplace.enums import InvestmentStatus
from marketplace.models import Investment, Listing
from marketplace.services import investment_create, listing_create
from settlements.enums import AccountKind
from settlements.ledger.posting import account_balance, ledger_account
from tests.factories import InvoiceFactory, KycProfileFactory, UserFactory
from tests.helpers import assert_books_balanced, deposit, run_in_threads

D = Decimal
THREADS = 8
ROUNDS = 3
ADVANCE = D("100.00")  # face value 125.00 x advance rate 0.80 (InvoiceFactory's priced trait)
CAP = D("300.00")  # three advances (or tickets) fit, the fourth does not
FITS = 3

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def approved_seller():
    seller = UserFactory(seller=True)
    KycProfileFactory(user=seller, approved=True)
    return seller


def outcome(result) -> str:
    """``"ok"`` for a success, the refusal's code for a concentration limit; anything else
    (a deadlock, another error) is re-raised to fail the test."""
    if isinstance(result, ConcentrationLimit):
        return result.code
    if isinstance(result, BaseException):
        raise result
    return "ok"


def test_one_investor_funding_listings_of_one_debtor_at_once(seller, make_investor, settings):
    settings.PAYMINT = {**settings.PAYMINT, "MAX_INVESTOR_DEBTOR_EXPOSURE": CAP}
    for round_no in range(ROUNDS):
        investor = make_investor()
        deposit(investor, "10000.00")
        debtor_tax_id = f"DE20000000{round_no}"
        listings = [
            listing_create(
                invoice=InvoiceFactory(priced=True, seller=seller, debtor_tax_id=debtor_tax_id),
                seller=seller,
            )
            for _ in range(THREADS)
        ]
        assert {lst.advance_amount for lst in listings} == {ADVANCE}

        # Each ticket fills its listing, so the winners also disburse inside the race.
        results = run_in_threads(
            THREADS,
            lambda i: investment_create(
                investor=investor, listing=listings[i], amount=str(ADVANCE)
            ),
        )

        outcomes = Counter(outcome(r) for r in results)
        assert outcomes == {"ok": FITS, "INVESTOR_CONCENTRATION_LIMIT": THREADS - FITS}, round_no
        invested = Investment.objects.filter(
            investor=investor,
            status=InvestmentStatus.ACTIVE,
            listing__invoice__debtor_key=listings[0].invoice.debtor_key,
        ).aggregate(total=Sum(F("amount") - F("principal_repaid")))["total"]
        assert invested == FITS * ADVANCE <= CAP
        cash = ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=investor)
        assert account_balance(cash) == D("10000.00") - FITS * ADVANCE
        statuses = Counter(
            Invoice.objects.filter(listing__in=listings).values_list("status", flat=True)
        )
        assert statuses == {InvoiceStatus.DISBURSED: FITS, InvoiceStatus.LISTED: THREADS - FITS}
        # Refused fundings left nothing behind on their listings.
        assert (
            Listing.objects.filter(pk__in=[lst.pk for lst in listings], funded_amount=0).count()
            == THREADS - FITS
        )
        assert_books_balanced()


def test_two_sellers_listing_invoices_of_one_debtor_at_once(settings):
    settings.PAYMINT = {**settings.PAYMINT, "MAX_DEBTOR_EXPOSURE": CAP}
    for round_no in range(ROUNDS):
        sellers = [approved_seller(), approved_seller()]
        debtor_tax_id = f"DE30000000{round_no}"
        invoices = [
            InvoiceFactory(priced=True, seller=sellers[i % 2], debtor_tax_id=debtor_tax_id)
            for i in range(THREADS)
        ]

        results = run_in_threads(
            THREADS, lambda i: listing_create(invoice=invoices[i], seller=invoices[i].seller)
        )

        outcomes = Counter(outcome(r) for r in results)
        assert outcomes == {"ok": FITS, "DEBTOR_CONCENTRATION_LIMIT": THREADS - FITS}, round_no
        on_debtor = exposure(currency="EUR", debtor_key=invoices[0].debtor_key)
        assert on_debtor == FITS * ADVANCE <= CAP
        assert Listing.objects.filter(invoice__in=invoices).count() == FITS
        assert (
            Invoice.objects.filter(
                pk__in=[i.pk for i in invoices], status=InvoiceStatus.PRICED
            ).count()
            == THREADS - FITS
        )


def test_one_seller_listing_invoices_of_different_debtors_at_once(settings):
    """The seller's cap: the debtors differ, so only the seller's lock serializes them."""
    settings.PAYMINT = {**settings.PAYMINT, "MAX_SELLER_EXPOSURE": CAP}
    for round_no in range(ROUNDS):
        seller = approved_seller()
        invoices = [
            InvoiceFactory(priced=True, seller=seller, debtor_tax_id=f"DE4{round_no}{i:07d}")
            for i in range(THREADS)
        ]
        assert len({inv.debtor_key for inv in invoices}) == THREADS

        results = run_in_threads(
            THREADS, lambda i: listing_create(invoice=invoices[i], seller=seller)
        )

        outcomes = Counter(outcome(r) for r in results)
        assert outcomes == {"ok": FITS, "SELLER_CONCENTRATION_LIMIT": THREADS - FITS}, round_no
        assert exposure(currency="EUR", seller=seller) == FITS * ADVANCE <= CAP
        assert Listing.objects.filter(invoice__in=invoices).count() == FITS
