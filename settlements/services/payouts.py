"""Payouts: withdrawals paid out in batches, with maker-checker, one bank file per batch.

The flow (README, "Payouts"):

1. A user's withdrawal holds the amount at once (cash -> withdrawal hold,
   :func:`~settlements.services.withdrawals.withdrawal_request`).
2. A finance user makes a batch of one currency (:func:`payout_batch_create`): every
   ``REQUESTED`` withdrawal not already in a live batch item, whose owner is not on compliance
   hold and whose payout IBAN/BIC pass :func:`settlements.bankfiles.payee_account_check`
   (the others are skipped and reported). No money moves: it is on hold already.
3. Another finance user approves it (:func:`payout_batch_approve`; the maker cannot, also a
   database constraint).
4. The bank file is built once (:func:`payout_batch_export`: pain.001 for EUR, CSV
   otherwise); later exports return the same bytes.
5. The bank's ``withdrawal.paid`` / ``withdrawal.failed`` webhooks, or an uploaded camt.054
   (:mod:`settlements.services.bank_statements`), settle each item through
   :func:`~settlements.services.bank.bank_event_apply`: paid moves the hold to the bank
   clearing account, failed back to the user's cash (each one balanced, idempotent entry)
   and notifies the user. :func:`payout_item_outcome` marks the item and settles the batch
   when its last item is final.
6. A failed payout can be retried once the user fixed their bank details
   (:func:`payout_retry`): the amount is held again and the withdrawal is ``REQUESTED``.
7. A payout the bank sends back after it was paid (an R-transaction: the
   ``withdrawal.returned`` webhook, or a camt.054 line with return information quoting a
   paid item) is ``RETURNED``: the money came back to the bank account and goes back to the
   user's wallet (bank clearing -> cash, one balanced entry, idempotent by the event id),
   the user is notified, and finance may retry it like a failed one
   (:func:`payout_item_returned`, called by
   :func:`~settlements.services.bank.bank_event_apply`).

Refunds of unmatched money (:func:`settlements.services.suspense.refund_propose`): an
approved refund has left suspense for the platform's refund hold (the ownerless
``WITHDRAWAL_HOLD`` account of its currency, :func:`refund_hold_account`) and is batched like
a withdrawal; the bank's answer settles its item through :func:`payout_refund_outcome`
(paid: refund hold -> bank clearing; failed: refund hold -> suspense, the credit back in the
unmatched queue).

Every step checks the actor's back-office permission (the ``finance`` role,
:mod:`accounts.roles`) itself, whatever the entry point (admin, management command), and
writes the audit trail (:func:`compliance.public.audit_record`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from compliance.public import audit_record, user_is_on_hold
from paymint.core import clock
from paymint.core.error_codes import CoreError
from paymint.core.errors import (
    ApplicationError,
    Conflict,
    InvalidTransition,
    PermissionDenied,
    ValidationFailed,
)
from paymint.core.money import quantize_money
from paymint.core.permissions import require_staff

from ..bankfiles import (
    BankFileItem,
    InvalidPayeeAccount,
    bank_csv_build,
    pain001_build,
    payee_account_check,
)
from ..enums import (
    PAYOUT_BATCH_TRANSITIONS,
    PAYOUT_ITEM_LIVE,
    AccountKind,
    AllocationKind,
    AllocationStatus,
    BankEventStatus,
    BankFileFormat,
    EntryKind,
    PayoutBatchStatus,
    PayoutItemStatus,
    WithdrawalStatus,
)
from ..error_codes import SettlementsError
from ..ledger.posting import Leg, ledger_account, ledger_post, lock_accounts, platform_account
from ..ledger.selectors import cash_account_kind
from ..models import (
    BankEvent,
    JournalEntry,
    PayoutBatch,
    PayoutBatchEvent,
    PayoutItem,
    SuspenseAllocation,
    Withdrawal,
)
from .withdrawals import withdrawal_status_set

PERMISSION_CREATE = "settlements.create_payoutbatch"
PERMISSION_APPROVE = "settlements.approve_payoutbatch"
PERMISSION_EXPORT = "settlements.export_payoutbatch"
PERMISSION_SETTLE = "settlements.settle_payoutbatch"
PERMISSION_RETRY = "settlements.retry_payout"


@dataclass
class PayoutBatchResult:
    """What :func:`payout_batch_create` did: the batch, and the withdrawals it left out with
    the reason (``[(withdrawal reference, reason), ...]``)."""

    batch: PayoutBatch
    skipped: list[tuple[str, str]] = field(default_factory=list)


def payee_account_for(user):
    """The user's payout account (:class:`~settlements.bankfiles.PayeeAccount`), from their
    KYC/KYB profile: legal name and IBAN (the BIC derived from it).

    Raises:
        InvalidPayeeAccount: no profile, no IBAN, or an invalid one.
    """
    profile = getattr(user, "kyc", None)
    if profile is None:
        raise InvalidPayeeAccount("no KYC/KYB profile")
    return payee_account_check(iban=profile.bank_account_iban, name=profile.legal_name)


def refund_hold_account(currency: str):
    """The platform's refund hold in ``currency``: refunds of suspense credits between their
    approval and the bank's answer (an ownerless ``WITHDRAWAL_HOLD`` account)."""
    return ledger_account(AccountKind.WITHDRAWAL_HOLD, currency)


#: Characters a SEPA remittance line may carry (the Latin subset banks accept).
_SEPA_UNSAFE = re.compile(r"[^A-Za-z0-9 /\-?:().,'+]")


def _remittance(item: PayoutItem) -> str:
    if item.withdrawal_id:
        return f"PayMint withdrawal {item.withdrawal.reference}"
    sender_reference = _SEPA_UNSAFE.sub("", item.allocation.bank_event.reference)
    return f"PayMint refund {item.allocation.refund_reference} of your transfer " \
           f"{sender_reference}"[:140]


def payout_batch_transition(*, batch: PayoutBatch, to_status: str, actor=None,
                            reason: str = "") -> PayoutBatch:
    """The one writer of ``PayoutBatch.status``: ``batch`` is locked by the caller, inside
    its transaction. Checks :data:`~settlements.enums.PAYOUT_BATCH_TRANSITIONS` and writes a
    :class:`~settlements.models.PayoutBatchEvent` (from, to, actor, reason).

    Raises:
        InvalidTransition: ``INVALID_PAYOUT_BATCH_TRANSITION``.
    """
    if to_status not in PAYOUT_BATCH_TRANSITIONS[batch.status]:
        raise InvalidTransition(
            f"Payout batch {batch.reference} is {batch.get_status_display().lower()}: it "
            f"cannot become {PayoutBatchStatus(to_status).label.lower()}.",
            code=SettlementsError.INVALID_PAYOUT_BATCH_TRANSITION)
    PayoutBatchEvent.objects.create(batch=batch, from_status=batch.status, to_status=to_status,
                                    actor=actor, reason=reason[:300])
    batch.status = to_status
    batch.save(update_fields=["status", "updated_at"])
    return batch


def _batch_reference(currency: str) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    suffix = "".join(secrets.choice(alphabet) for _ in range(6))
    return f"PO-{currency}-{clock.today():%Y%m%d}-{suffix}"


def payout_batch_create(*, actor, currency: str) -> PayoutBatchResult:
    """Make a ``DRAFT`` batch of every payable withdrawal in ``currency`` (see the module
    docstring, step 2), and of every approved refund of a suspense credit not yet in a live
    item, in one durable transaction. Each item records the payee's name, IBAN and BIC as
    they are sent, and its end-to-end id ``<withdrawal reference>-<attempt>`` (a refund:
    ``<refund reference>-1``).

    Concurrent makers never batch one withdrawal twice: the candidate withdrawals are locked
    (``FOR UPDATE``, id order) and the live items read again after the locks; a partial unique
    constraint (one live item per withdrawal) backs it.

    Raises:
        PermissionDenied: the actor lacks ``settlements.create_payoutbatch``.
        ValidationFailed: ``UNSUPPORTED_CURRENCY``.
        Conflict: ``PAYOUT_BATCH_EMPTY`` when no withdrawal can be paid (nothing written).
    """
    require_staff(actor, "Only finance staff can make payout batches.",
                  permission=PERMISSION_CREATE)
    if currency not in settings.PAYMINT["CURRENCIES"]:
        raise ValidationFailed(f"Unsupported currency {currency!r}.",
                               code=CoreError.UNSUPPORTED_CURRENCY,
                               fields={"currency": ["Unsupported."]})
    with transaction.atomic(durable=True):
        candidates = list(
            Withdrawal.objects.select_for_update(of=("self",))
            .select_related("user", "user__kyc")
            .filter(currency=currency, status=WithdrawalStatus.REQUESTED)
            .order_by("id")
        )
        ids = [w.pk for w in candidates]
        # Read after the locks (a new snapshot): items a concurrent maker just committed.
        live = set(PayoutItem.objects.filter(withdrawal_id__in=ids, status__in=PAYOUT_ITEM_LIVE)
                   .values_list("withdrawal_id", flat=True))
        attempts = dict(PayoutItem.objects.filter(withdrawal_id__in=ids)
                        .values("withdrawal_id").annotate(n=Count("id"))
                        .values_list("withdrawal_id", "n"))
        items, skipped = [], []
        for withdrawal in candidates:
            if withdrawal.pk in live:
                continue
            if user_is_on_hold(withdrawal.user):
                skipped.append((withdrawal.reference, "account on compliance hold"))
                continue
            try:
                account = payee_account_for(withdrawal.user)
            except InvalidPayeeAccount as exc:
                skipped.append((withdrawal.reference, str(exc)))
                continue
            attempt = attempts.get(withdrawal.pk, 0) + 1
            items.append(PayoutItem(
                withdrawal=withdrawal, attempt=attempt,
                end_to_end_id=f"{withdrawal.reference}-{attempt}",
                amount=withdrawal.amount, currency=currency, creditor_name=account.name,
                creditor_iban=account.iban, creditor_bic=account.bic,
            ))
        refunds = list(
            SuspenseAllocation.objects.select_for_update(of=("self",))
            .filter(kind=AllocationKind.REFUND, status=AllocationStatus.POSTED,
                    currency=currency)
            .order_by("id")
        )
        refunded_live = set(PayoutItem.objects.filter(
            allocation_id__in=[r.pk for r in refunds], status__in=PAYOUT_ITEM_LIVE)
            .values_list("allocation_id", flat=True))
        for refund in refunds:
            if refund.pk in refunded_live:
                continue
            try:
                account = payee_account_check(iban=refund.payee_iban, bic=refund.payee_bic,
                                              name=refund.payee_name)
            except InvalidPayeeAccount as exc:
                skipped.append((refund.refund_reference, str(exc)))
                continue
            items.append(PayoutItem(
                allocation=refund, attempt=1, end_to_end_id=f"{refund.refund_reference}-1",
                amount=refund.amount, currency=currency, creditor_name=account.name,
                creditor_iban=account.iban, creditor_bic=account.bic,
            ))
        if not items:
            raise Conflict(
                f"No {currency} withdrawal can be paid out now"
                + (f" ({len(skipped)} skipped: {skipped[0][1]}, ...)." if skipped else "."),
                code=SettlementsError.PAYOUT_BATCH_EMPTY)
        total = sum((item.amount for item in items), Decimal(0))
        batch = PayoutBatch.objects.create(
            reference=_batch_reference(currency), currency=currency, item_count=len(items),
            total_amount=total, created_by=actor)
        for item in items:
            item.batch = batch
        PayoutItem.objects.bulk_create(items)
        PayoutBatchEvent.objects.create(batch=batch, from_status="", to_status=batch.status,
                                        actor=actor, reason="made")
        audit_record(action="payout_batch.create", actor=actor, target=batch, kind="create",
                     changes={"items": len(items), "total": f"{total:f}",
                              "currency": currency, "skipped": skipped})
        return PayoutBatchResult(batch=batch, skipped=skipped)


def payout_batch_get(*, reference_or_id: str) -> PayoutBatch | None:
    """The batch with this reference (``PO-...``, case-insensitive) or numeric id."""
    value = str(reference_or_id).strip()
    if value.isdigit():
        return PayoutBatch.objects.filter(pk=int(value)).first()
    return PayoutBatch.objects.filter(reference__iexact=value).first()


def _locked_batch(batch: PayoutBatch | int) -> PayoutBatch:
    pk = batch.pk if isinstance(batch, PayoutBatch) else batch
    return PayoutBatch.objects.select_for_update().get(pk=pk)


def payout_batch_approve(*, batch: PayoutBatch, actor, reason: str = "") -> PayoutBatch:
    """The checker's approval of a ``DRAFT`` batch (four eyes). Under the batch's row lock,
    so of two concurrent approvals one wins and the other is refused.

    Raises:
        PermissionDenied: the actor lacks ``settlements.approve_payoutbatch``;
            ``PAYOUT_MAKER_CANNOT_APPROVE`` when the actor made the batch.
        InvalidTransition: ``INVALID_PAYOUT_BATCH_TRANSITION`` (already approved, ...).
    """
    require_staff(actor, "Only finance staff can approve payout batches.",
                  permission=PERMISSION_APPROVE)
    with transaction.atomic(durable=True):
        locked = _locked_batch(batch)
        if locked.created_by_id == actor.pk:
            raise PermissionDenied(
                "You made this payout batch: another finance user must approve it.",
                code=SettlementsError.PAYOUT_MAKER_CANNOT_APPROVE)
        payout_batch_transition(batch=locked, to_status=PayoutBatchStatus.APPROVED,
                                actor=actor, reason=reason or "approved")
        locked.approved_by, locked.approved_at = actor, timezone.now()
        locked.save(update_fields=["approved_by", "approved_at", "updated_at"])
        audit_record(action="payout_batch.approve", actor=actor, target=locked, reason=reason,
                     changes={"status": [PayoutBatchStatus.DRAFT, PayoutBatchStatus.APPROVED],
                              "maker": locked.created_by_id})
        return locked


def payout_batch_export(*, batch: PayoutBatch, actor) -> PayoutBatch:
    """The bank file of an approved batch: built the first time (pain.001.001.03 for EUR,
    validated against its XSD; :data:`~settlements.bankfiles.BANK_CSV_COLUMNS` CSV for other
    currencies), kept on the batch with its SHA-256, the items ``SENT`` and the batch
    ``EXPORTED``. Every later export returns the same file (idempotent, also under
    concurrency: the batch's row lock) and is recorded as a download in the audit trail.

    The requested execution date is ``PAYMINT["PAYOUT_EXECUTION_DAYS"]`` days after today.

    Returns:
        The batch: ``file_name``, ``file_content`` (text), ``file_sha256``.

    Raises:
        PermissionDenied: the actor lacks ``settlements.export_payoutbatch``.
        InvalidTransition: ``INVALID_PAYOUT_BATCH_TRANSITION`` when not approved yet.
    """
    require_staff(actor, "Only finance staff can export payout batches.",
                  permission=PERMISSION_EXPORT)
    with transaction.atomic(durable=True):
        locked = _locked_batch(batch)
        if locked.status in (PayoutBatchStatus.EXPORTED, PayoutBatchStatus.SETTLED):
            audit_record(action="payout_batch.download", actor=actor, target=locked,
                         kind="access", changes={"sha256": locked.file_sha256})
            return locked
        if locked.status != PayoutBatchStatus.APPROVED:
            raise InvalidTransition(
                f"Payout batch {locked.reference} must be approved before it is exported.",
                code=SettlementsError.INVALID_PAYOUT_BATCH_TRANSITION)
        items = list(locked.items.select_for_update(of=("self",))
                     .select_related("withdrawal", "allocation__bank_event").order_by("id"))
        execution_date = clock.today() + dt.timedelta(
            days=settings.PAYMINT.get("PAYOUT_EXECUTION_DAYS", 1))
        file_items = [
            BankFileItem(end_to_end_id=i.end_to_end_id,
                         amount=quantize_money(i.amount, i.currency), currency=i.currency,
                         creditor_name=i.creditor_name, creditor_iban=i.creditor_iban,
                         creditor_bic=i.creditor_bic,
                         remittance=_remittance(i))
            for i in items
        ]
        if locked.currency == "EUR":
            content = pain001_build(message_id=locked.reference,
                                    originator=settings.PAYMINT["PAYOUT_ORIGINATOR"],
                                    execution_date=execution_date, items=file_items)
            file_format, name = BankFileFormat.PAIN_001, f"{locked.reference}.pain001.xml"
        else:
            content = bank_csv_build(batch_reference=locked.reference,
                                     execution_date=execution_date, items=file_items)
            file_format, name = BankFileFormat.CSV, f"{locked.reference}.csv"
        locked.file_format, locked.file_name = file_format, name
        locked.file_content = content.decode()
        locked.file_sha256 = hashlib.sha256(content).hexdigest()
        locked.message_id = locked.reference
        locked.execution_date = execution_date
        locked.exported_by, locked.exported_at = actor, timezone.now()
        locked.save(update_fields=["file_format", "file_name", "file_content", "file_sha256",
                                   "message_id", "execution_date", "exported_by",
                                   "exported_at", "updated_at"])
        PayoutItem.objects.filter(batch=locked, status=PayoutItemStatus.PENDING).update(
            status=PayoutItemStatus.SENT, updated_at=timezone.now())
        payout_batch_transition(batch=locked, to_status=PayoutBatchStatus.EXPORTED,
                                actor=actor, reason=f"exported {name}")
        audit_record(action="payout_batch.export", actor=actor, target=locked,
                     changes={"status": [PayoutBatchStatus.APPROVED,
                                         PayoutBatchStatus.EXPORTED],
                              "file": name, "sha256": locked.file_sha256,
                              "items": len(items)})
        return locked


def payout_item_require_open(*, reference: str, returned: bool = False) -> None:
    """Refuse a bank outcome quoting the end-to-end id of an item that is already paid or
    failed (a late or repeated statement line): the withdrawal may have been retried since,
    and its new hold must not be released by the old attempt's news. A return
    (``returned``) may also quote a paid item, never a failed or returned one.

    Raises:
        InvalidTransition: ``WITHDRAWAL_ALREADY_FINAL``.
    """
    allowed = (PayoutItemStatus.PENDING, PayoutItemStatus.SENT) + (
        (PayoutItemStatus.PAID,) if returned else ())
    item = PayoutItem.objects.filter(end_to_end_id=reference).only("status").first()
    if item is not None and item.status not in allowed:
        raise InvalidTransition(f"Payout {reference} is already {item.status.lower()}.",
                                code=SettlementsError.WITHDRAWAL_ALREADY_FINAL)


def payout_item_outcome(*, withdrawal: Withdrawal, event: BankEvent, paid: bool,
                        reason: str = "") -> PayoutItem | None:
    """Mark the withdrawal's live item paid or failed (inside the bank event's transaction,
    after the withdrawal moved) and settle its batch when no item is left open. ``None``
    when the withdrawal was paid outside any batch."""
    item = (PayoutItem.objects.filter(withdrawal=withdrawal,
                                      status__in=(PayoutItemStatus.PENDING,
                                                  PayoutItemStatus.SENT))
            .order_by("-id").first())
    if item is None:
        return None
    return _item_settle(item=item, event=event, paid=paid, reason=reason)


def _item_settle(*, item: PayoutItem, event: BankEvent, paid: bool, reason: str) -> PayoutItem:
    batch = _locked_batch(item.batch_id)
    item.status = PayoutItemStatus.PAID if paid else PayoutItemStatus.FAILED
    item.failure_reason = "" if paid else reason[:300]
    item.bank_event = event
    item.settled_at = timezone.now()
    item.save(update_fields=["status", "failure_reason", "bank_event", "settled_at",
                             "updated_at"])
    still_open = batch.items.filter(
        status__in=(PayoutItemStatus.PENDING, PayoutItemStatus.SENT)).exists()
    if not still_open and batch.status == PayoutBatchStatus.EXPORTED:
        payout_batch_transition(batch=batch, to_status=PayoutBatchStatus.SETTLED,
                                reason="every item paid or failed")
        batch.settled_at = timezone.now()
        batch.save(update_fields=["settled_at", "updated_at"])
    return item


def payout_item_returned(*, withdrawal: Withdrawal, event: BankEvent,
                         reason: str) -> PayoutItem | None:
    """Mark the withdrawal's paid item ``RETURNED`` with the return's bank event and reason
    (inside the event's transaction, after the money moved); its batch stays settled.
    ``None`` when the withdrawal was paid outside any batch."""
    item = (PayoutItem.objects.filter(withdrawal=withdrawal, status=PayoutItemStatus.PAID)
            .order_by("-id").first())
    if item is None:
        return None
    item.status, item.failure_reason = PayoutItemStatus.RETURNED, reason[:300]
    item.return_event = event
    item.save(update_fields=["status", "failure_reason", "return_event", "updated_at"])
    return item


def payout_refund_item(*, reference: str) -> PayoutItem | None:
    """The refund item whose end-to-end id the bank quotes, or ``None`` (a withdrawal's)."""
    return (PayoutItem.objects.filter(end_to_end_id=reference, allocation__isnull=False)
            .select_related("allocation").first())


def payout_refund_outcome(*, item: PayoutItem, event: BankEvent, paid: bool,
                          reason: str = "", returned: bool = False) -> JournalEntry:
    """The bank's answer to the refund of a suspense credit (inside the bank event's
    transaction): paid, the refund hold goes to bank clearing (the money left the bank);
    failed, it goes back to suspense, the refund is ``RETURNED`` and the credit ``UNMATCHED``
    again, for finance to refund to a corrected account or allocate. A return
    (``returned``) of a paid refund moves bank clearing -> suspense the same way (of one not
    yet paid: its failure). One balanced entry, idempotent by the event id
    (``bank:<event id>``); the item and its batch are settled as a withdrawal's are.

    Raises:
        ApplicationError: ``AMOUNT_MISMATCH`` (422) when the bank's amount or currency is not
            the refund's.
        InvalidTransition: ``WITHDRAWAL_ALREADY_FINAL`` when the item is no longer open.
    """
    refund = SuspenseAllocation.objects.select_for_update().get(pk=item.allocation_id)
    item = PayoutItem.objects.get(pk=item.pk)  # read again under the refund's lock
    if returned and item.status == PayoutItemStatus.PAID:
        return _refund_return(refund=refund, item=item, event=event, reason=reason)
    if (item.status not in (PayoutItemStatus.PENDING, PayoutItemStatus.SENT)
            or refund.status != AllocationStatus.POSTED):
        raise InvalidTransition(f"Refund {item.end_to_end_id} is already "
                                f"{item.status.lower()}.",
                                code=SettlementsError.WITHDRAWAL_ALREADY_FINAL)
    if event.amount != item.amount or event.currency != item.currency:
        raise ApplicationError("The amount or currency does not match the refund.",
                               code=SettlementsError.AMOUNT_MISMATCH, http_status=422)
    hold = refund_hold_account(item.currency)
    if paid:
        other = platform_account(AccountKind.PLATFORM_BANK_CLEARING, item.currency)
        kind, memo = EntryKind.WITHDRAWAL_PAID, "refund paid out to the sender"
    else:
        other = platform_account(AccountKind.SUSPENSE, item.currency)
        kind, memo = EntryKind.WITHDRAWAL_RELEASE, "refund failed, back in suspense"
    entry = ledger_post(
        kind=kind,
        idempotency_key=f"bank:{event.event_id}",
        currency=item.currency,
        legs=[Leg(hold, -item.amount, memo), Leg(other, item.amount, memo)],
        effective_date=clock.today(),
        description=f"Refund {refund.refund_reference} {'paid' if paid else 'failed'}",
    )
    if not paid:
        refund.status = AllocationStatus.RETURNED
        refund.save(update_fields=["status", "updated_at"])
        BankEvent.objects.filter(pk=refund.bank_event_id).update(
            status=BankEventStatus.UNMATCHED, updated_at=timezone.now())
    _item_settle(item=item, event=event, paid=paid, reason=reason)
    return entry


def _refund_return(*, refund: SuspenseAllocation, item: PayoutItem, event: BankEvent,
                   reason: str) -> JournalEntry:
    if event.amount != item.amount or event.currency != item.currency:
        raise ApplicationError("The amount or currency does not match the refund.",
                               code=SettlementsError.AMOUNT_MISMATCH, http_status=422)
    memo = "refund returned by the bank, back in suspense"
    entry = ledger_post(
        kind=EntryKind.WITHDRAWAL_RETURNED,
        idempotency_key=f"bank:{event.event_id}",
        currency=item.currency,
        legs=[Leg(platform_account(AccountKind.PLATFORM_BANK_CLEARING, item.currency),
                  -item.amount, memo),
              Leg(platform_account(AccountKind.SUSPENSE, item.currency), item.amount, memo)],
        effective_date=clock.today(),
        description=f"Refund {refund.refund_reference} returned",
    )
    refund.status = AllocationStatus.RETURNED
    refund.save(update_fields=["status", "updated_at"])
    BankEvent.objects.filter(pk=refund.bank_event_id).update(
        status=BankEventStatus.UNMATCHED, updated_at=timezone.now())
    item.status, item.failure_reason = PayoutItemStatus.RETURNED, reason[:300]
    item.return_event = event
    item.save(update_fields=["status", "failure_reason", "return_event", "updated_at"])
    return entry


def payout_retry(*, withdrawal: Withdrawal, actor, reason: str = "") -> Withdrawal:
    """Retry a failed (or returned) payout once the user fixed their bank details: hold the
    amount again (cash -> withdrawal hold, one balanced entry, idempotent per attempt) and
    put the withdrawal back to ``REQUESTED`` for the next batch.

    Raises:
        PermissionDenied: the actor lacks ``settlements.retry_payout``; ``ACCOUNT_ON_HOLD``.
        InvalidTransition: ``WITHDRAWAL_NOT_FAILED``.
        ApplicationError: ``PAYOUT_ACCOUNT_INVALID`` (422) when the user's payout account is
            still missing or invalid.
        InsufficientFunds: the user spent the released amount meanwhile (409).
    """
    require_staff(actor, "Only finance staff can retry payouts.", permission=PERMISSION_RETRY)
    with transaction.atomic(durable=True):
        locked = (Withdrawal.objects.select_for_update(of=("self",))
                  .select_related("user", "user__kyc").get(pk=withdrawal.pk))
        if locked.status not in (WithdrawalStatus.FAILED, WithdrawalStatus.RETURNED):
            raise InvalidTransition(
                f"Withdrawal {locked.reference} is {locked.status.lower()}, not failed or "
                "returned.",
                code=SettlementsError.WITHDRAWAL_NOT_FAILED)
        if user_is_on_hold(locked.user):
            raise PermissionDenied("The user's account is on compliance hold.",
                                   code=CoreError.PERMISSION_DENIED)
        try:
            payee_account_for(locked.user)
        except InvalidPayeeAccount as exc:
            raise ApplicationError(
                f"The user's payout account is still not usable: {exc}.",
                code=SettlementsError.PAYOUT_ACCOUNT_INVALID) from None
        user, currency = locked.user, locked.currency
        cash = ledger_account(cash_account_kind(user), currency, owner=user)
        hold = ledger_account(AccountKind.WITHDRAWAL_HOLD, currency, owner=user)
        lock_accounts([cash])
        attempt = locked.payout_items.count() + 1
        ledger_post(
            kind=EntryKind.WITHDRAWAL_HOLD,
            idempotency_key=f"withdrawal:{locked.public_id}:hold:{attempt}",
            currency=currency,
            legs=[Leg(cash, -locked.amount, "payout retried"),
                  Leg(hold, locked.amount, f"held again for {locked.reference}")],
            effective_date=clock.today(),
            description=f"Withdrawal {locked.reference} retried",
            actor=actor,
        )
        previous, previous_status = locked.failure_reason, locked.status
        withdrawal_status_set(withdrawal=locked, to_status=WithdrawalStatus.REQUESTED)
        audit_record(action="withdrawal.payout_retry", actor=actor, target=locked,
                     reason=reason, subject_user=user,
                     changes={"status": [previous_status, WithdrawalStatus.REQUESTED],
                              "previous_failure": previous, "attempt": attempt})
        return locked
