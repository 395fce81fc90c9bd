"""Payouts and allocations under real concurrency on PostgreSQL (threads, each with its own
connection): double approval, double batching, double export, a statement uploaded twice at
once, a double retry and a doubly approved allocation each have one effect."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest

from accounts.services import staff_user_create
from paymint.core.errors import ApplicationError
from settlements.bankfiles import StatementLine, camt054_build
from settlements.enums import EntryKind, PayoutBatchStatus
from settlements.models import (
    BankEvent,
    JournalEntry,
    PayoutBatch,
    PayoutBatchEvent,
    PayoutItem,
    SuspenseAllocation,
    Withdrawal,
)
from settlements.services import (
    allocation_approve,
    allocation_propose,
    bank_event_apply,
    bank_statement_apply,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_export,
    payout_retry,
)
from tests.helpers import STRONG_PASSWORD, assert_books_balanced, bank_event, run_in_threads
from tests.settlements.test_payouts import payee, withdraw

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def finance(n: int):
    return staff_user_create(email=f"finance{n}@example.com", password=STRONG_PASSWORD,
                             roles=("finance",))


def outcome(result) -> str:
    if isinstance(result, ApplicationError):
        return str(result.code)
    if isinstance(result, BaseException):
        return repr(result)
    return "ok"


@pytest.fixture
def team(db):
    return [finance(n) for n in range(4)]


@pytest.fixture
def withdrawals(staff):
    return [withdraw(payee(n, staff), f"{10 + n}.00") for n in range(3)]


def test_two_checkers_approving_at_once_approve_once(team, withdrawals):
    maker, *checkers = team
    batch = payout_batch_create(actor=maker, currency="EUR").batch
    results = run_in_threads(3, lambda i: payout_batch_approve(batch=batch,
                                                               actor=checkers[i]))
    assert Counter(map(outcome, results)) == {"ok": 1, "INVALID_PAYOUT_BATCH_TRANSITION": 2}
    batch.refresh_from_db()
    winner = next(checkers[i] for i, r in enumerate(results) if outcome(r) == "ok")
    assert (batch.status, batch.approved_by_id) == (PayoutBatchStatus.APPROVED, winner.pk)
    assert PayoutBatchEvent.objects.filter(batch=batch, to_status="APPROVED").count() == 1


def test_makers_batching_at_once_never_batch_a_withdrawal_twice(team, withdrawals):
    results = run_in_threads(4, lambda i: payout_batch_create(actor=team[i], currency="EUR"))
    outcomes = Counter(map(outcome, results))
    assert outcomes["ok"] >= 1
    assert set(outcomes) <= {"ok", "PAYOUT_BATCH_EMPTY"}, outcomes
    batched = list(PayoutItem.objects.values_list("withdrawal_id", flat=True))
    assert sorted(batched) == sorted(w.pk for w in withdrawals)  # each exactly once
    assert PayoutBatch.objects.count() == outcomes["ok"]


def test_exports_at_once_build_one_file(team, withdrawals):
    maker, checker = team[:2]
    batch = payout_batch_create(actor=maker, currency="EUR").batch
    payout_batch_approve(batch=batch, actor=checker)
    results = run_in_threads(4, lambda i: payout_batch_export(batch=batch, actor=team[i]))
    assert [outcome(r) for r in results] == ["ok"] * 4
    assert len({r.file_sha256 for r in results}) == 1
    assert len({r.file_content for r in results}) == 1
    assert PayoutBatchEvent.objects.filter(batch=batch, to_status="EXPORTED").count() == 1


def test_a_statement_uploaded_twice_at_once_applies_each_line_once(team, withdrawals):
    maker, checker = team[:2]
    batch = payout_batch_create(actor=maker, currency="EUR").batch
    payout_batch_approve(batch=batch, actor=checker)
    payout_batch_export(batch=batch, actor=checker)
    items = list(batch.items.order_by("id"))
    statement = camt054_build(
        message_id="CAMT-C", account_iban="DE89370400440532013000",
        created_at=dt.datetime(2026, 12, 7, 9, 0),
        lines=[StatementLine(i.end_to_end_id, i.amount.normalize(), "EUR", paid=n != 1,
                             reason="AC04") for n, i in enumerate(items)])
    results = run_in_threads(2, lambda i: bank_statement_apply(data=statement, actor=maker))
    assert [outcome(r) for r in results] == ["ok", "ok"]
    applied = sorted(r.paid + r.failed for r in results)
    duplicates = sorted(r.duplicates for r in results)
    assert sorted(sum(applied, [])) == sorted(i.end_to_end_id for i in items)
    assert sorted(sum(duplicates, [])) == sorted(i.end_to_end_id for i in items)
    assert BankEvent.objects.count() == 3 + 3  # three deposits, three statement lines
    batch.refresh_from_db()
    assert batch.status == PayoutBatchStatus.SETTLED
    assert_books_balanced()


def test_a_double_retry_holds_the_amount_once(team, staff):
    maker, checker = team[:2]
    user = payee(0, staff)
    withdrawal = withdraw(user, "100.00")
    batch = payout_batch_create(actor=maker, currency="EUR").batch
    payout_batch_approve(batch=batch, actor=checker)
    payout_batch_export(batch=batch, actor=checker)
    bank_event_apply(payload=bank_event("evt_fail", "withdrawal.failed",
                                        batch.items.get().end_to_end_id, "100.00"))
    results = run_in_threads(2, lambda i: payout_retry(withdrawal=withdrawal, actor=team[i]))
    assert Counter(map(outcome, results)) == {"ok": 1, "WITHDRAWAL_NOT_FAILED": 1}
    holds = JournalEntry.objects.filter(kind=EntryKind.WITHDRAWAL_HOLD,
                                        idempotency_key__startswith=f"withdrawal:"
                                        f"{withdrawal.public_id}:hold")
    assert holds.count() == 2  # the request's and the retry's
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "REQUESTED"
    assert sum(p.amount for p in JournalEntry.objects.get(
        kind=EntryKind.WITHDRAWAL_HOLD, idempotency_key__endswith=":hold:2").postings.all()
        if p.amount > 0) == Decimal("100.00")
    assert_books_balanced()


def test_two_approvers_of_one_allocation_post_it_once(team, make_investor):
    investor = make_investor()
    proposer, *approvers = team
    event = bank_event_apply(payload=bank_event("evt_unmatched", "deposit.received",
                                                "PM-NOBODY01", "40.00"))
    allocation = allocation_propose(actor=proposer, bank_event=event, kind="DEPOSIT",
                                    reference=investor.deposit_reference, reason="typo")
    results = run_in_threads(3, lambda i: allocation_approve(allocation=allocation,
                                                             actor=approvers[i]))
    assert Counter(map(outcome, results)) == {"ok": 1, "ALLOCATION_NOT_OPEN": 2}
    assert JournalEntry.objects.filter(kind=EntryKind.DEPOSIT).count() == 1
    assert JournalEntry.objects.filter(kind=EntryKind.SUSPENSE_RELEASE).count() == 1
    assert SuspenseAllocation.objects.get().status == "POSTED"
    assert_books_balanced()
