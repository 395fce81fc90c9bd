"""Withdrawals: cash held at once, paid out or released by the bank's webhook."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.error_codes import AccountsError
from accounts.selectors import kyc_is_approved
from accounts.two_factor import totp_step_up
from compliance.public import require_no_hold
from paymint.core import clock
from paymint.core.error_codes import CoreError
from paymint.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from paymint.core.idempotency import idempotent_replay
from paymint.core.money import parse_money_amount

from ..enums import WITHDRAWAL_TRANSITIONS, AccountKind, EntryKind, WithdrawalStatus
from ..error_codes import SettlementsError
from ..ledger.posting import Leg, ledger_account, ledger_post, lock_accounts
from ..ledger.selectors import cash_account_kind
from ..models import Withdrawal


def withdrawal_needs_otp(*, amount: Decimal, currency: str) -> bool:
    """True when a withdrawal of ``amount`` ``currency`` needs a code from the user's
    authenticator app: at or above ``PAYMINT["WITHDRAWAL_2FA_THRESHOLD"]`` (or the currency's
    own figure in ``WITHDRAWAL_2FA_THRESHOLD_BY_CURRENCY``), in that currency."""
    by_currency = settings.PAYMINT.get("WITHDRAWAL_2FA_THRESHOLD_BY_CURRENCY", {})
    threshold = by_currency.get(currency, settings.PAYMINT["WITHDRAWAL_2FA_THRESHOLD"])
    return Decimal(amount) >= Decimal(threshold)


def withdrawal_request(
    *, user, amount, currency: str, idempotency_key: str = "", otp_code: str = ""
) -> tuple[Withdrawal, bool]:
    """Hold ``amount`` of the user's cash for a payout to their bank account.

    One durable transaction: post cash -> withdrawal hold (refused with
    ``INSUFFICIENT_FUNDS`` when the available balance is short) and record the withdrawal. The
    bank confirms with ``withdrawal.paid`` or ``withdrawal.failed`` quoting its reference.
    Idempotent per user and ``idempotency_key`` like investments.

    Large withdrawals (:func:`withdrawal_needs_otp`) need ``otp_code``, a current code from the
    user's confirmed TOTP device, checked (and used up) before anything is written; a replay
    of an already recorded request needs none.

    Returns:
        ``(withdrawal, created)``.

    Raises:
        PermissionDenied: ``KYC_NOT_APPROVED``.
        ValidationFailed: ``INVALID_AMOUNT``, ``UNSUPPORTED_CURRENCY``.
        InsufficientFunds: ``INSUFFICIENT_FUNDS`` (409).
        ApplicationError: ``IDEMPOTENCY_KEY_REUSED`` (422).
        PermissionDenied: ``ACCOUNT_ON_HOLD`` while compliance reviews the account.
        PermissionDenied: ``TWO_FACTOR_SETUP_REQUIRED``; ValidationFailed: ``OTP_REQUIRED``,
            ``INVALID_OTP`` (large withdrawals, see :func:`accounts.two_factor.totp_step_up`).
    """
    if not kyc_is_approved(user=user):
        raise PermissionDenied("Your KYC/KYB must be approved before you withdraw.",
                               code=AccountsError.KYC_NOT_APPROVED)
    require_no_hold(user)
    if currency not in settings.PAYMINT["CURRENCIES"]:
        raise ValidationFailed(f"Unsupported currency {currency!r}.",
                               code=CoreError.UNSUPPORTED_CURRENCY,
                               fields={"currency": ["Unsupported."]})
    amount = parse_money_amount(amount, currency, message="Enter a positive amount.")
    fingerprint = hashlib.sha256(f"{currency}|{amount.normalize()}".encode()).hexdigest()
    key = (idempotency_key or "").strip()[:255]

    def replay(previous: Withdrawal) -> tuple[Withdrawal, bool]:
        return idempotent_replay(previous, fingerprint=fingerprint), False

    if withdrawal_needs_otp(amount=amount, currency=currency):
        previous = (Withdrawal.objects.filter(user=user, idempotency_key=key).first()
                    if key else None)
        if previous is not None:
            return replay(previous)
        totp_step_up(user=user, code=otp_code,
                     action=f"withdraw {amount.normalize():f} {currency}")

    kind = cash_account_kind(user)
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




def withdrawal_status_set(*, withdrawal: Withdrawal, to_status: str,
                          failure_reason: str = "") -> Withdrawal:
    """The one writer of ``Withdrawal.status`` (the caller holds the row's lock, inside its
    transaction, and posts the entry that goes with the move): checks
    :data:`~settlements.enums.WITHDRAWAL_TRANSITIONS` and saves the status and the failure
    reason (kept only on ``FAILED`` and ``RETURNED``). The model's changes are in the audit trail
    (django-auditlog).

    Raises:
        InvalidTransition: ``WITHDRAWAL_ALREADY_FINAL`` when the move is not allowed.
    """
    if to_status not in WITHDRAWAL_TRANSITIONS[withdrawal.status]:
        raise InvalidTransition(f"The withdrawal is already {withdrawal.status.lower()}.",
                                code=SettlementsError.WITHDRAWAL_ALREADY_FINAL)
    withdrawal.status = to_status
    withdrawal.failure_reason = (
        failure_reason[:300]
        if to_status in (WithdrawalStatus.FAILED, WithdrawalStatus.RETURNED) else "")
    withdrawal.save(update_fields=["status", "failure_reason", "updated_at"])
    return withdrawal
