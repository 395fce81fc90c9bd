"""Bank events: signed webhooks applied exactly once (deposits, repayments, withdrawals)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from accounts.enums import Role
from accounts.selectors import user_by_deposit_reference
from invoices.models import Invoice
from paymint.core import clock
from paymint.core.error_codes import CoreError
from paymint.core.errors import (
    ApplicationError,
    Conflict,
    InvalidTransition,
    ValidationFailed,
)
from paymint.core.events import EventName, event_emit
from paymint.core.money import MINOR_UNITS, parse_money_amount

from ..enums import (
    WITHDRAWAL_TRANSITIONS,
    AccountKind,
    BankEventStatus,
    BankEventType,
    EntryKind,
    WithdrawalStatus,
)
from ..error_codes import SettlementsError
from ..ledger.posting import Leg, ledger_account, ledger_post, platform_account
from ..ledger.selectors import cash_account_kind
from ..models import BankEvent, PayoutItem, Withdrawal
from .distribution import repayment_receive
from .payouts import (
    payout_item_outcome,
    payout_item_require_open,
    payout_item_returned,
    payout_refund_item,
    payout_refund_outcome,
)
from .withdrawals import withdrawal_status_set


class DuplicateEvent(Conflict):
    code = SettlementsError.DUPLICATE_EVENT


def _parse_event(payload: dict) -> tuple[str, str, str, Decimal, str]:
    if not isinstance(payload, dict):
        raise ValidationFailed("The event must be a JSON object.",
                               code=SettlementsError.INVALID_EVENT)
    data = payload.get("data")
    event_id, event_type = payload.get("id"), payload.get("type")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 100:
        raise ValidationFailed("Missing event id.", code=SettlementsError.INVALID_EVENT,
                               fields={"id": ["Required."]})
    if event_type not in BankEventType.values:
        raise ValidationFailed(f"Unknown event type {event_type!r}.",
                               code=SettlementsError.UNKNOWN_EVENT_TYPE,
                               fields={"type": ["Unknown."]})
    if not isinstance(data, dict):
        raise ValidationFailed("Missing data.", code=SettlementsError.INVALID_EVENT,
                               fields={"data": ["Required."]})
    reference, currency = data.get("reference"), data.get("currency")
    if not isinstance(reference, str) or not reference:
        raise ValidationFailed("Missing reference.", code=SettlementsError.INVALID_EVENT,
                               fields={"data.reference": ["Required."]})
    if currency not in MINOR_UNITS or currency not in settings.PAYMINT["CURRENCIES"]:
        raise ValidationFailed(f"Unsupported currency {currency!r}.",
                               code=CoreError.UNSUPPORTED_CURRENCY,
                               fields={"data.currency": ["Unsupported."]})
    amount = parse_money_amount(
        data.get("amount"), currency, field="data.amount",
        message="The amount must be a positive amount in minor units.", field_message="Invalid.")
    return event_id, event_type, reference.strip(), amount, currency


def bank_event_apply(*, payload: dict, unmatched_to_suspense: bool = True,
                     prelude: Callable[[BankEvent], object] | None = None) -> BankEvent:
    """Apply a verified bank webhook event exactly once.

    ``deposit.received`` credits the investor whose deposit reference is quoted
    (bank clearing -> investor cash). ``repayment.received`` records the debtor's payment of a
    disbursed invoice (bank clearing -> invoice escrow), creates its settlement and enqueues the
    settlement task after commit. ``withdrawal.paid`` / ``withdrawal.failed`` complete a
    withdrawal (hold -> bank clearing) or release its hold (hold -> cash); quoting the
    end-to-end id of a refund's payout item, they complete the refund of a suspense credit
    (refund hold -> bank clearing) or return it to suspense
    (:func:`~settlements.services.payouts.payout_refund_outcome`). ``withdrawal.returned``
    is the bank sending back a payout it had paid (bank clearing -> cash, the withdrawal
    ``RETURNED``, the user notified); of one not yet reported paid, it is its failure.

    A deposit or repayment whose reference matches no investor wallet and no invoice is money
    in PayMint's bank account all the same: it is stored ``UNMATCHED`` and credited to the
    suspense account (bank clearing -> suspense) for finance to allocate
    (:mod:`settlements.services.suspense`), unless ``unmatched_to_suspense`` is False (an
    allocation itself: refused with ``UNKNOWN_REFERENCE``). ``prelude(event)`` runs first in
    the same transaction (an allocation moves the money out of suspense there).

    The event id is stored under a unique constraint in the same transaction as the posting, so
    replays and concurrent deliveries of one event have one effect.

    Raises:
        ValidationFailed: malformed event (``INVALID_EVENT``, ``INVALID_AMOUNT``, ...).
        ApplicationError: ``UNKNOWN_REFERENCE`` (422), ``CURRENCY_MISMATCH`` (422),
            ``INVOICE_NOT_AWAITING_REPAYMENT`` (409).
        DuplicateEvent: the event id was already applied (409).
    """
    event_id, event_type, reference, amount, currency = _parse_event(payload)
    if BankEvent.objects.filter(event_id=event_id).exists():
        raise DuplicateEvent(f"Event {event_id} was already processed.")
    try:
        with transaction.atomic(durable=True):
            event = BankEvent.objects.create(
                event_id=event_id, event_type=event_type, reference=reference, amount=amount,
                currency=currency, payload=payload, status=BankEventStatus.APPLIED,
            )
            if prelude is not None:
                prelude(event)
            if (unmatched_to_suspense and event_type in MATCHED_CREDITS
                    and not _credit_reference_matches(event)):
                entry = _apply_to_suspense(event)
            elif event_type == BankEventType.DEPOSIT_RECEIVED:
                entry = _apply_deposit(event)
            elif event_type == BankEventType.REPAYMENT_RECEIVED:
                entry = repayment_receive(event=event)
            else:
                entry = _apply_withdrawal_outcome(event)
            event.entry = entry
            event.save(update_fields=["entry", "updated_at"])
            return event
    except IntegrityError:
        if BankEvent.objects.filter(event_id=event_id).exists():
            raise DuplicateEvent(f"Event {event_id} was already processed.") from None
        raise


#: Credits matched by their reference to a wallet or an invoice (else: suspense).
MATCHED_CREDITS = (BankEventType.DEPOSIT_RECEIVED, BankEventType.REPAYMENT_RECEIVED)


def _credit_reference_matches(event: BankEvent) -> bool:
    if event.event_type == BankEventType.DEPOSIT_RECEIVED:
        user = user_by_deposit_reference(reference=event.reference)
        return user is not None and user.role == Role.INVESTOR
    return Invoice.objects.filter(repayment_reference__iexact=event.reference).exists()


def _apply_to_suspense(event: BankEvent):
    bank = platform_account(AccountKind.PLATFORM_BANK_CLEARING, event.currency)
    suspense = platform_account(AccountKind.SUSPENSE, event.currency)
    event.status = BankEventStatus.UNMATCHED
    event.save(update_fields=["status", "updated_at"])
    return ledger_post(
        kind=EntryKind.SUSPENSE_IN,
        idempotency_key=f"bank:{event.event_id}",
        currency=event.currency,
        legs=[Leg(bank, -event.amount, "bank transfer in, reference unknown"),
              Leg(suspense, event.amount, f"unmatched: {event.reference}"[:200])],
        effective_date=clock.today(),
        description=f"Unmatched {event.event_type} {event.event_id} ({event.reference})",
    )


def _apply_deposit(event: BankEvent):
    user = user_by_deposit_reference(reference=event.reference)
    if user is None or user.role != Role.INVESTOR:
        raise ApplicationError(f"No investor wallet has reference {event.reference}.",
                               code=SettlementsError.UNKNOWN_REFERENCE, http_status=422)
    bank = platform_account(AccountKind.PLATFORM_BANK_CLEARING, event.currency)
    cash = ledger_account(AccountKind.INVESTOR_CASH, event.currency, owner=user)
    event_emit(name=EventName.DEPOSIT_RECEIVED, key=f"deposit.received:{event.event_id}",
               recipients={user: {"amount": str(event.amount), "currency": event.currency}})
    return ledger_post(
        kind=EntryKind.DEPOSIT,
        idempotency_key=f"bank:{event.event_id}",
        currency=event.currency,
        legs=[Leg(bank, -event.amount, "bank transfer in"), Leg(cash, event.amount, "deposit")],
        effective_date=clock.today(),
        description=f"Deposit {event.event_id}",
        actor=None,
    )


def _apply_withdrawal_outcome(event: BankEvent):
    # The bank quotes the withdrawal's reference, or a payout item's end-to-end id.
    returned = event.event_type == BankEventType.WITHDRAWAL_RETURNED
    payout_item_require_open(reference=event.reference, returned=returned)
    refund_item = payout_refund_item(reference=event.reference)
    if refund_item is not None:  # the refund of a suspense credit to its sender
        return payout_refund_outcome(
            item=refund_item, event=event,
            paid=event.event_type == BankEventType.WITHDRAWAL_PAID,
            reason=_failure_reason(event), returned=returned)
    withdrawal = (
        Withdrawal.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(Q(reference__iexact=event.reference) | Q(pk__in=PayoutItem.objects.filter(
            end_to_end_id=event.reference).values("withdrawal_id")))
        .first()
    )
    if withdrawal is None:
        raise ApplicationError(f"No withdrawal has reference {event.reference}.",
                               code=SettlementsError.UNKNOWN_REFERENCE, http_status=422)
    if event.amount != withdrawal.amount or event.currency != withdrawal.currency:
        raise ApplicationError("The amount or currency does not match the withdrawal.",
                               code=SettlementsError.AMOUNT_MISMATCH, http_status=422)
    if returned and withdrawal.status == WithdrawalStatus.PAID:
        return _apply_withdrawal_return(event, withdrawal)
    # A return of a payout not yet reported paid is its failure.
    paid = event.event_type == BankEventType.WITHDRAWAL_PAID
    to_status = WithdrawalStatus.PAID if paid else WithdrawalStatus.FAILED
    if to_status not in WITHDRAWAL_TRANSITIONS[withdrawal.status]:
        raise InvalidTransition(f"The withdrawal is already {withdrawal.status.lower()}.",
                                code=SettlementsError.WITHDRAWAL_ALREADY_FINAL)
    user, currency = withdrawal.user, withdrawal.currency
    hold = ledger_account(AccountKind.WITHDRAWAL_HOLD, currency, owner=user)
    if paid:
        other = platform_account(AccountKind.PLATFORM_BANK_CLEARING, currency)
        kind, memo = EntryKind.WITHDRAWAL_PAID, "paid out to bank account"
    else:
        other = ledger_account(cash_account_kind(user), currency, owner=user)
        kind, memo = EntryKind.WITHDRAWAL_RELEASE, "withdrawal failed, released"
    entry = ledger_post(
        kind=kind,
        idempotency_key=f"bank:{event.event_id}",
        currency=currency,
        legs=[Leg(hold, -withdrawal.amount, memo), Leg(other, withdrawal.amount, memo)],
        effective_date=clock.today(),
        description=f"Withdrawal {withdrawal.reference} {to_status.lower()}",
    )
    reason = "" if paid else _failure_reason(event)
    withdrawal_status_set(withdrawal=withdrawal, to_status=to_status, failure_reason=reason)
    payout_item_outcome(withdrawal=withdrawal, event=event, paid=paid, reason=reason)
    event_emit(
        name=EventName.WITHDRAWAL_PAID if paid else EventName.WITHDRAWAL_FAILED,
        key=f"withdrawal.{'paid' if paid else 'failed'}:{event.event_id}",
        recipients={user: {"reference": withdrawal.reference,
                           "amount": f"{withdrawal.amount:f}", "currency": currency,
                           "reason": reason}},
    )
    return entry


def _apply_withdrawal_return(event: BankEvent, withdrawal: Withdrawal):
    """A paid withdrawal the bank sent back: the money is in PayMint's bank account again
    (bank clearing -> the user's cash), the withdrawal and its item ``RETURNED``, the user
    told (a ``withdrawal.failed`` notification with the bank's reason)."""
    user, currency = withdrawal.user, withdrawal.currency
    reason = f"returned by the bank after payment: {_failure_reason(event)}"[:300]
    memo = "payout returned by the bank"
    entry = ledger_post(
        kind=EntryKind.WITHDRAWAL_RETURNED,
        idempotency_key=f"bank:{event.event_id}",
        currency=currency,
        legs=[Leg(platform_account(AccountKind.PLATFORM_BANK_CLEARING, currency),
                  -withdrawal.amount, memo),
              Leg(ledger_account(cash_account_kind(user), currency, owner=user),
                  withdrawal.amount, f"{memo}, back in the wallet")],
        effective_date=clock.today(),
        description=f"Withdrawal {withdrawal.reference} returned",
    )
    withdrawal_status_set(withdrawal=withdrawal, to_status=WithdrawalStatus.RETURNED,
                          failure_reason=reason)
    payout_item_returned(withdrawal=withdrawal, event=event, reason=reason)
    event_emit(
        name=EventName.WITHDRAWAL_FAILED,
        key=f"withdrawal.returned:{event.event_id}",
        recipients={user: {"reference": withdrawal.reference,
                           "amount": f"{withdrawal.amount:f}", "currency": currency,
                           "reason": reason}},
    )
    return entry


def _failure_reason(event: BankEvent) -> str:
    """The bank's reason of a failed or returned payout (``data.reason``), at most 300
    characters."""
    return str((event.payload.get("data") or {}).get("reason", "bank reported a failure"))[:300]
