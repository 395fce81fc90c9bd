"""Auto-invest: an investor's standing rule funds matching listings when they open.

Each automatic investment goes through :func:`marketplace.services.investment_create`, the
funding service every investor uses, so its guarantees hold unchanged: the listing and
account locks (no overfunding, no negative wallet), the minimum ticket, the concentration
caps, the compliance hold and KYC checks. Its ``Idempotency-Key`` is
:data:`AUTO_INVEST_KEY` of the listing: a second run (the task retried, the beat job, two
workers at once) replays the first investment instead of making another.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.enums import Role
from accounts.error_codes import AccountsError
from accounts.selectors import kyc_is_approved
from invoices.enums import InvoiceStatus
from marketplace.error_codes import MarketplaceError
from marketplace.models import Investment, Listing
from marketplace.services import investment_create
from paymint.core import clock
from paymint.core.errors import ApplicationError, PermissionDenied, ValidationFailed
from paymint.core.events import EventName, event_emit
from paymint.core.idempotency import IdempotencyKeyReused
from paymint.core.money import parse_money_amount, quantize_money

from ..allocation import auto_invest_amount
from ..enums import AutoInvestOutcome
from ..error_codes import PoolsError
from ..models import AutoInvestLog, AutoInvestRule
from ..selectors import auto_invest_rules_for_listing, investor_cash, investor_debtor_exposure

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


def _snapshot(rule: AutoInvestRule) -> dict:
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


def _log_skip(*, rule: AutoInvestRule, listing: Listing, reason: str) -> AutoInvestLog | None:
    """Record why ``rule`` did not fund ``listing``; never over an investment's log row."""
    fields = {
        "rule": rule,
        "reason": str(reason)[:60],
        "amount": None,
        "currency": listing.currency,
        "rule_snapshot": _snapshot(rule),
    }
    rows = AutoInvestLog.objects.filter(
        investor_id=rule.investor_id, listing=listing, outcome=AutoInvestOutcome.SKIPPED
    )
    if rows.update(**fields, updated_at=timezone.now()):
        return rows.first()
    try:
        with transaction.atomic():
            return AutoInvestLog.objects.create(
                investor_id=rule.investor_id,
                listing=listing,
                outcome=AutoInvestOutcome.SKIPPED,
                **fields,
            )
    except IntegrityError:
        return None  # a concurrent run logged first (its investment, or the same skip)


def _log_investment(
    *, rule: AutoInvestRule, listing: Listing, investment: Investment
) -> AutoInvestLog:
    """Log the investment with the rule that made it, move the rule to the back of the fair
    order and tell the investor (a domain event, dispatched after commit), in one
    transaction; a second call changes nothing and tells nobody twice."""
    with transaction.atomic():
        log, _ = AutoInvestLog.objects.update_or_create(
            investor_id=rule.investor_id,
            listing=listing,
            defaults={
                "rule": rule,
                "investment": investment,
                "outcome": AutoInvestOutcome.INVESTED,
                "reason": "",
                "amount": investment.amount,
                "currency": investment.currency,
                "rule_snapshot": _snapshot(rule),
            },
        )
        AutoInvestRule.objects.filter(pk=rule.pk).update(last_invested_at=timezone.now())
        event_emit(
            name=EventName.AUTO_INVESTMENT_MADE,
            key=f"auto_invest.invested:{investment.public_id}",
            recipients={
                rule.investor_id: {
                    "investment_id": str(investment.public_id),
                    "amount": f"{investment.amount:.2f}",
                    "currency": investment.currency,
                    "expected_return": f"{investment.expected_return:.2f}",
                    "invoice_number": listing.invoice.invoice_number,
                }
            },
            data={"listing_id": str(listing.public_id)},
        )
    return log


def auto_invest_listing(*, listing_id: int) -> list[AutoInvestLog]:
    """Run every matching auto-invest rule on one open listing (the body of the task enqueued
    when a listing opens, and of the beat job for listings still open).

    The rules go in the fair order of :func:`~pools.selectors.auto_invest_rules_for_listing`
    (least recently served first), each funding
    :func:`~pools.allocation.auto_invest_amount` through
    :func:`marketplace.services.investment_create` in its own transaction; the run stops when
    the listing is full. A refusal of the funding service (someone else filled it, the
    investor's concentration cap, a hold) is logged with its code and the run goes on.

    Safe to run twice, even at once: a rule that already invested in the listing is passed
    over, and the funding's key (:data:`AUTO_INVEST_KEY`) makes a concurrent second attempt
    a replay (or, with another amount, a refused reuse of the key), never a second investment.

    Returns:
        The log rows this run wrote (investments and skips).
    """
    listing = Listing.objects.select_related("invoice").get(pk=listing_id)
    invoice = listing.invoice
    if invoice.status != InvoiceStatus.LISTED or clock.now() >= listing.expires_at:
        return []
    key = AUTO_INVEST_KEY.format(listing=listing.public_id)
    rules = list(
        auto_invest_rules_for_listing(
            listing=listing, grade=invoice.risk_grade, today=clock.today()
        )
    )
    served = set(
        Investment.objects.filter(listing=listing, idempotency_key=key).values_list(
            "investor_id", flat=True
        )
    )
    logs: list[AutoInvestLog] = []
    for rule in rules:
        if rule.investor_id in served:
            continue
        funded = Listing.objects.filter(pk=listing.pk).values_list("funded_amount", flat=True)
        remaining = listing.advance_amount - funded.get()
        if remaining <= 0:
            break
        decision = auto_invest_amount(
            per_invoice=rule.amount_per_invoice,
            remaining=remaining,
            min_ticket=listing.min_ticket,
            cash=investor_cash(investor=rule.investor, currency=listing.currency),
            cash_to_keep=rule.cash_to_keep,
            debtor_exposure=investor_debtor_exposure(
                investor_id=rule.investor_id,
                currency=listing.currency,
                debtor_key=invoice.debtor_key,
            ),
            max_per_debtor=rule.max_per_debtor,
        )
        if not decision.amount:
            log = _log_skip(rule=rule, listing=listing, reason=decision.reason)
        else:
            try:
                investment, _ = investment_create(
                    investor=rule.investor,
                    listing=listing,
                    amount=decision.amount,
                    idempotency_key=key,
                )
            except IdempotencyKeyReused:
                continue  # a concurrent run invested for this rule (another amount)
            except ApplicationError as exc:
                log = _log_skip(rule=rule, listing=listing, reason=exc.code)
            else:
                log = _log_investment(rule=rule, listing=listing, investment=investment)
        if log is not None:
            logs.append(log)
    return logs
