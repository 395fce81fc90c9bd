"""Funding under real concurrency on PostgreSQL: threads, each with its own connection.

The listing row lock must serialize funding so that a listing is never overfunded, no wallet
goes negative, every 201 is exactly one investment and the books balance - with no 5xx and no
deadlock.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from django.db.models import Sum

from invoices.enums import InvoiceStatus
from marketplace.models import Investment, Listing
from paymint.core import clock
from paymint.core.money import quantize_money
from settlements.enums import AccountKind, EntryKind
from settlements.ledger.posting import account_balance, ledger_account
from settlements.models import JournalEntry, LedgerAccount
from tests.helpers import (
    LISTING_DAY,
    api_client_for,
    assert_books_balanced,
    deposit,
    listed_invoice,
    run_in_threads,
)

D = Decimal
DEPOSIT = D("1000.00")
# 571.04 x 0.788036 = 449.99987 -> an advance of exactly 450.00 (below every grade's cap but E)
ADVANCE_RATE = D("0.788036")

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXPECTED_REFUSALS = {
    (409, "AMOUNT_EXCEEDS_REMAINING"),
    (409, "LISTING_NOT_OPEN"),
    (404, "LISTING_NOT_FOUND"),
    (400, "BELOW_MIN_TICKET"),
}


def post_investment(client, listing_id, amount, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = client.post(
        f"/api/v1/marketplace/{listing_id}/investments",
        {"amount": str(amount)},
        format="json",
        **headers,
    )
    return response.status_code, response.json(), dict(response.headers)


def assert_no_crash(results):
    crashes = [r for r in results if isinstance(r, BaseException)]
    assert crashes == [], crashes  # the test client re-raises server errors (5xx)
    assert all(status < 500 for status, _, _ in results)


def investor_cash(investor) -> Decimal:
    return account_balance(ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=investor))


@pytest.mark.parametrize("rounds", [3])
def test_many_investors_race_for_one_listing(seller, make_investor, rounds):
    investors = [make_investor() for _ in range(50)]
    for person in investors:
        deposit(person, DEPOSIT)
    clients = [api_client_for(person) for person in investors]
    patterns = [
        [D("50.00"), D("100.00")],  # multiples of 50: always fills exactly
        [D("50.00"), D("75.00"), D("125.50")],
        [D("60.00"), D("50.00"), D("99.99")],
    ]

    for round_no in range(rounds):
        listing = listed_invoice(
            seller,
            variant=f"round-{round_no}",
            invoice_number=f"RE-20201121/508-{round_no}",
            advance_rate=ADVANCE_RATE,
        )
        assert listing.advance_amount == D("450.00")
        amounts = [patterns[round_no][i % len(patterns[round_no])] for i in range(50)]
        assert sum(amounts) > listing.advance_amount * 5  # far more demand than supply

        with clock.frozen_at(LISTING_DAY, all_threads=True):
            results = run_in_threads(
                50, lambda i: post_investment(clients[i], listing.public_id, amounts[i])
            )
        assert_no_crash(results)

        outcomes = Counter((status, body.get("code")) for status, body, _ in results)
        created = [body for status, body, _ in results if status == 201]
        refusals = {key for key in outcomes if key[0] != 201}
        assert refusals <= EXPECTED_REFUSALS, outcomes

        listing.refresh_from_db()
        rows = Investment.objects.filter(listing=listing)
        assert listing.funded_amount <= listing.advance_amount
        assert rows.count() == len(created) == listing.investor_count
        assert rows.aggregate(total=Sum("amount"))["total"] == listing.funded_amount
        assert sorted(str(r.public_id) for r in rows) == sorted(b["id"] for b in created)
        assert (
            JournalEntry.objects.filter(invoice=listing.invoice, kind=EntryKind.FUNDING).count()
            == rows.count()
        )
        invoice = listing.invoice
        invoice.refresh_from_db()
        escrow = ledger_account(AccountKind.INVOICE_ESCROW, "EUR", invoice=invoice)
        if listing.funded_amount == listing.advance_amount:
            assert invoice.status == InvoiceStatus.DISBURSED
            assert (
                JournalEntry.objects.filter(invoice=invoice, kind=EntryKind.DISBURSEMENT).count()
                == 1
            )
            assert account_balance(escrow) == 0
            # each investment's own discount fee (amount x rate x 20 / 365, rounded once: the
            # quote's rule), and the invoice's fee is their sum
            for inv in rows:
                assert inv.discount_fee == inv.expected_discount_fee == quantize_money(
                    inv.amount * listing.discount_rate * 20 / 365, "EUR")
            fees = rows.aggregate(total=Sum("discount_fee"))["total"]
            assert fees > 0
        else:
            assert invoice.status == InvoiceStatus.LISTED
            assert account_balance(escrow) == listing.funded_amount
        if round_no == 0:
            assert listing.funded_amount == listing.advance_amount

        # no wallet negative, and every wallet = deposit - what its owner invested
        for person in investors:
            invested = Investment.objects.filter(investor=person).aggregate(t=Sum("amount"))["t"]
            balance = investor_cash(person)
            assert balance >= 0
            assert balance == DEPOSIT - (invested or 0)
        assert_books_balanced()

    seller_cash = ledger_account(AccountKind.SELLER_CASH, "EUR", owner=seller)
    disbursed = Listing.objects.filter(invoice__status=InvoiceStatus.DISBURSED)
    assert account_balance(seller_cash) == sum(
        (lst.funded_amount - lst.platform_fee for lst in disbursed), D(0)
    )
    assert all(account_balance(a) >= 0 for a in LedgerAccount.objects.exclude(may_go_negative=True))


def test_same_idempotency_key_twenty_times_at_once(seller, make_investor):
    investor = make_investor()
    deposit(investor, DEPOSIT)
    listing = listed_invoice(seller)
    clients = [api_client_for(investor) for _ in range(20)]

    with clock.frozen_at(LISTING_DAY, all_threads=True):
        results = run_in_threads(
            20, lambda i: post_investment(clients[i], listing.public_id, "100.00", "retry-1")
        )
    assert_no_crash(results)

    assert {status for status, _, _ in results} == {201}
    bodies = [body for _, body, _ in results]
    assert all(body == bodies[0] for body in bodies)
    replayed = [h.get("Idempotent-Replayed") for _, _, h in results]
    assert replayed.count("true") == 19
    assert replayed.count(None) == 1
    assert Investment.objects.count() == 1
    assert JournalEntry.objects.filter(kind=EntryKind.FUNDING).count() == 1
    assert investor_cash(investor) == D("900.00")
    listing.refresh_from_db()
    assert (listing.funded_amount, listing.investor_count) == (D("100.00"), 1)
    assert_books_balanced()


def test_one_wallet_many_orders_never_overdraws(seller, make_investor):
    """Ten concurrent orders of 100.00 from a wallet holding 300.00: exactly three succeed."""
    investor = make_investor()
    deposit(investor, "300.00")
    listing = listed_invoice(seller)
    clients = [api_client_for(investor) for _ in range(10)]

    with clock.frozen_at(LISTING_DAY, all_threads=True):
        results = run_in_threads(
            10, lambda i: post_investment(clients[i], listing.public_id, "100.00", f"order-{i}")
        )
    assert_no_crash(results)

    outcomes = Counter((status, body.get("code")) for status, body, _ in results)
    assert outcomes == {(201, None): 3, (409, "INSUFFICIENT_FUNDS"): 7}
    assert investor_cash(investor) == 0
    assert Investment.objects.count() == 3
    listing.refresh_from_db()
    assert listing.funded_amount == D("300.00")
    assert_books_balanced()
