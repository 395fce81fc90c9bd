"""Writes for bank events (deposits, repayments) and settlement of repaid invoices."""

from __future__ import annotations

import hashlib
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.enums import Role
from accounts.selectors import kyc_is_approved, user_by_deposit_reference
from invoices.enums import InvoiceStatus
from invoices.models import Invoice
from invoices.services import invoice_transition
from marketplace.enums import InvestmentStatus
from marketplace.models import Investment, Listing
from marketplace.services import lock_listing
from paymint.core import clock
from paymint.core.errors import (
    ApplicationError,
    Conflict,
    InvalidTransition,
    PermissionDenied,
    ValidationFailed,
)
from paymint.core.money import MINOR_UNITS, quantize_money

from .enums import (
    WITHDRAWAL_TRANSITIONS,
    AccountKind,
    BankEventStatus,
    BankEventType,
    EntryKind,
    SettlementStatus,
    WithdrawalStatus,
)
from .ledger import Leg, ledger_account, ledger_post, lock_accounts, platform_account
from .models import BankEvent, Settlement, Withdrawal
from .waterfall import InvestorClaim, settlement_waterfall


class DuplicateEvent(Conflict):
    code = "DUPLICATE_EVENT"


def _parse_event(payload: dict) -> tuple[str, str, str, Decimal, str]:
    if not isinstance(payload, dict):
        raise ValidationFailed("The event must be a JSON object.", code="INVALID_EVENT")
    data = payload.get("data")
    event_id, event_type = payload.get("id"), payload.get("type")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 100:
        raise ValidationFailed("Missing event id.", code="INVALID_EVENT",
                               fields={"id": ["Required."]})
    if event_type not in BankEventType.values:
        raise ValidationFailed(f"Unknown event type {event_type!r}.", code="UNKNOWN_EVENT_TYPE",
                               fields={"type": ["Unknown."]})
    if not isinstance(data, dict):
        raise ValidationFailed("Missing data.", code="INVALID_EVENT",
                               fields={"data": ["Required."]})
    reference, currency = data.get("reference"), data.get("currency")
    if not isinstance(reference, str) or not reference:
        raise ValidationFailed("Missing reference.", code="INVALID_EVENT",
                               fields={"data.reference": ["Required."]})
    if currency not in MINOR_UNITS or currency not in settings.PAYMINT["CURRENCIES"]:
        raise ValidationFailed(f"Unsupported currency {currency!r}.",
                               code="UNSUPPORTED_CURRENCY",
                               fields={"data.currency": ["Unsupported."]})
    try:
        amount = Decimal(str(data.get("amount")))
    except (InvalidOperation, ValueError):
        amount = None
    if (amount is None or not amount.is_finite() or amount <= 0
            or quantize_money(amount, currency) != amount):
        raise ValidationFailed("The amount must be a positive amount in minor units.",
                               code="INVALID_AMOUNT", fields={"data.amount": ["Invalid."]})
    return event_id, event_type, reference.strip(), amount, currency


def bank_event_apply(*, payload: dict) -> BankEvent:
    """Apply a verified bank webhook event exactly once.

    ``deposit.received`` credits the investor whose deposit reference is quoted
    (bank clearing -> investor cash). ``repayment.received`` records the debtor's payment of a
    disbursed invoice (bank clearing -> invoice escrow), creates its settlement and enqueues the
    settlement task after commit. ``withdrawal.paid`` / ``withdrawal.failed`` complete a
    withdrawal (hold -> bank clearing) or release its hold (hold -> cash).

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
            if event_type == BankEventType.DEPOSIT_RECEIVED:
                entry = _apply_deposit(event)
            elif event_type == BankEventType.REPAYMENT_RECEIVED:
                entry = _apply_repayment(event)
            else:
                entry = _apply_withdrawal_outcome(event)
            event.entry = entry
            event.save(update_fields=["entry", "updated_at"])
            return event
    except IntegrityError:
        if BankEvent.objects.filter(event_id=event_id).exists():
            raise DuplicateEvent(f"Event {event_id} was already processed.") from None
        raise


def _apply_deposit(event: BankEvent):
    user = user_by_deposit_reference(reference=event.reference)
    if user is None or user.role != Role.INVESTOR:
        raise ApplicationError(f"No investor wallet has reference {event.reference}.",
                               code="UNKNOWN_REFERENCE", http_status=422)
    bank = platform_account(AccountKind.PLATFORM_BANK_CLEARING, event.currency)
    cash = ledger_account(AccountKind.INVESTOR_CASH, event.currency, owner=user)
    return ledger_post(
        kind=EntryKind.DEPOSIT,
        idempotency_key=f"bank:{event.event_id}",
        currency=event.currency,
        legs=[Leg(bank, -event.amount, "bank transfer in"), Leg(cash, event.amount, "deposit")],
        effective_date=clock.today(),
        description=f"Deposit {event.event_id}",
        actor=None,
    )


def _apply_repayment(event: BankEvent):
    invoice = Invoice.objects.filter(repayment_reference__iexact=event.reference).first()
    if invoice is None:
        raise ApplicationError(f"No invoice has repayment reference {event.reference}.",
                               code="UNKNOWN_REFERENCE", http_status=422)
    listing = Listing.objects.filter(invoice=invoice).first()
    if listing is None:
        raise ApplicationError("This invoice was never financed.",
                               code="INVOICE_NOT_AWAITING_REPAYMENT", http_status=409)
    lock_listing(listing_id=listing.pk)
    invoice.refresh_from_db(fields=["status"])
    if invoice.status != InvoiceStatus.DISBURSED:
        raise ApplicationError("This invoice is not awaiting repayment.",
                               code="INVOICE_NOT_AWAITING_REPAYMENT", http_status=409)
    if event.currency != invoice.currency:
        raise ApplicationError(
            f"The invoice is in {invoice.currency}, the payment in {event.currency}.",
            code="CURRENCY_MISMATCH", http_status=422,
        )
    bank = platform_account(AccountKind.PLATFORM_BANK_CLEARING, event.currency)
    escrow = ledger_account(AccountKind.INVOICE_ESCROW, event.currency, invoice=invoice)
    entry = ledger_post(
        kind=EntryKind.REPAYMENT,
        idempotency_key=f"bank:{event.event_id}",
        currency=event.currency,
        legs=[Leg(bank, -event.amount, "debtor payment"),
              Leg(escrow, event.amount, "repayment held for settlement")],
        effective_date=clock.today(),
        description=f"Repayment of invoice {invoice.invoice_number} by {invoice.debtor_name}",
        invoice=invoice,
    )
    settlement = Settlement.objects.create(
        invoice=invoice, repaid_amount=event.amount, currency=event.currency
    )
    invoice_transition(invoice=invoice, to_status=InvoiceStatus.REPAID,
                       reason=f"debtor paid {event.amount} {event.currency} ({event.event_id})")
    from .tasks import settlement_execute_task

    settlement_id = settlement.pk
    transaction.on_commit(lambda: settlement_execute_task.delay(settlement_id))
    return entry


def settlement_execute(*, settlement_id: int) -> Settlement:
    """Pay out a repaid invoice through the waterfall (the settlement task's body).

    One durable transaction: lock the settlement, listing and invoice; divide the repaid amount
    (:func:`settlements.waterfall.settlement_waterfall`); post invoice escrow -> each investor's
    cash (principal + discount fee) and the seller's cash (reserve); mark investments and the
    invoice settled. Safe to run twice: a completed settlement returns at once, and the entry's
    idempotency key is unique.
    """
    with transaction.atomic(durable=True):
        settlement = Settlement.objects.select_for_update().get(pk=settlement_id)
        if settlement.status == SettlementStatus.COMPLETED:
            return settlement
        invoice = settlement.invoice
        listing = lock_listing(listing_id=invoice.listing.pk)
        investments = list(
            Investment.objects.filter(listing=listing).select_related("investor").order_by("id")
        )
        currency = settlement.currency
        result = settlement_waterfall(
            repaid=settlement.repaid_amount,
            currency=currency,
            claims={
                inv.pk: InvestorClaim(principal=inv.amount, discount_fee=inv.discount_fee)
                for inv in investments
            },
        )
        escrow = ledger_account(AccountKind.INVOICE_ESCROW, currency, invoice=invoice)
        legs = [Leg(escrow, -settlement.repaid_amount, "repayment paid out")]
        for inv in investments:
            payout = result.investors[inv.pk]
            cash = ledger_account(AccountKind.INVESTOR_CASH, currency, owner=inv.investor)
            legs.append(Leg(cash, payout.total,
                            f"principal {payout.principal} + discount fee {payout.discount_fee}"))
            inv.repaid_amount = payout.total
            inv.status = InvestmentStatus.SETTLED
        if result.seller_reserve:
            seller_cash = ledger_account(AccountKind.SELLER_CASH, currency, owner=invoice.seller)
            legs.append(Leg(seller_cash, result.seller_reserve, "reserve released"))
        entry = ledger_post(
            kind=EntryKind.SETTLEMENT,
            idempotency_key=f"settlement:{settlement.public_id}",
            currency=currency,
            legs=legs,
            effective_date=clock.today(),
            description=f"Settlement of invoice {invoice.invoice_number}",
            invoice=invoice,
        )
        Investment.objects.bulk_update(investments, ["repaid_amount", "status", "updated_at"])
        settlement.status = SettlementStatus.COMPLETED
        settlement.entry = entry
        settlement.completed_at = timezone.now()
        settlement.save(update_fields=["status", "entry", "completed_at", "updated_at"])
        invoice_transition(
            invoice=invoice, to_status=InvoiceStatus.SETTLED,
            reason=f"investors paid {settlement.repaid_amount - result.seller_reserve}, "
            f"seller reserve {result.seller_reserve} {currency}",
        )
    return settlement


def withdrawal_request(
    *, user, amount, currency: str, idempotency_key: str = ""
) -> tuple[Withdrawal, bool]:
    """Hold ``amount`` of the user's cash for a payout to their bank account.

    One durable transaction: post cash -> withdrawal hold (refused with
    ``INSUFFICIENT_FUNDS`` when the available balance is short) and record the withdrawal. The
    bank confirms with ``withdrawal.paid`` or ``withdrawal.failed`` quoting its reference.
    Idempotent per user and ``idempotency_key`` like investments.

    Returns:
        ``(withdrawal, created)``.

    Raises:
        PermissionDenied: ``KYC_NOT_APPROVED``.
        ValidationFailed: ``INVALID_AMOUNT``, ``UNSUPPORTED_CURRENCY``.
        InsufficientFunds: ``INSUFFICIENT_FUNDS`` (409).
        ApplicationError: ``IDEMPOTENCY_KEY_REUSED`` (422).
    """
    if not kyc_is_approved(user=user):
        raise PermissionDenied("Your KYC/KYB must be approved before you withdraw.",
                               code="KYC_NOT_APPROVED")
    if currency not in settings.PAYMINT["CURRENCIES"]:
        raise ValidationFailed(f"Unsupported currency {currency!r}.", code="UNSUPPORTED_CURRENCY",
                               fields={"currency": ["Unsupported."]})
    try:
        amount = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        amount = None
    if (amount is None or not amount.is_finite() or amount <= 0
            or quantize_money(amount, currency) != amount):
        raise ValidationFailed("Enter a positive amount.", code="INVALID_AMOUNT",
                               fields={"amount": ["Enter a positive amount."]})
    fingerprint = hashlib.sha256(f"{currency}|{amount.normalize()}".encode()).hexdigest()
    key = (idempotency_key or "").strip()[:255]

    def replay(previous: Withdrawal) -> tuple[Withdrawal, bool]:
        if previous.request_fingerprint != fingerprint:
            raise ApplicationError(
                "This Idempotency-Key was already used with a different request.",
                code="IDEMPOTENCY_KEY_REUSED", http_status=422,
            )
        return previous, False

    kind = AccountKind.INVESTOR_CASH if user.role == Role.INVESTOR else AccountKind.SELLER_CASH
    try:
        with transaction.atomic(durable=True):
            cash = ledger_account(kind, currency, owner=user)
            hold = ledger_account(AccountKind.WITHDRAWAL_HOLD, currency, owner=user)
            lock_accounts([cash])  # serializes withdrawals of one user, also across keys
            if key:
                previous = Withdrawal.objects.filter(user=user, idempotency_key=key).first()
                if previous is not None:
                    return replay(previous)
            withdrawal = Withdrawal(user=user, amount=amount, currency=currency,
                                    idempotency_key=key, request_fingerprint=fingerprint)
            withdrawal.hold_entry = ledger_post(
                kind=EntryKind.WITHDRAWAL_HOLD,
                idempotency_key=f"withdrawal:{withdrawal.public_id}:hold",
                currency=currency,
                legs=[Leg(cash, -amount, "withdrawal requested"),
                      Leg(hold, amount, f"held for {withdrawal.reference}")],
                effective_date=clock.today(),
                description=f"Withdrawal {withdrawal.reference}",
                actor=user,
            )
            withdrawal.save()
            return withdrawal, True
    except IntegrityError:
        if key:
            previous = Withdrawal.objects.filter(user=user, idempotency_key=key).first()
            if previous is not None:
                return replay(previous)
        raise


def _apply_withdrawal_outcome(event: BankEvent):
    withdrawal = (
        Withdrawal.objects.select_for_update()
        .select_related("user")
        .filter(reference__iexact=event.reference)
        .first()
    )
    if withdrawal is None:
        raise ApplicationError(f"No withdrawal has reference {event.reference}.",
                               code="UNKNOWN_REFERENCE", http_status=422)
    if event.amount != withdrawal.amount or event.currency != withdrawal.currency:
        raise ApplicationError("The amount or currency does not match the withdrawal.",
                               code="AMOUNT_MISMATCH", http_status=422)
    paid = event.event_type == BankEventType.WITHDRAWAL_PAID
    to_status = WithdrawalStatus.PAID if paid else WithdrawalStatus.FAILED
    if to_status not in WITHDRAWAL_TRANSITIONS[withdrawal.status]:
        raise InvalidTransition(f"The withdrawal is already {withdrawal.status.lower()}.",
                                code="WITHDRAWAL_ALREADY_FINAL")
    user, currency = withdrawal.user, withdrawal.currency
    hold = ledger_account(AccountKind.WITHDRAWAL_HOLD, currency, owner=user)
    if paid:
        other = platform_account(AccountKind.PLATFORM_BANK_CLEARING, currency)
        kind, memo = EntryKind.WITHDRAWAL_PAID, "paid out to bank account"
    else:
        cash_kind = (AccountKind.INVESTOR_CASH if user.role == Role.INVESTOR
                     else AccountKind.SELLER_CASH)
        other = ledger_account(cash_kind, currency, owner=user)
        kind, memo = EntryKind.WITHDRAWAL_RELEASE, "withdrawal failed, released"
    entry = ledger_post(
        kind=kind,
        idempotency_key=f"bank:{event.event_id}",
        currency=currency,
        legs=[Leg(hold, -withdrawal.amount, memo), Leg(other, withdrawal.amount, memo)],
        effective_date=clock.today(),
        description=f"Withdrawal {withdrawal.reference} {to_status.lower()}",
    )
    withdrawal.status = to_status
    withdrawal.failure_reason = "" if paid else str(
        (event.payload.get("data") or {}).get("reason", "bank reported a failure"))[:300]
    withdrawal.save(update_fields=["status", "failure_reason", "updated_at"])
    return entry
