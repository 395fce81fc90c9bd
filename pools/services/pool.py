"""The liquidity pools: creating one, deposits (shares bought at NAV), redemption requests
(queued, cancellable while queued) and their payment first-in first-out, the daily NAV.

Every money movement is one balanced, idempotent entry through the ledger's package API
(:func:`settlements.ledger.cash_transfer_post`): investor cash -> pool cash for a deposit,
pool cash -> investor cash for a redemption. The share register (``Pool.shares_outstanding``
and each ``PoolHolding``) changes in the same transaction as the entry.

Lock order: the ``Pool`` row first (it serializes the register and every NAV-priced
conversion), then the holding or the redemption rows, then the one account the entry debits
(the investor's cash for a deposit, the pool's for a redemption; taken by the ledger). The
pool's own allocations go through the funding service, whose order (listing, invoice, the
pool's cash) never takes the ``Pool`` row, so the two cannot deadlock. NAV arithmetic and its
rounding: :mod:`pools.nav`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal, InvalidOperation
from uuid import uuid4

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.enums import Role
from accounts.error_codes import AccountsError
from accounts.selectors import kyc_is_approved
from accounts.services import platform_investor_create
from compliance.public import require_no_hold
from marketplace.error_codes import MarketplaceError
from paymint.core import clock
from paymint.core.errors import Conflict, PermissionDenied, ValidationFailed
from paymint.core.events import EventName
from paymint.core.idempotency import idempotent_replay
from paymint.core.models import DomainEvent
from paymint.core.money import UnsupportedCurrency, parse_money_amount, quantize_money
from paymint.core.permissions import require_staff
from paymint.core.queue import enqueue_on_commit
from settlements.ledger import EntryKind, cash_transfer_post

from ..enums import RedemptionStatus
from ..error_codes import PoolsError
from ..models import (
    NavSnapshot,
    Pool,
    PoolDeposit,
    PoolHolding,
    RedemptionPayment,
    RedemptionRequest,
)
from ..nav import SHARE_QUANTUM, NavBreakdown, amount_for_shares, shares_for_amount
from ..selectors import pool_nav

ZERO = Decimal(0)
#: The back-office permission to open, pause and resume pools (the ``operations`` role's:
#: ``accounts.roles``); each service checks it, whatever calls it (admin action, command).
MANAGE_POOLS = "pools.change_pool"
PAY_TASK = "pools.tasks.pool_redemptions_pay_task"


def pool_create(
    *,
    currency: str,
    actor,
    grades: list[str] | None = None,
    min_tenor_days: int = 7,
    max_tenor_days: int = 180,
    max_listing_share: Decimal = Decimal("0.25"),
    max_debtor_exposure: Decimal = Decimal("50000"),
    max_seller_exposure: Decimal = Decimal("100000"),
    cash_buffer_rate: Decimal = Decimal("0.10"),
) -> Pool:
    """Open the platform's pool in ``currency`` (one per currency) with its allocation
    policy, and its platform-owned investor account
    (:func:`accounts.services.platform_investor_create`).

    Raises:
        PermissionDenied: ``actor`` is not active staff with ``pools.change_pool``.
        Conflict: ``POOL_EXISTS``.
        UnsupportedCurrency: a currency PayMint does not finance.
        ValidationFailed: ``INVALID_POOL_POLICY`` (an unknown grade, a tenor range that is
            empty, a listing share outside (0, 1], a buffer outside [0, 1), an exposure cap
            not positive).
    """
    require_staff(actor, permission=MANAGE_POOLS)
    if currency not in settings.PAYMINT["CURRENCIES"]:
        raise UnsupportedCurrency(
            f"PayMint does not finance {currency}.", fields={"currency": ["Unsupported."]}
        )
    known = settings.PAYMINT["GRADE_PRICING"]
    problems = {
        "grades": grades is not None and (not grades or any(g not in known for g in grades)),
        "max_tenor_days": not 0 <= min_tenor_days <= max_tenor_days,
        "max_listing_share": not 0 < max_listing_share <= 1,
        "cash_buffer_rate": not 0 <= cash_buffer_rate < 1,
        "max_debtor_exposure": max_debtor_exposure <= 0,
        "max_seller_exposure": max_seller_exposure <= 0,
    }
    wrong = [name for name, bad in problems.items() if bad]
    if wrong:
        raise ValidationFailed(
            f"Invalid pool policy: {', '.join(wrong)}.",
            code=PoolsError.INVALID_POOL_POLICY,
            fields={name: ["Out of range."] for name in wrong},
        )
    if Pool.objects.filter(currency=currency).exists():
        raise Conflict(f"There is already a {currency} pool.", code=PoolsError.POOL_EXISTS)
    with transaction.atomic():
        account = platform_investor_create(
            email=f"pool-{currency.lower()}@pools.paymint.invalid",
            legal_name=f"PayMint liquidity pool {currency}",
            country="DE",
            actor=actor,
        )
        try:
            with transaction.atomic():
                return Pool.objects.create(
                    currency=currency,
                    name=f"PayMint {currency} pool",
                    account=account,
                    inception_date=clock.today(),
                    grades=sorted(grades or settings.PAYMINT["GRADE_PRICING"]),
                    min_tenor_days=min_tenor_days,
                    max_tenor_days=max_tenor_days,
                    max_listing_share=max_listing_share,
                    max_debtor_exposure=max_debtor_exposure,
                    max_seller_exposure=max_seller_exposure,
                    cash_buffer_rate=cash_buffer_rate,
                )
        except IntegrityError:
            raise Conflict(
                f"There is already a {currency} pool.", code=PoolsError.POOL_EXISTS
            ) from None


def _check_investor(investor, pool: Pool) -> None:
    if investor.role != Role.INVESTOR or investor.pk == pool.account_id:
        raise PermissionDenied(
            "Only investors can hold pool shares.", code=MarketplaceError.NOT_AN_INVESTOR
        )
    if not kyc_is_approved(user=investor):
        raise PermissionDenied(
            "Your KYC must be approved before you invest.", code=AccountsError.KYC_NOT_APPROVED
        )
    require_no_hold(investor)


def _fingerprint(*parts) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def _lock_pool(pool: Pool) -> Pool:
    return Pool.objects.select_for_update().select_related("account").get(pk=pool.pk)


def pool_deposit(
    *, pool: Pool, investor, amount, idempotency_key: str = ""
) -> tuple[PoolDeposit, bool]:
    """Buy pool shares with ``amount`` (the pool's currency) of the investor's cash, at the NAV
    computed now under the pool's lock: ``floor(amount x shares / net assets)`` shares (10
    decimals; one per unit in an empty pool). One entry, investor cash -> pool cash. Queued
    redemptions are paid from the new cash after commit.

    Idempotent per investor and ``idempotency_key``: a replay returns the first deposit
    (``created`` False); the same key for another pool or amount is refused.

    Returns:
        ``(deposit, created)``.

    Raises:
        PermissionDenied: ``NOT_AN_INVESTOR``, ``KYC_NOT_APPROVED``, ``ACCOUNT_ON_HOLD``.
        ValidationFailed: ``INVALID_AMOUNT``.
        Conflict: ``POOL_DEPOSITS_PAUSED``, ``POOL_HAS_NO_NET_ASSETS``,
            ``INSUFFICIENT_FUNDS``, ``IDEMPOTENCY_KEY_REUSED`` (422).
    """
    _check_investor(investor, pool)
    amount = parse_money_amount(amount, pool.currency)
    key = (idempotency_key or "").strip()[:255]
    fingerprint = _fingerprint("deposit", pool.public_id, amount.normalize())
    if key:
        previous = PoolDeposit.objects.filter(investor=investor, idempotency_key=key).first()
        if previous is not None:
            return idempotent_replay(previous, fingerprint=fingerprint), False
    today = clock.today()
    try:
        with transaction.atomic(durable=True):
            locked = _lock_pool(pool)
            if key:
                previous = PoolDeposit.objects.filter(
                    investor=investor, idempotency_key=key
                ).first()
                if previous is not None:
                    return idempotent_replay(previous, fingerprint=fingerprint), False
            if locked.deposits_paused:
                raise Conflict(
                    "Deposits into this pool are paused.", code=PoolsError.POOL_DEPOSITS_PAUSED
                )
            nav = pool_nav(pool=locked, today=today)
            try:
                shares = shares_for_amount(
                    amount, net_assets=nav.net_assets_exact,
                    shares_outstanding=locked.shares_outstanding
                )
            except ZeroDivisionError:
                raise Conflict(
                    "The pool has no net assets; deposits are closed.",
                    code=PoolsError.POOL_HAS_NO_NET_ASSETS,
                ) from None
            entry = cash_transfer_post(
                payer=investor,
                payee=locked.account,
                currency=locked.currency,
                amount=amount,
                kind=EntryKind.POOL_SUBSCRIPTION,
                idempotency_key=(
                    f"pool-deposit:{investor.pk}:{key}" if key else f"pool-deposit:{uuid4()}"
                ),
                effective_date=today,
                description=f"{shares:f} shares of {locked.name} at {nav.nav_per_share:f}",
                actor=investor,
            )
            deposit = PoolDeposit.objects.create(
                pool=locked,
                investor=investor,
                amount=amount,
                shares=shares,
                nav_per_share=nav.nav_per_share,
                entry=entry,
                idempotency_key=key,
                request_fingerprint=fingerprint,
            )
            holding, _ = PoolHolding.objects.get_or_create(pool=locked, investor=investor)
            PoolHolding.objects.filter(pk=holding.pk).update(
                shares=F("shares") + shares,
                invested=F("invested") + amount,
                updated_at=timezone.now(),
            )
            Pool.objects.filter(pk=locked.pk).update(
                shares_outstanding=F("shares_outstanding") + shares, updated_at=timezone.now()
            )
            enqueue_on_commit(PAY_TASK, locked.pk)
            return deposit, True
    except IntegrityError:
        if key:
            previous = PoolDeposit.objects.filter(investor=investor, idempotency_key=key).first()
            if previous is not None:
                return idempotent_replay(previous, fingerprint=fingerprint), False
        raise


def _shares_value(raw, field: str) -> Decimal:
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        value = None
    if (
        value is None
        or not value.is_finite()
        or value <= 0
        or value.quantize(SHARE_QUANTUM) != value
    ):
        raise ValidationFailed(
            "Enter a positive number of shares (at most 10 decimals).",
            code=PoolsError.INVALID_REDEMPTION,
            fields={field: ["A positive number, 10 decimals at most."]},
        )
    return value


def redemption_request(
    *, pool: Pool, investor, amount=None, shares=None, idempotency_key: str = ""
) -> tuple[RedemptionRequest, bool]:
    """Queue the sale of pool shares: ``shares``, or the shares worth ``amount`` at today's
    NAV (towards zero). Paid first-in first-out, from ``POOL_REDEMPTION_NOTICE_DAYS`` after
    today, at the NAV of the day each part is paid; the shares keep their value until then.
    A holder cannot queue more shares than they hold less those already queued, nor more than
    ``POOL_MAX_REDEMPTION`` worth at today's NAV.

    Returns:
        ``(request, created)`` (idempotent per investor and key, like a deposit).

    Raises:
        PermissionDenied: ``NOT_AN_INVESTOR``, ``KYC_NOT_APPROVED``, ``ACCOUNT_ON_HOLD``.
        ValidationFailed: ``INVALID_REDEMPTION`` (neither or both of amount and shares, not
            positive), ``INVALID_AMOUNT``, ``REDEMPTION_ABOVE_LIMIT``.
        Conflict: ``INSUFFICIENT_SHARES``, ``IDEMPOTENCY_KEY_REUSED`` (422).
    """
    _check_investor(investor, pool)
    if (amount is None) == (shares is None):
        raise ValidationFailed(
            "Send either an amount or a number of shares.",
            code=PoolsError.INVALID_REDEMPTION,
            fields={"amount": ["Either amount or shares."]},
        )
    if amount is not None:
        amount = parse_money_amount(amount, pool.currency)
    else:
        shares = _shares_value(shares, "shares")
    key = (idempotency_key or "").strip()[:255]
    fingerprint = _fingerprint(
        "redemption",
        pool.public_id,
        amount.normalize() if amount is not None else "",
        shares.normalize() if shares is not None else "",
    )
    if key:
        previous = RedemptionRequest.objects.filter(investor=investor, idempotency_key=key).first()
        if previous is not None:
            return idempotent_replay(previous, fingerprint=fingerprint), False
    config = settings.PAYMINT
    today = clock.today()
    try:
        with transaction.atomic(durable=True):
            locked = _lock_pool(pool)
            if key:
                previous = RedemptionRequest.objects.filter(
                    investor=investor, idempotency_key=key
                ).first()
                if previous is not None:
                    return idempotent_replay(previous, fingerprint=fingerprint), False
            nav = pool_nav(pool=locked, today=today)
            if amount is not None:
                if nav.net_assets_exact <= 0:
                    raise Conflict(
                        "The pool has no net assets.", code=PoolsError.POOL_HAS_NO_NET_ASSETS
                    )
                shares = shares_for_amount(
                    amount, net_assets=nav.net_assets_exact,
                    shares_outstanding=locked.shares_outstanding
                )
            holding = (
                PoolHolding.objects.select_for_update()
                .filter(pool=locked, investor=investor)
                .first()
            )
            held = holding.shares if holding else ZERO
            queued = sum(
                (
                    r.shares - r.shares_paid
                    for r in RedemptionRequest.objects.filter(
                        pool=locked, investor=investor, status=RedemptionStatus.QUEUED
                    )
                ),
                ZERO,
            )
            if shares <= 0 or shares > held - queued:
                raise Conflict(
                    f"You hold {held - queued:f} shares not already queued.",
                    code=PoolsError.INSUFFICIENT_SHARES,
                    fields={"shares": [f"At most {held - queued:f}."]},
                )
            worth = amount_for_shares(
                shares,
                net_assets=nav.net_assets_exact,
                shares_outstanding=locked.shares_outstanding,
                currency=locked.currency,
            )
            if worth > config["POOL_MAX_REDEMPTION"]:
                raise ValidationFailed(
                    f"One redemption may be at most {config['POOL_MAX_REDEMPTION']} "
                    f"{locked.currency}.",
                    code=PoolsError.REDEMPTION_ABOVE_LIMIT,
                    fields={"amount": ["Above the limit per redemption."]},
                )
            request = RedemptionRequest.objects.create(
                pool=locked,
                investor=investor,
                shares=shares,
                payable_from=today + dt.timedelta(days=config["POOL_REDEMPTION_NOTICE_DAYS"]),
                idempotency_key=key,
                request_fingerprint=fingerprint,
            )
            enqueue_on_commit(PAY_TASK, locked.pk)
            return request, True
    except IntegrityError:
        if key:
            previous = RedemptionRequest.objects.filter(
                investor=investor, idempotency_key=key
            ).first()
            if previous is not None:
                return idempotent_replay(previous, fingerprint=fingerprint), False
        raise


def redemption_cancel(*, request: RedemptionRequest, investor) -> RedemptionRequest:
    """Cancel the investor's own queued request; what was already paid of it stays paid, the
    shares not paid stay with the holder. Cancelling a cancelled request changes nothing.

    Raises:
        NotFound: ``REDEMPTION_NOT_FOUND`` (not the investor's).
        Conflict: ``REDEMPTION_NOT_CANCELLABLE`` (paid in full).
    """
    with transaction.atomic(durable=True):
        _lock_pool(request.pool)
        locked = RedemptionRequest.objects.select_for_update().get(pk=request.pk)
        if locked.investor_id != investor.pk:
            raise Conflict("Not your request.", code=PoolsError.REDEMPTION_NOT_FOUND)
        if locked.status == RedemptionStatus.CANCELLED:
            return locked
        if locked.status != RedemptionStatus.QUEUED:
            raise Conflict(
                "This redemption was paid in full.", code=PoolsError.REDEMPTION_NOT_CANCELLABLE
            )
        locked.status = RedemptionStatus.CANCELLED
        locked.save(update_fields=["status", "updated_at"])
        return locked


def pool_repayment_received(event: DomainEvent) -> list[int]:
    """Domain event handler (registered in ``PoolsConfig.ready``): when a repayment reaches a
    pool, pay its queued redemptions at once rather than at the next beat run.

    ``repayment.received`` events (``settlements.services.distribution``) name each investor
    paid in ``recipients`` (user pk -> their share); a pool's investments are ordinary
    ``Investment`` rows owned by the pool's ``account``, so a recipient that is a pool's
    account means cash reached that pool. For each such pool the redemption payment task
    (:func:`pool_redemptions_pay`, by name) is enqueued after the dispatch commits; other
    events are ignored. Idempotent: a replayed dispatch only enqueues the task again, which
    pays nothing twice (one entry per request and part). The beat job
    (``pools_redemptions_pay_task``) stays the safety net for a lost task.

    Returns the ids of the pools whose payment task was enqueued.
    """
    if event.name != EventName.REPAYMENT_RECEIVED:
        return []
    user_ids = [int(k) for k in (event.recipients or {}) if str(k).isdigit()]
    pool_ids = list(
        Pool.objects.filter(account_id__in=user_ids).order_by("pk").values_list("pk", flat=True)
    )
    for pool_id in pool_ids:
        enqueue_on_commit(PAY_TASK, pool_id)
    return pool_ids


def pool_redemptions_pay(*, pool_id: int) -> list[RedemptionPayment]:
    """Pay queued redemptions first-in first-out from the pool's uninvested cash, at today's
    NAV (the task run after a deposit or a request, and by beat as repayments arrive). A
    request the cash cannot pay in full is paid in part (the shares the cash buys, towards
    zero) and the run stops there: a later request is never paid before an earlier one.
    Safe to run twice: each payment is its own entry with a key per request and part.
    """
    payments: list[RedemptionPayment] = []
    today = clock.today()
    with transaction.atomic(durable=True):
        pool = Pool.objects.select_for_update().select_related("account").get(pk=pool_id)
        queue = list(
            RedemptionRequest.objects.select_for_update()
            .filter(pool=pool, status=RedemptionStatus.QUEUED, payable_from__lte=today)
            .select_related("investor")
            .order_by("created_at", "id")
        )
        if not queue:
            return payments
        nav = pool_nav(pool=pool, today=today)
        net, outstanding, cash = nav.net_assets_exact, pool.shares_outstanding, nav.cash
        for request in queue:
            left = request.shares - request.shares_paid
            amount = amount_for_shares(
                left, net_assets=net, shares_outstanding=outstanding, currency=pool.currency
            )
            fill = left
            if amount > cash:
                fill = min(
                    left, shares_for_amount(cash, net_assets=net, shares_outstanding=outstanding)
                )
                amount = amount_for_shares(
                    fill, net_assets=net, shares_outstanding=outstanding, currency=pool.currency
                )
            if fill <= 0 or (amount <= 0 and fill < left):
                break
            payments.append(
                _pay(pool=pool, request=request, shares=fill, amount=amount, nav=nav, today=today)
            )
            net, outstanding, cash = net - amount, outstanding - fill, cash - amount
            if fill < left:
                break
    return payments


def _pay(
    *,
    pool: Pool,
    request: RedemptionRequest,
    shares: Decimal,
    amount: Decimal,
    nav: NavBreakdown,
    today: dt.date,
) -> RedemptionPayment:
    part = request.payments.count() + 1
    entry = None
    if amount > 0:
        entry = cash_transfer_post(
            payer=pool.account,
            payee=request.investor,
            currency=pool.currency,
            amount=amount,
            kind=EntryKind.POOL_REDEMPTION,
            idempotency_key=f"pool-redemption:{request.public_id}:{part}",
            effective_date=today,
            description=f"{shares:f} shares of {pool.name} redeemed at {nav.nav_per_share:f}",
        )
    payment = RedemptionPayment.objects.create(
        request=request, shares=shares, amount=amount, nav_per_share=nav.nav_per_share, entry=entry
    )
    holding = PoolHolding.objects.select_for_update().get(pool=pool, investor=request.investor)
    cost = (
        quantize_money(holding.invested * shares / holding.shares, pool.currency)
        if holding.shares
        else ZERO
    )
    PoolHolding.objects.filter(pk=holding.pk).update(
        shares=F("shares") - shares, invested=F("invested") - cost, updated_at=timezone.now()
    )
    Pool.objects.filter(pk=pool.pk).update(
        shares_outstanding=F("shares_outstanding") - shares, updated_at=timezone.now()
    )
    request.shares_paid += shares
    request.amount_paid += amount
    if request.shares_paid == request.shares:
        request.status = RedemptionStatus.PAID
    request.save(update_fields=["shares_paid", "amount_paid", "status", "updated_at"])
    return payment


def pool_nav_snapshot(*, pool_id: int) -> NavSnapshot:
    """Store today's NAV of the pool (the daily beat job; also on demand). One row per pool and
    day: a later run the same day replaces that day's figures with the current ones."""
    today = clock.today()
    with transaction.atomic(durable=True):
        pool = Pool.objects.select_for_update().select_related("account").get(pk=pool_id)
        nav = pool_nav(pool=pool, today=today)
        snapshot, _ = NavSnapshot.objects.update_or_create(
            pool=pool,
            date=today,
            defaults={
                "cash": nav.cash,
                "principal": nav.principal,
                "accrued_fee": nav.accrued_fee.quantize(SHARE_QUANTUM),
                "provisions": nav.provisions.quantize(SHARE_QUANTUM),
                "redemptions_owed": nav.redemptions_owed,
                "net_assets": nav.net_assets,
                "shares_outstanding": pool.shares_outstanding,
                "nav_per_share": nav.nav_per_share,
                "breakdown": {k: str(v) for k, v in nav.by_bucket.items()},
            },
        )
    return snapshot


def pool_settings_update(
    *, pool: Pool, actor, deposits_paused: bool | None = None, allocation_paused: bool | None = None
) -> Pool:
    """Ops pause or resume deposits, or resume allocation (a paused pool's allocation is
    skipped by the auto-invest run; paused deposits are refused with
    ``POOL_DEPOSITS_PAUSED``). Pausing allocation takes four eyes:
    :func:`pool_allocation_pause`.

    Raises:
        PermissionDenied: ``actor`` is not active staff with ``pools.change_pool``.
    """
    require_staff(actor, permission=MANAGE_POOLS)
    with transaction.atomic(durable=True):
        locked = _lock_pool(pool)
        fields = []
        if deposits_paused is not None:
            locked.deposits_paused = deposits_paused
            fields.append("deposits_paused")
        if allocation_paused is not None:
            if allocation_paused and not locked.allocation_paused:
                raise ValueError("pausing allocation takes four eyes: pool_allocation_pause")
            locked.allocation_paused = allocation_paused
            locked.allocation_pause_requested_by = None
            fields += ["allocation_paused", "allocation_pause_requested_by"]
        if fields:
            locked.save(update_fields=[*fields, "updated_at"])
        return locked


def pool_allocation_pause(*, pool: Pool, actor) -> Pool:
    """Pause the pool's allocation with four eyes: the first member of staff records the
    request (``allocation_pause_requested_by``), a second one confirms it and allocation stops
    (the auto-invest run skips the pool). Resuming is :func:`pool_settings_update`.

    Raises:
        PermissionDenied: ``actor`` is not active staff with ``pools.change_pool``.
        Conflict: ``FOUR_EYES_SAME_REVIEWER`` (the same person confirming their own request).
    """
    require_staff(actor, permission=MANAGE_POOLS)
    with transaction.atomic(durable=True):
        locked = _lock_pool(pool)
        if locked.allocation_paused:
            return locked
        requested = locked.allocation_pause_requested_by_id
        if requested is None:
            locked.allocation_pause_requested_by = actor
            locked.save(update_fields=["allocation_pause_requested_by", "updated_at"])
            return locked
        if requested == actor.pk:
            raise Conflict(
                "You asked for this pause; another member of staff must confirm it.",
                code=AccountsError.FOUR_EYES_SAME_REVIEWER,
            )
        locked.allocation_paused = True
        locked.allocation_pause_requested_by = None
        locked.save(
            update_fields=["allocation_paused", "allocation_pause_requested_by", "updated_at"]
        )
        return locked
