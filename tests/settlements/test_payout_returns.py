"""Payouts the bank sends back after it reported them paid (issue #13, "A failed payout goes
back to the user's wallet and notifies them"; SEPA R-transactions arrive days after the
booking): the ``withdrawal.returned`` webhook or a camt.054 line with return information
quoting a paid item. The money is back in the wallet in one balanced entry, the user is told,
each return applies once, and finance may retry the payout."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from paymint.core.errors import ApplicationError
from paymint.core.models import DomainEvent
from settlements.bankfiles import StatementLine, camt054_build
from settlements.enums import (
    AccountKind,
    AllocationStatus,
    BankEventStatus,
    EntryKind,
    PayoutBatchStatus,
    PayoutItemStatus,
    WithdrawalStatus,
)
from settlements.ledger.posting import account_balance, platform_account
from settlements.models import BankEvent, JournalEntry, PayoutItem, Withdrawal
from settlements.services import (
    DuplicateEvent,
    allocation_approve,
    bank_event_apply,
    bank_statement_apply,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_export,
    payout_retry,
    refund_propose,
)
from tests.helpers import assert_books_balanced, bank_event, db_counts
from tests.settlements.test_payouts import (  # noqa: F401 - fixtures
    balance,
    checker,
    hold_balance,
    maker,
    payee,
    withdraw,
)


def bank_clearing(currency: str = "EUR") -> Decimal:
    return account_balance(platform_account(AccountKind.PLATFORM_BANK_CLEARING, currency))


def exported_batch(maker, checker):  # noqa: F811 - fixtures
    batch = payout_batch_create(actor=maker, currency="EUR").batch
    payout_batch_approve(batch=batch, actor=checker)
    return payout_batch_export(batch=batch, actor=maker)


def returned(event_id: str, reference: str, amount: str, reason: str = "AC04") -> dict:
    payload = bank_event(event_id, "withdrawal.returned", reference, amount)
    payload["data"]["reason"] = reason
    return payload


def test_a_paid_payout_returned_by_webhook_goes_back_to_the_wallet(
        maker, checker, staff, webhook):  # noqa: F811 - fixtures
    user = payee(0, staff)
    withdrawal = withdraw(user, "150.00")
    batch = exported_batch(maker, checker)
    item = batch.items.get()
    bank_event_apply(payload=bank_event("evt_paid", "withdrawal.paid", item.end_to_end_id,
                                        "150.00"))
    assert (balance(user), hold_balance(user)) == (Decimal("350.00"), 0)
    clearing_paid = bank_clearing()

    # Days later the bank sends it back (the signed webhook, as the bank would).
    response = webhook(APIClient(), returned("evt_ret", item.end_to_end_id, "150.00"))
    assert response.status_code == 200, response.content
    withdrawal.refresh_from_db()
    item.refresh_from_db()
    batch.refresh_from_db()
    assert withdrawal.status == WithdrawalStatus.RETURNED
    assert withdrawal.failure_reason == "returned by the bank after payment: AC04"
    assert (item.status, item.return_event.event_id, item.bank_event.event_id) == (
        PayoutItemStatus.RETURNED, "evt_ret", "evt_paid")
    assert batch.status == PayoutBatchStatus.SETTLED  # the batch stays settled
    # One balanced entry: bank clearing -> the user's cash.
    entry = BankEvent.objects.get(event_id="evt_ret").entry
    assert entry.kind == EntryKind.WITHDRAWAL_RETURNED
    assert sorted((p.account.kind, p.amount) for p in entry.postings.select_related("account")) \
        == [("INVESTOR_CASH", Decimal("150.00")),
            ("PLATFORM_BANK_CLEARING", Decimal("-150.00"))]
    assert (balance(user), hold_balance(user)) == (Decimal("500.00"), 0)
    assert bank_clearing() == clearing_paid - Decimal("150.00")
    assert_books_balanced()
    # The user is told, once, with the bank's reason.
    notice = DomainEvent.objects.get(key="withdrawal.returned:evt_ret")
    assert notice.name == "withdrawal.failed"
    assert notice.recipients[str(user.pk)]["reason"] == withdrawal.failure_reason

    # The same event again, or another return of the same payout: nothing is written.
    before = db_counts()
    with pytest.raises(DuplicateEvent):
        bank_event_apply(payload=returned("evt_ret", item.end_to_end_id, "150.00"))
    with pytest.raises(ApplicationError) as again:
        bank_event_apply(payload=returned("evt_ret_2", item.end_to_end_id, "150.00"))
    assert again.value.code == "WITHDRAWAL_ALREADY_FINAL"
    with pytest.raises(ApplicationError) as by_reference:
        bank_event_apply(payload=returned("evt_ret_3", withdrawal.reference, "150.00"))
    assert by_reference.value.code == "WITHDRAWAL_ALREADY_FINAL"
    assert db_counts() == before

    # Finance retries it once the user fixed their account: held again, a second attempt.
    retried = payout_retry(withdrawal=withdrawal, actor=maker, reason="new IBAN")
    assert (retried.status, balance(user), hold_balance(user)) == (
        WithdrawalStatus.REQUESTED, Decimal("350.00"), Decimal("150.00"))
    second = payout_batch_create(actor=checker, currency="EUR").batch.items.get()
    assert second.end_to_end_id == f"{withdrawal.reference}-2"
    assert_books_balanced()


def test_a_camt054_return_line_returns_a_paid_item_and_fails_an_open_one(
        maker, checker, staff):  # noqa: F811 - fixtures
    users = [payee(n, staff) for n in range(2)]
    withdrawals = [withdraw(users[0], "100.00"), withdraw(users[1], "40.00")]
    batch = exported_batch(maker, checker)
    items = list(batch.items.order_by("id"))
    bank_event_apply(payload=bank_event("evt_p0", "withdrawal.paid", items[0].end_to_end_id,
                                        "100.00"))
    statement = camt054_build(
        message_id="CAMT-RET", account_iban="DE89370400440532013000",
        created_at=dt.datetime(2026, 12, 9, 9, 0),
        lines=[StatementLine(items[0].end_to_end_id, Decimal("100.00"), "EUR", paid=False,
                             reason="MD07"),
               StatementLine(items[1].end_to_end_id, Decimal("40.00"), "EUR", paid=False,
                             reason="AC04")])
    outcome = bank_statement_apply(data=statement, actor=maker)
    assert (outcome.returned, outcome.failed, outcome.refused) == (
        [items[0].end_to_end_id], [items[1].end_to_end_id], [])
    statuses = [Withdrawal.objects.get(pk=w.pk).status for w in withdrawals]
    assert statuses == [WithdrawalStatus.RETURNED, WithdrawalStatus.FAILED]
    assert [PayoutItem.objects.get(pk=i.pk).status for i in items] == [
        PayoutItemStatus.RETURNED, PayoutItemStatus.FAILED]
    assert [balance(u) for u in users] == [Decimal("500.00"), Decimal("500.00")]
    assert [hold_balance(u) for u in users] == [0, 0]
    assert "MD07" in Withdrawal.objects.get(pk=withdrawals[0].pk).failure_reason
    assert_books_balanced()
    entries = JournalEntry.objects.count()
    assert bank_statement_apply(data=statement, actor=maker).duplicates == [
        i.end_to_end_id for i in items]
    assert JournalEntry.objects.count() == entries


def test_a_paid_refund_returned_is_back_in_suspense(maker, checker):  # noqa: F811
    event = bank_event_apply(payload=bank_event("evt_unk", "deposit.received", "PM-NOBODY77",
                                                "60.00"))
    refund = refund_propose(actor=maker, bank_event=event, payee_name="Hans Sender",
                            payee_iban="DE89370400440532013000", reason="sender asked")
    allocation_approve(allocation=refund, actor=checker)
    item = exported_batch(maker, checker).items.get()
    bank_event_apply(payload=bank_event("evt_rp", "withdrawal.paid", item.end_to_end_id,
                                        "60.00"))
    suspense = platform_account(AccountKind.SUSPENSE, "EUR")
    assert account_balance(suspense) == 0
    bank_event_apply(payload=returned("evt_rr", item.end_to_end_id, "60.00"))
    refund.refresh_from_db()
    event.refresh_from_db()
    item.refresh_from_db()
    assert (refund.status, event.status, item.status) == (
        AllocationStatus.RETURNED, BankEventStatus.UNMATCHED, PayoutItemStatus.RETURNED)
    assert account_balance(suspense) == Decimal("60.00")
    assert_books_balanced()
