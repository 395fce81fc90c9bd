"""One bank event delivered many times at once has exactly one effect (real threads, PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from settlements.enums import AccountKind, EntryKind
from settlements.ledger.posting import account_balance, ledger_account
from settlements.models import BankEvent, JournalEntry, Posting
from tests.helpers import assert_books_balanced, bank_event, run_in_threads, signed_webhook

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_same_webhook_event_ten_times_concurrently(make_investor):
    investor = make_investor()
    event = bank_event("evt_concurrent_1", "deposit.received", investor.deposit_reference, "75.00")
    clients = [APIClient() for _ in range(10)]

    def deliver(i):
        response = signed_webhook(clients[i], event)
        return response.status_code, response.json()

    results = run_in_threads(10, deliver)
    crashes = [r for r in results if isinstance(r, BaseException)]
    assert crashes == [], crashes

    outcomes = Counter((status, body.get("code")) for status, body in results)
    assert outcomes == {(200, None): 1, (409, "DUPLICATE_EVENT"): 9}
    assert BankEvent.objects.filter(event_id="evt_concurrent_1").count() == 1
    assert JournalEntry.objects.filter(kind=EntryKind.DEPOSIT).count() == 1
    assert Posting.objects.count() == 2
    cash = ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=investor)
    assert account_balance(cash) == Decimal("75.00")
    assert_books_balanced()


def test_distinct_deposits_to_one_wallet_concurrently(make_investor):
    """Concurrent credits to one account all land (no lost update: balances are derived)."""
    investor = make_investor()
    clients = [APIClient() for _ in range(10)]

    def deliver(i):
        event = bank_event(f"evt_many_{i}", "deposit.received", investor.deposit_reference, "10.01")
        return signed_webhook(clients[i], event).status_code

    results = run_in_threads(10, deliver)
    assert results == [200] * 10
    cash = ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=investor)
    assert account_balance(cash) == Decimal("100.10")
    assert_books_balanced()
