"""Unmatched money, four eyes: credits in suspense, and receipts no webhook announced,
allocated to an investor's deposit or an invoice's repayment.

A deposit or repayment whose reference matches no one is credited to the suspense account
by :func:`~settlements.services.bank.bank_event_apply` (``UNMATCHED``: the "unmatched"
queue). A finance user proposes where it goes (:func:`allocation_propose`, with a reason);
another finance user approves (:func:`allocation_approve`; never the proposer - the service
and a database constraint say so). The approval posts the bank event a matched webhook would
have been (``allocation:<public id>``) through the same ``bank_event_apply``: the same
postings, settlement and waterfall, notifications and chain mirror. From suspense, the
event's ``prelude`` first moves the amount back to bank clearing (suspense -> bank clearing)
in the same transaction, so the net movement is suspense -> cash or escrow.

A *manual repayment entry* (a cheque, a transfer the bank never announced) is the same
action without a suspense credit: the money is in the bank account (bank clearing), and the
posting is exactly the webhook's.

A *refund* (:func:`refund_propose`) sends a suspense credit back to its sender, as a
payout: the proposer names the sender's account (IBAN and BIC checked with schwifty) and the
reason; the approver - never the proposer - moves the credit out of suspense into the
platform's refund hold in one balanced entry (suspense -> refund hold, ``SUSPENSE_REFUND``)
and the credit is ``REFUNDED``; the next payout batch of its currency carries the outgoing
credit transfer (its own maker-checker), and the bank's answer settles it
(:func:`~settlements.services.payouts.payout_refund_outcome`: paid, refund hold -> bank
clearing; failed, back to suspense and the unmatched queue).

Approval is safe under concurrency and crashes: the allocation is taken (``APPROVING``, with
its approver) under its row lock and committed before the posting, so a second approver is
refused; the posting is idempotent by its event id, so the approver may run it again after a
crash, and the allocation is marked ``POSTED`` when it is there.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance.public import audit_record
from paymint.core import clock
from paymint.core.error_codes import CoreError
from paymint.core.errors import (
    ApplicationError,
    Conflict,
    InvalidTransition,
    PermissionDenied,
    ValidationFailed,
)
from paymint.core.money import parse_money_amount
from paymint.core.permissions import require_staff

from ..bankfiles import InvalidPayeeAccount, payee_account_check
from ..enums import (
    AccountKind,
    AllocationKind,
    AllocationStatus,
    BankEventStatus,
    BankEventType,
    EntryKind,
)
from ..error_codes import SettlementsError
from ..ledger.posting import Leg, ledger_post, platform_account
from ..models import BankEvent, SuspenseAllocation
from .bank import DuplicateEvent, bank_event_apply
from .payouts import refund_hold_account

PERMISSION_PROPOSE = "settlements.propose_allocation"
PERMISSION_APPROVE = "settlements.approve_allocation"

_EVENT_TYPES = {AllocationKind.DEPOSIT: BankEventType.DEPOSIT_RECEIVED,
                AllocationKind.REPAYMENT: BankEventType.REPAYMENT_RECEIVED}


def _open_credit_lock(bank_event: BankEvent) -> BankEvent:
    """Lock ``bank_event`` and check it is an open suspense credit: UNMATCHED, with no live
    (proposed or posted) allocation or refund. Call inside a transaction.

    Raises:
        Conflict: ``ALLOCATION_NOT_OPEN`` otherwise.
    """
    event = BankEvent.objects.select_for_update().get(pk=bank_event.pk)
    live = event.allocations.exclude(
        status__in=(AllocationStatus.REJECTED, AllocationStatus.RETURNED)).exists()
    if event.status != BankEventStatus.UNMATCHED or live:
        raise Conflict(f"{event.event_id} is not an open suspense credit.",
                       code=SettlementsError.ALLOCATION_NOT_OPEN)
    return event


def allocation_propose(*, actor, kind: str, reference: str, reason: str,
                       bank_event: BankEvent | None = None, amount=None,
                       currency: str = "") -> SuspenseAllocation:
    """Propose allocating a suspense credit (``bank_event``, its amount and currency) or a
    receipt no webhook announced (``amount`` and ``currency`` given) to the deposit
    (``kind=DEPOSIT``, ``reference`` an investor's deposit reference) or the repayment
    (``REPAYMENT``, an invoice's repayment reference). Nothing moves until another finance
    user approves.

    Raises:
        PermissionDenied: the actor lacks ``settlements.propose_allocation``.
        ValidationFailed: ``REASON_REQUIRED``; ``VALIDATION_ERROR`` (unknown kind, no
            reference); ``INVALID_AMOUNT``, ``UNSUPPORTED_CURRENCY`` for a manual receipt.
        Conflict: ``ALLOCATION_NOT_OPEN`` when the credit is not in suspense or already has
            a live allocation.
    """
    require_staff(actor, "Only finance staff can allocate unmatched money.",
                  permission=PERMISSION_PROPOSE)
    reason, reference = (reason or "").strip(), (reference or "").strip()
    if not reason:
        raise ValidationFailed("Say why the money goes there.", code=CoreError.REASON_REQUIRED,
                               fields={"reason": ["Required."]})
    if kind not in _EVENT_TYPES or not reference:
        raise ValidationFailed("Choose deposit or repayment and give its reference.",
                               fields={"reference": ["Required."]})
    if bank_event is None:
        if currency not in settings.PAYMINT["CURRENCIES"]:
            raise ValidationFailed(f"Unsupported currency {currency!r}.",
                                   code=CoreError.UNSUPPORTED_CURRENCY,
                                   fields={"currency": ["Unsupported."]})
        amount = parse_money_amount(amount, currency)
    with transaction.atomic(durable=True):
        if bank_event is not None:
            event = _open_credit_lock(bank_event)
            amount, currency = event.amount, event.currency
        try:
            with transaction.atomic():
                allocation = SuspenseAllocation.objects.create(
                    bank_event=bank_event, kind=kind, reference=reference[:64],
                    amount=amount, currency=currency, reason=reason, proposed_by=actor)
        except IntegrityError:
            raise Conflict("This credit already has an allocation.",
                           code=SettlementsError.ALLOCATION_NOT_OPEN) from None
        audit_record(action="allocation.propose", actor=actor, target=allocation,
                     reason=reason, kind="create",
                     changes={"kind": kind, "reference": reference, "amount": f"{amount:f}",
                              "currency": currency,
                              "bank_event": bank_event.event_id if bank_event else None})
        return allocation


def refund_propose(*, actor, bank_event: BankEvent, payee_name: str, payee_iban: str,
                   reason: str, payee_bic: str = "") -> SuspenseAllocation:
    """Propose refunding the suspense credit ``bank_event`` (its whole amount) to its sender's
    account (``payee_name``, ``payee_iban``, optional ``payee_bic``: checked with schwifty;
    the BIC derived from the IBAN when not given). Nothing moves until another finance user
    approves (:func:`allocation_approve`).

    Raises:
        PermissionDenied: the actor lacks ``settlements.propose_allocation``.
        ValidationFailed: ``REASON_REQUIRED``; ``VALIDATION_ERROR`` without the sender's
            name.
        ApplicationError: ``PAYOUT_ACCOUNT_INVALID`` (422) for an invalid IBAN or BIC.
        Conflict: ``ALLOCATION_NOT_OPEN`` when the credit is not in suspense or already has
            a live allocation.
    """
    require_staff(actor, "Only finance staff can refund unmatched money.",
                  permission=PERMISSION_PROPOSE)
    reason, payee_name = (reason or "").strip(), (payee_name or "").strip()
    if not reason:
        raise ValidationFailed("Say why the money goes back.", code=CoreError.REASON_REQUIRED,
                               fields={"reason": ["Required."]})
    if not payee_name:
        raise ValidationFailed("Name the sender's account holder.",
                               fields={"payee_name": ["Required."]})
    try:
        account = payee_account_check(iban=payee_iban, bic=(payee_bic or "").strip(),
                                      name=payee_name)
    except InvalidPayeeAccount as exc:
        raise ApplicationError(f"The sender's account is not usable: {exc}.",
                               code=SettlementsError.PAYOUT_ACCOUNT_INVALID) from None
    with transaction.atomic(durable=True):
        event = _open_credit_lock(bank_event)
        try:
            with transaction.atomic():
                allocation = SuspenseAllocation.objects.create(
                    bank_event=event, kind=AllocationKind.REFUND,
                    reference=event.reference[:64], amount=event.amount,
                    currency=event.currency, reason=reason, proposed_by=actor,
                    payee_name=account.name, payee_iban=account.iban, payee_bic=account.bic)
        except IntegrityError:
            raise Conflict("This credit already has an allocation.",
                           code=SettlementsError.ALLOCATION_NOT_OPEN) from None
        audit_record(action="allocation.propose_refund", actor=actor, target=allocation,
                     reason=reason, kind="create",
                     changes={"kind": AllocationKind.REFUND, "amount": f"{event.amount:f}",
                              "currency": event.currency, "bank_event": event.event_id,
                              "payee_name": account.name,
                              "payee_iban": f"{account.iban[:4]}****{account.iban[-4:]}",
                              "payee_bic": account.bic})
        return allocation


def _refund_approve(*, allocation: SuspenseAllocation, actor,
                    reason: str) -> SuspenseAllocation:
    """The approval of a refund: suspense -> refund hold (one balanced entry, idempotent by
    ``allocation:<public id>:refund``), the credit ``REFUNDED``, the refund ``POSTED``
    (awaiting its payout batch); all in one durable transaction."""
    with transaction.atomic(durable=True):
        locked = SuspenseAllocation.objects.select_for_update().get(pk=allocation.pk)
        if locked.proposed_by_id == actor.pk:
            raise PermissionDenied("You proposed this refund: another finance user must "
                                   "approve it.", code=SettlementsError.FOUR_EYES_SAME_PERSON)
        if locked.status != AllocationStatus.PROPOSED:
            raise InvalidTransition(f"This allocation is {locked.status.lower()}.",
                                    code=SettlementsError.ALLOCATION_NOT_OPEN)
        event = BankEvent.objects.select_for_update().get(pk=locked.bank_event_id)
        if event.status != BankEventStatus.UNMATCHED:
            raise InvalidTransition(f"{event.event_id} is no longer in suspense.",
                                    code=SettlementsError.ALLOCATION_NOT_OPEN)
        suspense = platform_account(AccountKind.SUSPENSE, locked.currency)
        memo = f"refund {locked.refund_reference} to {locked.payee_name}"[:200]
        entry = ledger_post(
            kind=EntryKind.SUSPENSE_REFUND,
            idempotency_key=f"allocation:{locked.public_id}:refund",
            currency=locked.currency,
            legs=[Leg(suspense, -locked.amount, memo),
                  Leg(refund_hold_account(locked.currency), locked.amount, memo)],
            effective_date=clock.today(),
            description=f"Suspense {event.event_id} refunded to the sender "
                        f"({locked.refund_reference})",
            actor=actor,
        )
        event.status = BankEventStatus.REFUNDED
        event.save(update_fields=["status", "updated_at"])
        locked.status, locked.decided_by = AllocationStatus.POSTED, actor
        locked.decided_at, locked.decision_reason = timezone.now(), reason.strip()
        locked.refund_entry = entry
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_reason",
                                   "refund_entry", "updated_at"])
        audit_record(action="allocation.approve_refund", actor=actor, target=locked,
                     reason=reason,
                     changes={"status": [AllocationStatus.PROPOSED, AllocationStatus.POSTED],
                              "proposed_by": locked.proposed_by_id,
                              "bank_event": event.event_id,
                              "refund": locked.refund_reference})
        return locked


def _release_from_suspense(allocation: SuspenseAllocation):
    """The prelude of a suspense allocation's bank event: suspense -> bank clearing."""

    def release(event: BankEvent) -> None:
        suspense = platform_account(AccountKind.SUSPENSE, allocation.currency)
        bank = platform_account(AccountKind.PLATFORM_BANK_CLEARING, allocation.currency)
        ledger_post(
            kind=EntryKind.SUSPENSE_RELEASE,
            idempotency_key=f"allocation:{allocation.public_id}:release",
            currency=allocation.currency,
            legs=[Leg(suspense, -allocation.amount, f"allocated to {allocation.reference}"),
                  Leg(bank, allocation.amount, f"allocated to {allocation.reference}")],
            effective_date=clock.today(),
            description=f"Suspense {allocation.bank_event.event_id} allocated "
                        f"({allocation.get_kind_display().lower()} {allocation.reference})",
            actor=allocation.decided_by,
        )
        BankEvent.objects.filter(pk=allocation.bank_event_id).update(
            status=BankEventStatus.ALLOCATED, updated_at=timezone.now())

    return release


def allocation_approve(*, allocation: SuspenseAllocation, actor,
                       reason: str = "") -> SuspenseAllocation:
    """The second finance user's approval: post the allocation as the bank event a matched
    webhook would have been (see the module docstring); a refund leaves suspense for the
    refund hold and waits for the next payout batch.

    Raises:
        PermissionDenied: the actor lacks ``settlements.approve_allocation``;
            ``FOUR_EYES_SAME_PERSON`` when the actor proposed it.
        InvalidTransition: ``ALLOCATION_NOT_OPEN`` (already decided or taken by another
            approver).
        ApplicationError: what the webhook would answer (``UNKNOWN_REFERENCE``,
            ``INVOICE_NOT_AWAITING_REPAYMENT``, ``CURRENCY_MISMATCH``, ...): the allocation
            goes back to ``PROPOSED`` and nothing moved.
    """
    require_staff(actor, "Only finance staff can approve allocations.",
                  permission=PERMISSION_APPROVE)
    if allocation.kind == AllocationKind.REFUND:
        return _refund_approve(allocation=allocation, actor=actor, reason=reason)
    with transaction.atomic(durable=True):
        locked = SuspenseAllocation.objects.select_for_update().get(pk=allocation.pk)
        if locked.proposed_by_id == actor.pk:
            raise PermissionDenied("You proposed this allocation: another finance user must "
                                   "approve it.", code=SettlementsError.FOUR_EYES_SAME_PERSON)
        resuming = (locked.status == AllocationStatus.APPROVING
                    and locked.decided_by_id == actor.pk)
        if locked.status != AllocationStatus.PROPOSED and not resuming:
            raise InvalidTransition(f"This allocation is {locked.status.lower()}.",
                                    code=SettlementsError.ALLOCATION_NOT_OPEN)
        locked.status, locked.decided_by = AllocationStatus.APPROVING, actor
        locked.decided_at, locked.decision_reason = timezone.now(), reason.strip()
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_reason",
                                   "updated_at"])
    payload = {
        "id": f"allocation:{locked.public_id}",
        "type": _EVENT_TYPES[locked.kind].value,
        "source": "allocation",
        "data": {"reference": locked.reference, "amount": f"{locked.amount:f}",
                 "currency": locked.currency},
    }
    try:
        bank_event_apply(
            payload=payload, unmatched_to_suspense=False,
            prelude=_release_from_suspense(locked) if locked.bank_event_id else None)
    except DuplicateEvent:
        pass  # posted by an earlier attempt of this approval
    except ApplicationError:
        SuspenseAllocation.objects.filter(pk=locked.pk, status=AllocationStatus.APPROVING) \
            .update(status=AllocationStatus.PROPOSED, decided_by=None, decided_at=None,
                    updated_at=timezone.now())
        raise
    with transaction.atomic(durable=True):
        locked = SuspenseAllocation.objects.select_for_update().get(pk=allocation.pk)
        locked.status = AllocationStatus.POSTED
        locked.posted_event = BankEvent.objects.get(event_id=payload["id"])
        locked.save(update_fields=["status", "posted_event", "updated_at"])
        audit_record(action="allocation.approve", actor=actor, target=locked, reason=reason,
                     changes={"status": [AllocationStatus.PROPOSED, AllocationStatus.POSTED],
                              "proposed_by": locked.proposed_by_id,
                              "bank_event": payload["id"]})
        return locked


def allocation_reject(*, allocation: SuspenseAllocation, actor,
                      reason: str) -> SuspenseAllocation:
    """Reject a proposed allocation (the money stays where it is; a new one may be
    proposed). Any finance user with the approval permission but the proposer (four eyes
    both ways: a database constraint).

    Raises:
        PermissionDenied: the actor lacks ``settlements.approve_allocation``;
            ``FOUR_EYES_SAME_PERSON`` for the proposer.
        ValidationFailed: ``REASON_REQUIRED``.
        InvalidTransition: ``ALLOCATION_NOT_OPEN``.
    """
    require_staff(actor, "Only finance staff can reject allocations.",
                  permission=PERMISSION_APPROVE)
    if not (reason or "").strip():
        raise ValidationFailed("Give a reason.", code=CoreError.REASON_REQUIRED,
                               fields={"reason": ["Required."]})
    with transaction.atomic(durable=True):
        locked = SuspenseAllocation.objects.select_for_update().get(pk=allocation.pk)
        if locked.proposed_by_id == actor.pk:
            raise PermissionDenied("You proposed this allocation: another finance user "
                                   "decides on it.", code=SettlementsError.FOUR_EYES_SAME_PERSON)
        if locked.status != AllocationStatus.PROPOSED:
            raise InvalidTransition(f"This allocation is {locked.status.lower()}.",
                                    code=SettlementsError.ALLOCATION_NOT_OPEN)
        locked.status, locked.decided_by = AllocationStatus.REJECTED, actor
        locked.decided_at, locked.decision_reason = timezone.now(), reason.strip()
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_reason",
                                   "updated_at"])
        audit_record(action="allocation.reject", actor=actor, target=locked, reason=reason,
                     changes={"status": [AllocationStatus.PROPOSED, AllocationStatus.REJECTED]})
        return locked
