"""Auto-invest: an investor's standing rule funds matching listings when they open.

Each automatic investment goes through :func:`marketplace.services.investment_create`, the
funding service every investor uses, so its guarantees hold unchanged: the listing and
account locks (no overfunding, no negative wallet), the minimum ticket, the concentration
caps, the compliance hold and KYC checks. Its ``Idempotency-Key`` is
:data:`AUTO_INVEST_KEY` of the listing: a second run (the task retried, the beat job, two
workers at once) replays the first investment instead of making another.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.enums import Role
from accounts.error_codes import AccountsError
from accounts.selectors import kyc_is_approved
from invoices.enums import InvoiceStatus
from marketplace.error_codes import MarketplaceError
from marketplace.models import Investment, Listing
from marketplace.services import VIA_AUTO_INVEST, investment_create
from paymint.core import clock
from paymint.core.errors import ApplicationError, PermissionDenied, ValidationFailed
from paymint.core.idempotency import IdempotencyKeyReused
from paymint.core.money import minor_unit, parse_money_amount, quantize_money

from ..allocation import auto_invest_amount, pool_allocation_amount
from ..enums import AutoInvestOutcome
from ..error_codes import PoolsError
from ..models import AutoInvestLog, AutoInvestRule, Pool
from ..nav import amount_for_shares
from ..selectors import (
    auto_invest_rules_for_listing,
    investor_cash,
    investor_debtor_exposure,
    investor_seller_exposure,
    pool_for_currency,
    pool_nav,
    redemption_queue,
)

#: The funding's Idempotency-Key of an automatic investment in a listing (one per investor
#: and listing: the funding service scopes keys per investor).
AUTO_INVEST_KEY = "auto-invest:{listing}"


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message, code=PoolsError.INVALID_AUTO_INVEST_RULE, fields={field: [message]}
    )


def auto_invest_rule_set(
    *,
    investor,
    currencies: list[str],
    grades: list[str],
    amount_per_invoice,
    max_per_debtor,
    min_tenor_days: int = 0,
    max_tenor_days: int = 365,
    min_discount_rate=Decimal(0),
    cash_to_keep=Decimal(0),
    paused: bool = False,
) -> AutoInvestRule:
    """Create or replace the investor's auto-invest rule (the whole rule: a PUT).

    Amounts apply in each of ``currencies`` and must be in each one's minor units;
    ``min_discount_rate`` is an annual fraction (ACT/365); tenors are days from the day a
    listing opens to its due date, inclusive bounds. Pausing keeps the rule and its log.

    Raises:
        PermissionDenied: ``NOT_AN_INVESTOR``, ``KYC_NOT_APPROVED``.
        ValidationFailed: ``INVALID_AUTO_INVEST_RULE`` (field by field), ``INVALID_AMOUNT``.
    """
    if investor.role != Role.INVESTOR:
        raise PermissionDenied(
            "Only investors can auto-invest.", code=MarketplaceError.NOT_AN_INVESTOR
        )
    if not kyc_is_approved(user=investor):
        raise PermissionDenied(
            "Your KYC must be approved before you invest.", code=AccountsError.KYC_NOT_APPROVED
        )
    config = settings.PAYMINT
    currencies = sorted(set(currencies or []))
    grades = sorted(set(grades or []))
    if not currencies or not set(currencies) <= set(config["CURRENCIES"]):
        raise _invalid("currencies", f"Choose among {', '.join(config['CURRENCIES'])}.")
    if not grades or not set(grades) <= set(config["GRADE_PRICING"]):
        raise _invalid("grades", f"Choose among {', '.join(config['GRADE_PRICING'])}.")
    if not 0 <= int(min_tenor_days) <= int(max_tenor_days):
        raise _invalid("max_tenor_days", "The tenor range must go from low to high.")
    rate = Decimal(str(min_discount_rate))
    if not Decimal(0) <= rate < 1:
        raise _invalid("min_discount_rate", "A fraction between 0 and 1 (0.10 = 10 % a year).")
    amounts = {}
    for currency in currencies:
        amounts["amount_per_invoice"] = parse_money_amount(
            amount_per_invoice, currency, field="amount_per_invoice"
        )
        amounts["max_per_debtor"] = parse_money_amount(
            max_per_debtor, currency, field="max_per_debtor"
        )
        keep = Decimal(str(cash_to_keep))
        if keep < 0 or quantize_money(keep, currency) != keep:
            raise _invalid("cash_to_keep", f"Zero or more, in {currency} minor units.")
        amounts["cash_to_keep"] = keep
    if amounts["max_per_debtor"] < amounts["amount_per_invoice"]:
        raise _invalid("max_per_debtor", "At least the amount per invoice.")
    rule, _ = AutoInvestRule.objects.update_or_create(
        investor=investor,
        defaults={
            "currencies": currencies,
            "grades": grades,
            "min_tenor_days": int(min_tenor_days),
            "max_tenor_days": int(max_tenor_days),
            "min_discount_rate": rate,
            "paused": bool(paused),
            **amounts,
        },
    )
    return rule


@dataclass
class _Participant:
    """One automatic investor of a run: an investor's rule, or a pool (its policy)."""

    investor: object
    rule: AutoInvestRule | None
    pool: Pool | None
    last_at: dt.datetime | None
    order: tuple

    @property
    def snapshot(self) -> dict:
        if self.rule is not None:
            rule = self.rule
            return {
                "currencies": rule.currencies,
                "grades": rule.grades,
                "min_tenor_days": rule.min_tenor_days,
                "max_tenor_days": rule.max_tenor_days,
                "min_discount_rate": str(rule.min_discount_rate),
                "amount_per_invoice": str(rule.amount_per_invoice),
                "max_per_debtor": str(rule.max_per_debtor),
                "cash_to_keep": str(rule.cash_to_keep),
            }
        pool = self.pool
        return {
            "pool": str(pool.public_id),
            "grades": pool.grades,
            "min_tenor_days": pool.min_tenor_days,
            "max_tenor_days": pool.max_tenor_days,
            "max_listing_share": str(pool.max_listing_share),
            "max_debtor_exposure": str(pool.max_debtor_exposure),
            "max_seller_exposure": str(pool.max_seller_exposure),
            "cash_buffer_rate": str(pool.cash_buffer_rate),
        }


def _log_skip(*, who: _Participant, listing: Listing, reason: str) -> AutoInvestLog | None:
    """Record why ``who`` did not fund ``listing``; never over an investment's log row."""
    fields = {
        "rule": who.rule,
        "reason": str(reason)[:60],
        "amount": None,
        "currency": listing.currency,
        "rule_snapshot": who.snapshot,
    }
    rows = AutoInvestLog.objects.filter(
        investor_id=who.investor.pk, listing=listing, outcome=AutoInvestOutcome.SKIPPED
    )
    if rows.update(**fields, updated_at=timezone.now()):
        return rows.first()
    try:
        with transaction.atomic():
            return AutoInvestLog.objects.create(
                investor_id=who.investor.pk,
                listing=listing,
                outcome=AutoInvestOutcome.SKIPPED,
                **fields,
            )
    except IntegrityError:
        return None  # a concurrent run logged first (its investment, or the same skip)


def _log_investment(
    *, who: _Participant, listing: Listing, investment: Investment
) -> AutoInvestLog:
    """Log the investment with the rule (or the pool's policy) that made it and move the
    participant to the back of the fair order, in one transaction; a second call changes
    nothing. The investor was told by the funding itself (one ``investment.confirmed`` event
    that says the auto-invest rule made it: ``investment_create(via=VIA_AUTO_INVEST)``)."""
    with transaction.atomic():
        log, _ = AutoInvestLog.objects.update_or_create(
            investor_id=who.investor.pk,
            listing=listing,
            defaults={
                "rule": who.rule,
                "investment": investment,
                "outcome": AutoInvestOutcome.INVESTED,
                "reason": "",
                "amount": investment.amount,
                "currency": investment.currency,
                "rule_snapshot": who.snapshot,
            },
        )
        if who.pool is not None:
            Pool.objects.filter(pk=who.pool.pk).update(last_allocated_at=timezone.now())
            return log
        AutoInvestRule.objects.filter(pk=who.rule.pk).update(last_invested_at=timezone.now())
    return log


def _participants(*, listing: Listing, grade: str, today: dt.date) -> list[_Participant]:
    """The rules and the pool that may fund ``listing``, in the fair order: least recently
    served first (never served first of all), then rules before the pool, then the oldest."""
    found = [
        _Participant(
            investor=rule.investor,
            rule=rule,
            pool=None,
            last_at=rule.last_invested_at,
            order=(0, rule.pk),
        )
        for rule in auto_invest_rules_for_listing(listing=listing, grade=grade, today=today)
    ]
    pool = pool_for_currency(currency=listing.currency)
    tenor = (listing.due_date - today).days
    if (
        pool is not None
        and not pool.allocation_paused
        and grade in pool.grades
        and pool.min_tenor_days <= tenor <= pool.max_tenor_days
    ):
        found.append(
            _Participant(
                investor=pool.account,
                rule=None,
                pool=pool,
                last_at=pool.last_allocated_at,
                order=(1, pool.pk),
            )
        )
    return sorted(found, key=lambda p: (p.last_at is not None, p.last_at or _EPOCH, p.order))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _pool_decision(*, pool: Pool, listing: Listing, remaining: Decimal):
    """What the pool funds (:func:`pools.allocation.pool_allocation_amount`): its buffer is
    ``cash_buffer_rate x net assets`` (rounded up) plus what its queued redemptions are worth
    today, so that allocation never spends the cash redemptions are waiting for."""
    nav = pool_nav(pool=pool)
    queued = sum((r.shares - r.shares_paid for r in redemption_queue(pool=pool)), Decimal(0))
    buffer = (pool.cash_buffer_rate * max(nav.net_assets, Decimal(0))).quantize(
        minor_unit(pool.currency), rounding=ROUND_UP
    ) + amount_for_shares(
        queued,
        net_assets=nav.net_assets,
        shares_outstanding=pool.shares_outstanding,
        currency=pool.currency,
    )
    invoice = listing.invoice
    return pool_allocation_amount(
        advance=listing.advance_amount,
        max_listing_share=pool.max_listing_share,
        remaining=remaining,
        min_ticket=listing.min_ticket,
        cash=nav.cash,
        buffer=buffer,
        debtor_exposure=investor_debtor_exposure(
            investor_id=pool.account_id, currency=pool.currency, debtor_key=invoice.debtor_key
        ),
        max_debtor_exposure=pool.max_debtor_exposure,
        seller_exposure=investor_seller_exposure(
            investor_id=pool.account_id, currency=pool.currency, seller_id=invoice.seller_id
        ),
        max_seller_exposure=pool.max_seller_exposure,
        currency=pool.currency,
    )


def auto_invest_listing(*, listing_id: int) -> list[AutoInvestLog]:
    """Run every matching auto-invest rule, and the pool of the listing's currency, on one
    open listing (the body of the task enqueued when a listing opens, and of the beat job for
    listings still open).

    The participants go in the fair order of :func:`_participants` (least recently served
    first: the order rotates across listings), each funding what
    :func:`~pools.allocation.auto_invest_amount` (a rule) or
    :func:`~pools.allocation.pool_allocation_amount` (the pool) allows, through
    :func:`marketplace.services.investment_create` in its own transaction; the run stops when
    the listing is full. A refusal of the funding service (someone else filled it, a
    concentration cap, a hold) is logged with its code and the run goes on.

    Safe to run twice, even at once: a participant that already invested in the listing is
    passed over, and the funding's key (:data:`AUTO_INVEST_KEY`) makes a concurrent second
    attempt a replay (or, with another amount, a refused reuse of the key), never a second
    investment.

    Returns:
        The log rows this run wrote (investments and skips).
    """
    listing = Listing.objects.select_related("invoice").get(pk=listing_id)
    invoice = listing.invoice
    if invoice.status != InvoiceStatus.LISTED or clock.now() >= listing.expires_at:
        return []
    key = AUTO_INVEST_KEY.format(listing=listing.public_id)
    participants = _participants(listing=listing, grade=invoice.risk_grade, today=clock.today())
    served = set(
        Investment.objects.filter(listing=listing, idempotency_key=key).values_list(
            "investor_id", flat=True
        )
    )
    logs: list[AutoInvestLog] = []
    for who in participants:
        if who.investor.pk in served:
            continue
        funded = Listing.objects.filter(pk=listing.pk).values_list("funded_amount", flat=True)
        remaining = listing.advance_amount - funded.get()
        if remaining <= 0:
            break
        if who.pool is not None:
            decision = _pool_decision(pool=who.pool, listing=listing, remaining=remaining)
        else:
            rule = who.rule
            decision = auto_invest_amount(
                per_invoice=rule.amount_per_invoice,
                remaining=remaining,
                min_ticket=listing.min_ticket,
                cash=investor_cash(investor=who.investor, currency=listing.currency),
                cash_to_keep=rule.cash_to_keep,
                debtor_exposure=investor_debtor_exposure(
                    investor_id=who.investor.pk,
                    currency=listing.currency,
                    debtor_key=invoice.debtor_key,
                ),
                max_per_debtor=rule.max_per_debtor,
            )
        if not decision.amount:
            log = _log_skip(who=who, listing=listing, reason=decision.reason)
        else:
            try:
                investment, _ = investment_create(
                    investor=who.investor,
                    listing=listing,
                    amount=decision.amount,
                    idempotency_key=key,
                    via=VIA_AUTO_INVEST,
                )
            except IdempotencyKeyReused:
                continue  # a concurrent run invested for this participant (another amount)
            except ApplicationError as exc:
                log = _log_skip(who=who, listing=listing, reason=exc.code)
            else:
                log = _log_investment(who=who, listing=listing, investment=investment)
        if log is not None:
            logs.append(log)
    return logs
