"""Refunds of unmatched money to the sender (issue #13, "Unmatched money": "Refunds to the
sender are possible, as a payout"): proposed by one finance user with the sender's account,
approved by another (suspense -> refund hold, one balanced entry), paid out in the next payout
batch (its own maker-checker, the pain.001 checked against the XSD), settled by the bank's
answer; a failed refund is back in suspense and in the unmatched queue."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
import xmlschema
from defusedxml import ElementTree as SafeET
from django.test import Client
from django.urls import reverse

from accounts.services import staff_user_create
from compliance.models import AuditEvent
from paymint.core.errors import ApplicationError
from settlements.bankfiles import StatementLine, camt054_build
from settlements.enums import (
    AccountKind,
    AllocationStatus,
    BankEventStatus,
    EntryKind,
    PayoutBatchStatus,
    PayoutItemStatus,
)
from settlements.ledger.posting import account_balance, ledger_account, platform_account
from settlements.models import BankEvent, JournalEntry, PayoutItem, SuspenseAllocation
from settlements.services import (
    allocation_approve,
    allocation_propose,
    bank_event_apply,
    bank_statement_apply,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_export,
    refund_propose,
)
from tests.helpers import (
    STRONG_PASSWORD,
    admin_sign_in,
    assert_books_balanced,
    bank_event,
    db_counts,
)

PAIN_001_XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
SENDER_IBAN = "DE89370400440532013000"


@pytest.fixture
def proposer(db):
    return staff_user_create(email="fin1@example.com", password=STRONG_PASSWORD,
                             roles=("finance",))


@pytest.fixture
def approver(db):
    return staff_user_create(email="fin2@example.com", password=STRONG_PASSWORD,
                             roles=("finance",))


def balance(kind: str, currency: str = "EUR") -> Decimal:
    if kind == AccountKind.WITHDRAWAL_HOLD:  # the platform's refund hold: no owner
        return account_balance(ledger_account(kind, currency))
    return account_balance(platform_account(kind, currency))


def unmatched(event_id: str, amount: str, reference: str = "PM-NOBODY01") -> BankEvent:
    event = bank_event_apply(payload=bank_event(event_id, "deposit.received", reference,
                                                amount))
    assert event.status == BankEventStatus.UNMATCHED
    return event


def approved_refund(proposer, approver, event: BankEvent) -> SuspenseAllocation:
    refund = refund_propose(actor=proposer, bank_event=event, payee_name="Hans Sender",
                            payee_iban=SENDER_IBAN, reason="Sender asked for it back")
    return allocation_approve(allocation=refund, actor=approver)


def test_a_suspense_credit_is_refunded_to_its_sender_as_a_payout(proposer, approver):
    event = unmatched("evt_r1", "42.00", reference="Rechnung 17/4 (Müller)")
    bank_before = balance(AccountKind.PLATFORM_BANK_CLEARING)
    refund = refund_propose(actor=proposer, bank_event=event, payee_name="Hans Sender",
                            payee_iban="de89 3704 0044 0532 0130 00",
                            reason="Sender says it was meant for another company")
    assert (refund.kind, refund.amount, refund.payee_iban, refund.payee_bic) == (
        "REFUND", Decimal("42.00"), SENDER_IBAN, "COBADEFFXXX")
    assert balance(AccountKind.SUSPENSE) == Decimal("42.00")  # nothing moves on a proposal

    # Four eyes: the proposer cannot approve it; nothing is written.
    before = (db_counts(), AuditEvent.objects.count())
    with pytest.raises(ApplicationError) as own:
        allocation_approve(allocation=refund, actor=proposer)
    assert (own.value.code, own.value.http_status) == ("FOUR_EYES_SAME_PERSON", 403)
    assert (db_counts(), AuditEvent.objects.count()) == before

    approved = allocation_approve(allocation=refund, actor=approver, reason="checked")
    assert (approved.status, approved.decided_by) == (AllocationStatus.POSTED, approver)
    entry = approved.refund_entry
    assert entry.kind == EntryKind.SUSPENSE_REFUND
    assert sorted((p.account.kind, p.account.owner_id, p.amount)
                  for p in entry.postings.select_related("account")) == [
        ("SUSPENSE", None, Decimal("-42.00")), ("WITHDRAWAL_HOLD", None, Decimal("42.00"))]
    assert (balance(AccountKind.SUSPENSE), balance(AccountKind.WITHDRAWAL_HOLD)) == (
        Decimal("0.00"), Decimal("42.00"))
    event.refresh_from_db()
    assert event.status == BankEventStatus.REFUNDED
    assert_books_balanced()
    with pytest.raises(ApplicationError) as twice:
        allocation_approve(allocation=refund, actor=approver)
    assert twice.value.code == "ALLOCATION_NOT_OPEN"

    # The outgoing credit transfer is an item of the next batch, with its own four eyes.
    batch = payout_batch_create(actor=proposer, currency="EUR").batch
    item = batch.items.get()
    assert (item.allocation, item.withdrawal, item.end_to_end_id, item.amount) == (
        approved, None, f"{approved.refund_reference}-1", Decimal("42.00"))
    with pytest.raises(ApplicationError) as maker:
        payout_batch_approve(batch=batch, actor=proposer)
    assert maker.value.code == "PAYOUT_MAKER_CANNOT_APPROVE"
    payout_batch_approve(batch=batch, actor=approver)
    exported = payout_batch_export(batch=batch, actor=proposer)
    xmlschema.XMLSchema(str(PAIN_001_XSD)).validate(exported.file_content)
    root = SafeET.fromstring(exported.file_content.encode())
    transfer = root.find(".//p:CdtTrfTxInf", NS)
    assert transfer.find("p:CdtrAcct/p:Id/p:IBAN", NS).text == SENDER_IBAN
    assert transfer.find("p:Cdtr/p:Nm", NS).text == "Hans Sender"
    assert transfer.find("p:PmtId/p:EndToEndId", NS).text == item.end_to_end_id
    remittance = transfer.find("p:RmtInf/p:Ustrd", NS).text
    assert approved.refund_reference in remittance and "Rechnung 17/4 (Mller)" in remittance
    # A second batch does not pay it again.
    with pytest.raises(ApplicationError) as empty:
        payout_batch_create(actor=proposer, currency="EUR")
    assert empty.value.code == "PAYOUT_BATCH_EMPTY"

    # The bank pays it: the refund hold goes to bank clearing; the batch is settled.
    bank_event_apply(payload=bank_event("evt_r1_paid", "withdrawal.paid", item.end_to_end_id,
                                        "42.00"))
    item.refresh_from_db()
    batch.refresh_from_db()
    assert (item.status, batch.status) == (PayoutItemStatus.PAID, PayoutBatchStatus.SETTLED)
    assert balance(AccountKind.WITHDRAWAL_HOLD) == 0
    assert balance(AccountKind.PLATFORM_BANK_CLEARING) == bank_before + Decimal("42.00")
    assert_books_balanced()
    # A late failure about the paid refund changes nothing.
    entries = JournalEntry.objects.count()
    with pytest.raises(ApplicationError) as late:
        bank_event_apply(payload=bank_event("evt_r1_late", "withdrawal.failed",
                                            item.end_to_end_id, "42.00"))
    assert late.value.code == "WITHDRAWAL_ALREADY_FINAL"
    assert JournalEntry.objects.count() == entries


def test_a_returned_refund_is_back_in_suspense_and_can_be_allocated(
        proposer, approver, make_investor):
    event = unmatched("evt_r2", "80.00")
    refund = approved_refund(proposer, approver, event)
    batch = payout_batch_create(actor=approver, currency="EUR").batch
    payout_batch_approve(batch=batch, actor=proposer)
    payout_batch_export(batch=batch, actor=approver)
    item = batch.items.get()

    statement = camt054_build(
        message_id="CAMT-R2", account_iban=SENDER_IBAN,
        created_at=dt.datetime(2026, 12, 7, 9, 0),
        lines=[StatementLine(item.end_to_end_id, Decimal("80.00"), "EUR", paid=False,
                             reason="AC04")])
    outcome = bank_statement_apply(data=statement, actor=proposer)
    assert (outcome.failed, outcome.refused) == ([item.end_to_end_id], [])
    refund.refresh_from_db()
    event.refresh_from_db()
    item.refresh_from_db()
    assert (refund.status, event.status, item.status) == (
        AllocationStatus.RETURNED, BankEventStatus.UNMATCHED, PayoutItemStatus.FAILED)
    assert "AC04" in item.failure_reason
    assert (balance(AccountKind.SUSPENSE), balance(AccountKind.WITHDRAWAL_HOLD)) == (
        Decimal("80.00"), Decimal("0.00"))
    assert_books_balanced()
    # The same statement again changes nothing.
    entries = JournalEntry.objects.count()
    assert bank_statement_apply(data=statement, actor=proposer).duplicates == [
        item.end_to_end_id]
    assert JournalEntry.objects.count() == entries

    # Back in the unmatched queue: finance may now allocate it to the right wallet.
    investor = make_investor()
    allocation = allocation_propose(actor=proposer, bank_event=event, kind="DEPOSIT",
                                    reference=investor.deposit_reference,
                                    reason="The sender's account is closed; it was theirs")
    allocation_approve(allocation=allocation, actor=approver)
    cash = ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=investor)
    assert (account_balance(cash), balance(AccountKind.SUSPENSE)) == (Decimal("80.00"), 0)
    assert_books_balanced()


def test_refund_refusals_write_nothing(proposer, approver, make_investor):
    event = unmatched("evt_r3", "10.00")
    investor = make_investor()
    before = (db_counts(), AuditEvent.objects.count())
    for kwargs, code in [
        ({"payee_iban": "DE89370400440532013001"}, "PAYOUT_ACCOUNT_INVALID"),  # check digits
        ({"payee_bic": "NOTABIC"}, "PAYOUT_ACCOUNT_INVALID"),
        ({"reason": " "}, "REASON_REQUIRED"),
        ({"payee_name": ""}, "VALIDATION_ERROR"),
        ({"actor": investor}, "PERMISSION_DENIED"),
    ]:
        with pytest.raises(ApplicationError) as refused:
            refund_propose(**{"actor": proposer, "bank_event": event,
                              "payee_name": "Hans Sender", "payee_iban": SENDER_IBAN,
                              "reason": "back", **kwargs})
        assert refused.value.code == code, kwargs
    assert (db_counts(), AuditEvent.objects.count()) == before

    # One live proposal per credit: a refund and an allocation exclude each other.
    refund_propose(actor=proposer, bank_event=event, payee_name="Hans Sender",
                   payee_iban=SENDER_IBAN, reason="back")
    with pytest.raises(ApplicationError) as second:
        allocation_propose(actor=approver, bank_event=event, kind="DEPOSIT",
                           reference=investor.deposit_reference, reason="no, theirs")
    assert second.value.code == "ALLOCATION_NOT_OPEN"
    # A credit that was never in suspense cannot be refunded.
    matched = bank_event_apply(payload=bank_event("evt_r3_ok", "deposit.received",
                                                  investor.deposit_reference, "5.00"))
    with pytest.raises(ApplicationError) as not_suspense:
        refund_propose(actor=proposer, bank_event=matched, payee_name="Hans Sender",
                       payee_iban=SENDER_IBAN, reason="back")
    assert not_suspense.value.code == "ALLOCATION_NOT_OPEN"


def test_finance_refunds_from_the_unmatched_queue_in_the_admin(proposer, approver, staff):
    event = unmatched("evt_r4", "30.00")
    changelist = reverse("admin:settlements_bankevent_changelist")
    # Operations see the queue but not the refund action.
    ops_page = admin_sign_in(Client(), staff).get(changelist, {"status__exact": "UNMATCHED"})
    assert ops_page.status_code == 200 and b'value="refund"' not in ops_page.content
    maker_client = admin_sign_in(Client(), proposer)
    page = maker_client.get(changelist, {"status__exact": "UNMATCHED"})
    assert b'value="refund"' in page.content
    form = maker_client.post(changelist, {"action": "refund", "_selected_action": [event.pk]})
    assert form.status_code == 200 and b"Sender&#x27;s IBAN" in form.content
    maker_client.post(changelist, {
        "action": "refund", "_selected_action": [event.pk], "apply": "1",
        "payee_name": "Hans Sender", "payee_iban": SENDER_IBAN, "payee_bic": "",
        "reason": "sender called"})
    refund = SuspenseAllocation.objects.get()
    assert (refund.kind, refund.status, refund.proposed_by) == ("REFUND", "PROPOSED", proposer)
    allocations = reverse("admin:settlements_suspenseallocation_changelist")
    listing = maker_client.get(allocations)
    assert b"Hans Sender (DE89 **** 3000)" in listing.content
    assert SENDER_IBAN.encode() not in maker_client.get(
        reverse("admin:settlements_suspenseallocation_change", args=[refund.pk])).content
    maker_client.post(allocations, {"action": "approve", "_selected_action": [refund.pk]})
    assert SuspenseAllocation.objects.get().status == AllocationStatus.PROPOSED  # own: no
    admin_sign_in(Client(), approver).post(allocations, {
        "action": "approve", "_selected_action": [refund.pk]})
    assert SuspenseAllocation.objects.get().status == AllocationStatus.POSTED
    assert PayoutItem.objects.count() == 0  # paid out with the next batch
    assert balance(AccountKind.WITHDRAWAL_HOLD) == Decimal("30.00")
    batch = payout_batch_create(actor=proposer, currency="EUR").batch
    page = maker_client.get(reverse("admin:settlements_payoutbatch_change", args=[batch.pk]))
    link = reverse("admin:settlements_suspenseallocation_change", args=[refund.pk])
    assert f'refund <a href="{link}">{refund.refund_reference}</a>' in page.content.decode()
