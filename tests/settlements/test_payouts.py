"""Payouts (issue #13): withdrawals batched with maker-checker into a pain.001 (SEPA) or CSV
bank file, settled by the bank's webhooks or an uploaded camt.054; a failed payout returns
the funds, notifies the user and can be retried."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
import xmlschema
from defusedxml import ElementTree as SafeET
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

from accounts.services import staff_user_create
from compliance.models import AuditEvent
from paymint.core.errors import ApplicationError
from paymint.core.models import DomainEvent
from settlements.bankfiles import (
    BANK_CSV_COLUMNS,
    InvalidPayeeAccount,
    StatementLine,
    camt054_build,
    camt054_parse,
    payee_account_check,
)
from settlements.enums import PayoutBatchStatus, PayoutItemStatus, WithdrawalStatus
from settlements.ledger.selectors import wallet_balances
from settlements.models import (
    BankEvent,
    JournalEntry,
    PayoutBatch,
    PayoutBatchEvent,
    PayoutItem,
    Posting,
    Withdrawal,
)
from settlements.services import (
    bank_event_apply,
    bank_statement_apply,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_export,
    payout_retry,
    withdrawal_request,
)
from tests.helpers import STRONG_PASSWORD, assert_books_balanced, bank_event, deposit, make_user

PAIN_001_XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
IBANS = ["DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300",
         "BE68539007547034"]
TAX_IDS = ["FR40303265045", "NL004495445B01", "BE0403170701", "IT00743110157"]


@pytest.fixture
def maker(db):
    return staff_user_create(email="maker@example.com", password=STRONG_PASSWORD,
                             roles=("finance",))


@pytest.fixture
def checker(db):
    return staff_user_create(email="checker@example.com", password=STRONG_PASSWORD,
                             roles=("finance",))


def payee(n: int, staff, *, iban: str | None = None, currency: str = "EUR",
          amount: str = "500.00"):
    """An approved investor with a payout IBAN and ``amount`` deposited."""
    tax_id = TAX_IDS[n % len(TAX_IDS)]
    user = make_user("INVESTOR", f"payee{n}@example.com", approve_by=staff, kyc={
        "legal_name": f"Payee {n}", "country": tax_id[:2], "tax_id": tax_id,
        "bank_account_iban": IBANS[n % len(IBANS)] if iban is None else iban,
    })
    deposit(user, amount, currency=currency)
    return user


def withdraw(user, amount: str, currency: str = "EUR") -> Withdrawal:
    withdrawal, _ = withdrawal_request(user=user, amount=amount, currency=currency)
    return withdrawal


def balance(user, currency: str = "EUR") -> Decimal:
    return {b["currency"]: b["balance"] for b in wallet_balances(user=user)}.get(
        currency, Decimal(0))


def hold_balance(user, currency: str = "EUR") -> Decimal:
    return sum((p.amount for p in Posting.objects.filter(
        account__owner=user, account__kind="WITHDRAWAL_HOLD", account__currency=currency)),
        Decimal(0))


@pytest.fixture
def three(staff):
    users = [payee(n, staff) for n in range(3)]
    withdrawals = [withdraw(u, amount) for u, amount in zip(
        users, ("120.00", "80.50", "300.25"), strict=True)]
    return users, withdrawals


def test_a_batch_of_three_from_maker_to_bank_file(maker, checker, three):
    users, withdrawals = three
    result = payout_batch_create(actor=maker, currency="EUR")
    batch = result.batch
    assert result.skipped == []
    assert (batch.status, batch.item_count, batch.total_amount) == (
        PayoutBatchStatus.DRAFT, 3, Decimal("500.75"))
    items = list(batch.items.order_by("id"))
    assert [i.end_to_end_id for i in items] == [f"{w.reference}-1" for w in withdrawals]
    assert items[0].creditor_bic == "COBADEFFXXX"  # derived from the German bank code

    # The maker cannot approve their own batch: refused, nothing written.
    audit_before = AuditEvent.objects.count()
    with pytest.raises(ApplicationError) as refused:
        payout_batch_approve(batch=batch, actor=maker)
    assert refused.value.code == "PAYOUT_MAKER_CANNOT_APPROVE"
    assert refused.value.http_status == 403
    batch.refresh_from_db()
    assert (batch.status, batch.approved_by) == (PayoutBatchStatus.DRAFT, None)
    assert AuditEvent.objects.count() == audit_before

    # Not exported before approval.
    with pytest.raises(ApplicationError) as early:
        payout_batch_export(batch=batch, actor=maker)
    assert early.value.code == "INVALID_PAYOUT_BATCH_TRANSITION"

    payout_batch_approve(batch=batch, actor=checker, reason="checked against the requests")
    exported = payout_batch_export(batch=batch, actor=maker)
    content = exported.file_content.encode()
    assert exported.file_name.endswith(".pain001.xml")
    assert hashlib.sha256(content).hexdigest() == exported.file_sha256

    # Valid against the official pain.001.001.03 XSD; NbOfTxs and CtrlSum match the items.
    xmlschema.XMLSchema(str(PAIN_001_XSD)).validate(exported.file_content)
    root = SafeET.fromstring(content)
    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert header.find("p:MsgId", NS).text == batch.reference
    assert header.find("p:NbOfTxs", NS).text == "3"
    assert Decimal(header.find("p:CtrlSum", NS).text) == Decimal("500.75")
    e2e = [e.text for e in root.iterfind(".//p:CdtTrfTxInf/p:PmtId/p:EndToEndId", NS)]
    assert e2e == [i.end_to_end_id for i in items]
    amounts = [Decimal(e.text) for e in root.iterfind(".//p:CdtTrfTxInf/p:Amt/p:InstdAmt", NS)]
    assert amounts == [Decimal("120.00"), Decimal("80.50"), Decimal("300.25")]
    assert set(PayoutItem.objects.values_list("status", flat=True)) == {PayoutItemStatus.SENT}

    # Exporting again returns the same file and changes nothing.
    entries = JournalEntry.objects.count()
    again = payout_batch_export(batch=batch, actor=checker)
    assert (again.file_content, again.file_sha256) == (exported.file_content,
                                                       exported.file_sha256)
    assert JournalEntry.objects.count() == entries
    assert PayoutBatchEvent.objects.filter(batch=batch, to_status="EXPORTED").count() == 1


def test_one_paid_by_webhook_one_failed_and_one_paid_by_camt054(maker, checker, three):
    users, withdrawals = three
    batch = payout_batch_create(actor=maker, currency="EUR").batch
    payout_batch_approve(batch=batch, actor=checker)
    payout_batch_export(batch=batch, actor=maker)
    items = list(batch.items.order_by("id"))

    # The webhook quotes the item's end-to-end id.
    bank_event_apply(payload=bank_event("evt_po_1", "withdrawal.paid", items[0].end_to_end_id,
                                        "120.00"))
    statement = camt054_build(
        message_id="CAMT-1", account_iban="DE89370400440532013000",
        created_at=dt.datetime(2026, 12, 7, 9, 0),
        lines=[StatementLine(items[1].end_to_end_id, Decimal("80.50"), "EUR", paid=False,
                             reason="AC04"),
               StatementLine(items[2].end_to_end_id, Decimal("300.25"), "EUR", paid=True)])
    outcome = bank_statement_apply(data=statement, actor=maker, file_name="camt.xml")
    assert (outcome.paid, outcome.failed, outcome.refused) == (
        [items[2].end_to_end_id], [items[1].end_to_end_id], [])

    statuses = [Withdrawal.objects.get(pk=w.pk).status for w in withdrawals]
    assert statuses == [WithdrawalStatus.PAID, WithdrawalStatus.FAILED, WithdrawalStatus.PAID]
    assert [balance(u) for u in users] == [Decimal("380.00"), Decimal("500.00"),
                                           Decimal("199.75")]
    assert [hold_balance(u) for u in users] == [0, 0, 0]
    failed = Withdrawal.objects.get(pk=withdrawals[1].pk)
    assert "AC04" in failed.failure_reason
    item = PayoutItem.objects.get(pk=items[1].pk)
    assert (item.status, item.bank_event.event_id) == (PayoutItemStatus.FAILED,
                                                       f"camt054:CAMT-1:{item.end_to_end_id}")
    batch.refresh_from_db()
    assert batch.status == PayoutBatchStatus.SETTLED and batch.settled_at is not None
    assert_books_balanced()
    # The user whose payout failed is told (a domain event for them, once).
    notice = DomainEvent.objects.get(name="withdrawal.failed")
    assert list(notice.recipients) == [str(users[1].pk)]
    assert notice.recipients[str(users[1].pk)]["reference"] == failed.reference
    assert DomainEvent.objects.filter(name="withdrawal.paid").count() == 2

    # The same statement again: every line already applied, nothing written.
    before = (JournalEntry.objects.count(), BankEvent.objects.count())
    replay = bank_statement_apply(data=statement, actor=maker)
    assert replay.duplicates == [items[1].end_to_end_id, items[2].end_to_end_id]
    assert (JournalEntry.objects.count(), BankEvent.objects.count()) == before


def test_a_failed_payout_is_retried_in_a_later_batch(maker, checker, staff):
    user = payee(0, staff)
    withdrawal = withdraw(user, "100.00")
    batch = payout_batch_create(actor=maker, currency="EUR").batch
    payout_batch_approve(batch=batch, actor=checker)
    payout_batch_export(batch=batch, actor=checker)
    first = batch.items.get()
    bank_event_apply(payload={**bank_event("evt_f1", "withdrawal.failed", first.end_to_end_id,
                                           "100.00"), "data": {
        "reference": first.end_to_end_id, "amount": "100.00", "currency": "EUR",
        "reason": "account closed"}})
    assert balance(user) == Decimal("500.00")

    # Operations may see but not retry; finance retries: held again, back to REQUESTED.
    with pytest.raises(ApplicationError) as refused:
        payout_retry(withdrawal=withdrawal, actor=staff)
    assert refused.value.code == "PERMISSION_DENIED"
    retried = payout_retry(withdrawal=withdrawal, actor=maker, reason="user fixed the IBAN")
    assert retried.status == WithdrawalStatus.REQUESTED and retried.failure_reason == ""
    assert (balance(user), hold_balance(user)) == (Decimal("400.00"), Decimal("100.00"))
    with pytest.raises(ApplicationError) as twice:
        payout_retry(withdrawal=withdrawal, actor=maker)
    assert twice.value.code == "WITHDRAWAL_NOT_FAILED"

    second_batch = payout_batch_create(actor=checker, currency="EUR").batch
    second = second_batch.items.get()
    assert (second.attempt, second.end_to_end_id) == (2, f"{withdrawal.reference}-2")

    # A late line about the first attempt cannot release the new hold.
    entries = JournalEntry.objects.count()
    with pytest.raises(ApplicationError) as late:
        bank_event_apply(payload=bank_event("evt_f1_late", "withdrawal.failed",
                                            first.end_to_end_id, "100.00"))
    assert late.value.code == "WITHDRAWAL_ALREADY_FINAL"
    assert JournalEntry.objects.count() == entries
    assert hold_balance(user) == Decimal("100.00")
    assert_books_balanced()


def test_withdrawals_without_a_usable_account_are_skipped_and_an_empty_batch_is_refused(
        maker, staff):
    nobody = payee(0, staff, iban="")
    withdraw(nobody, "10.00")
    before = (PayoutBatch.objects.count(), PayoutItem.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ApplicationError) as empty:
        payout_batch_create(actor=maker, currency="EUR")
    assert (empty.value.code, empty.value.http_status) == ("PAYOUT_BATCH_EMPTY", 409)
    assert (PayoutBatch.objects.count(), PayoutItem.objects.count(),
            AuditEvent.objects.count()) == before

    ok = payee(1, staff)
    good = withdraw(ok, "20.00")
    result = payout_batch_create(actor=maker, currency="EUR")
    assert [i.withdrawal_id for i in result.batch.items.all()] == [good.pk]
    assert result.skipped[0][1] == "no payout IBAN on the profile"


def test_only_finance_makes_and_approves_batches(staff, maker, three):
    with pytest.raises(ApplicationError) as refused:
        payout_batch_create(actor=staff, currency="EUR")  # operations + compliance
    assert refused.value.code == "PERMISSION_DENIED"
    batch = payout_batch_create(actor=maker, currency="EUR").batch
    with pytest.raises(ApplicationError):
        payout_batch_approve(batch=batch, actor=staff)
    assert not PayoutBatch.objects.exclude(status=PayoutBatchStatus.DRAFT).exists()


def test_the_database_refuses_a_batch_approved_by_its_maker(maker, three):
    batch = payout_batch_create(actor=maker, currency="EUR").batch
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutBatch.objects.filter(pk=batch.pk).update(approved_by=maker)


def test_other_currencies_get_the_documented_csv(maker, checker, staff):
    user = payee(0, staff, currency="GBP", iban="GB82WEST12345698765432")
    withdrawal = withdraw(user, "75.10", "GBP")
    batch = payout_batch_create(actor=maker, currency="GBP").batch
    payout_batch_approve(batch=batch, actor=checker)
    exported = payout_batch_export(batch=batch, actor=checker)
    header, row = exported.file_content.splitlines()
    assert tuple(header.split(",")) == BANK_CSV_COLUMNS
    fields = dict(zip(BANK_CSV_COLUMNS, row.split(","), strict=True))
    assert fields["end_to_end_id"] == f"{withdrawal.reference}-1"
    assert (fields["amount"], fields["currency"]) == ("75.10", "GBP")
    assert fields["creditor_iban"] == "GB82WEST12345698765432"


def test_payee_accounts_are_checked_with_schwifty():
    assert payee_account_check(iban="nl91 abna 0417 1643 00", name="A").iban == \
        "NL91ABNA0417164300"
    for bad in ("DE89370400440532013001", "XX00", ""):
        with pytest.raises(InvalidPayeeAccount):
            payee_account_check(iban=bad, name="A")
    with pytest.raises(InvalidPayeeAccount):
        payee_account_check(iban="DE89370400440532013000", bic="COBADEFFX", name="A")


def test_a_camt054_that_is_not_one_is_refused(maker):
    for data in (b"not xml", b"<Document><Other/></Document>"):
        with pytest.raises(ApplicationError) as refused:
            bank_statement_apply(data=data, actor=maker)
        assert refused.value.code == "INVALID_BANK_STATEMENT"
    parsed = camt054_parse(camt054_build(
        message_id="M", account_iban="DE89370400440532013000",
        created_at=dt.datetime(2026, 1, 1),
        lines=[StatementLine("WD-1-1", Decimal("1.50"), "EUR", paid=False, reason="AC01")]))
    assert parsed.lines == (StatementLine("WD-1-1", Decimal("1.50"), "EUR", paid=False,
                                          reason="AC01"),)


def test_the_management_commands_make_and_export_a_batch(maker, checker, three, tmp_path):
    out = io.StringIO()
    call_command("payout_batch_create", "--currency", "EUR", "--actor", maker.email,
                 stdout=out)
    reference = out.getvalue().split()[0]
    batch = PayoutBatch.objects.get(reference=reference)
    assert (batch.created_by, batch.item_count) == (maker, 3)
    with pytest.raises(CommandError, match="INVALID_PAYOUT_BATCH_TRANSITION"):
        call_command("payout_batch_export", reference, "--output", str(tmp_path / "x.xml"),
                     "--actor", maker.email)
    payout_batch_approve(batch=batch, actor=checker)
    for name in ("a.xml", "b.xml"):
        call_command("payout_batch_export", reference, "--output", str(tmp_path / name),
                     "--actor", maker.email, stdout=io.StringIO())
    assert (tmp_path / "a.xml").read_bytes() == (tmp_path / "b.xml").read_bytes()
    xmlschema.XMLSchema(str(PAIN_001_XSD)).validate(str(tmp_path / "a.xml"))
    with pytest.raises(CommandError, match="PAYOUT_BATCH_EMPTY"):
        call_command("payout_batch_create", "--currency", "EUR", "--actor", maker.email)
