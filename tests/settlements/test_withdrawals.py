"""Withdrawals: held at once, paid or released by the bank webhook."""

from __future__ import annotations

from decimal import Decimal

import pytest

from settlements.enums import WithdrawalStatus
from settlements.ledger.posting import trial_balance
from settlements.ledger.selectors import wallet_balances
from settlements.models import JournalEntry, Posting, Withdrawal
from tests.helpers import bank_event, deposit


def _balances(user) -> dict[str, Decimal]:
    return {b["currency"]: b["balance"] for b in wallet_balances(user=user)}


@pytest.fixture
def funded_investor(make_investor):
    investor = make_investor()
    deposit(investor, "500.00")
    return investor


def test_withdrawal_holds_then_pays_out(api_client, webhook, funded_investor):
    client = api_client(funded_investor)
    response = client.post(
        "/api/v1/wallet/withdrawals", {"amount": "120.00", "currency": "EUR"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "REQUESTED"
    assert _balances(funded_investor)["EUR"] == Decimal("380.00")  # held at once

    reference = response.json()["reference"]
    paid = webhook(client, bank_event("evt_wd_1", "withdrawal.paid", reference, "120.00"))
    assert paid.status_code == 200, paid.content
    withdrawal = Withdrawal.objects.get(reference=reference)
    assert withdrawal.status == WithdrawalStatus.PAID
    assert _balances(funded_investor)["EUR"] == Decimal("380.00")
    assert all(v == 0 for v in trial_balance().values())


def test_failed_withdrawal_releases_the_hold(api_client, webhook, funded_investor):
    client = api_client(funded_investor)
    reference = client.post(
        "/api/v1/wallet/withdrawals", {"amount": "500.00", "currency": "EUR"}, format="json"
    ).json()["reference"]
    assert _balances(funded_investor)["EUR"] == Decimal("0.00")
    failed = webhook(client, bank_event("evt_wd_2", "withdrawal.failed", reference, "500.00"))
    assert failed.status_code == 200
    assert Withdrawal.objects.get(reference=reference).status == WithdrawalStatus.FAILED
    assert _balances(funded_investor)["EUR"] == Decimal("500.00")
    # A late "paid" for the same withdrawal is refused and writes nothing.
    entries = JournalEntry.objects.count()
    late = webhook(client, bank_event("evt_wd_3", "withdrawal.paid", reference, "500.00"))
    assert late.status_code == 409
    assert late.json()["code"] == "WITHDRAWAL_ALREADY_FINAL"
    assert JournalEntry.objects.count() == entries


def test_withdrawal_above_balance_is_refused_and_writes_nothing(api_client, funded_investor):
    before = (Withdrawal.objects.count(), Posting.objects.count())
    response = api_client(funded_investor).post(
        "/api/v1/wallet/withdrawals", {"amount": "500.01", "currency": "EUR"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "INSUFFICIENT_FUNDS"
    assert (Withdrawal.objects.count(), Posting.objects.count()) == before


def test_withdrawal_replay_with_idempotency_key(api_client, funded_investor):
    client = api_client(funded_investor)
    first = client.post(
        "/api/v1/wallet/withdrawals",
        {"amount": "10.00", "currency": "EUR"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="wd-1",
    )
    again = client.post(
        "/api/v1/wallet/withdrawals",
        {"amount": "10.00", "currency": "EUR"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="wd-1",
    )
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    other = client.post(
        "/api/v1/wallet/withdrawals",
        {"amount": "11.00", "currency": "EUR"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="wd-1",
    )
    assert other.status_code == 422
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert Withdrawal.objects.count() == 1
    assert _balances(funded_investor)["EUR"] == Decimal("490.00")
