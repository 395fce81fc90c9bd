"""Reads of passive investing, with their ownership checks."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import F, Q, QuerySet, Sum

from invoices.enums import InvoiceStatus
from marketplace.enums import InvestmentStatus
from marketplace.models import Investment, Listing
from paymint.core import clock
from paymint.core.errors import NotFound
from paymint.core.money import quantize_money
from settlements.ledger import exact_sum, wallet_balances

from .enums import RedemptionStatus
from .error_codes import PoolsError
from .models import (
    AutoInvestLog,
    AutoInvestRule,
    NavSnapshot,
    Pool,
    PoolHolding,
    RedemptionRequest,
)
from .nav import (
    INITIAL_NAV_PER_SHARE,
    NavBreakdown,
    amount_for_shares,
    annualised,
    holder_values,
    net_asset_value,
    position_value,
    projected_value,
)
from .nav import Position as NavPosition

ZERO = Decimal(0)
#: Invoices whose investments are provisioned in full (the ``default`` bucket).
DEFAULTED_STATUSES = frozenset({InvoiceStatus.DEFAULTED, InvoiceStatus.WRITTEN_OFF})


def auto_invest_rule_get_for_investor(*, investor) -> AutoInvestRule:
    """The investor's own auto-invest rule.

    Raises:
        NotFound: ``AUTO_INVEST_RULE_NOT_FOUND`` (none set yet).
    """
    rule = AutoInvestRule.objects.filter(investor=investor).first()
    if rule is None:
        raise NotFound(
            "You have no auto-invest rule yet.", code=PoolsError.AUTO_INVEST_RULE_NOT_FOUND
        )
    return rule


def auto_invest_log_for_investor(*, investor) -> QuerySet[AutoInvestLog]:
    """What the investor's rule did, newest first, with the listing, its invoice and the
    investment (its stored quote) joined: a constant number of queries per page."""
    return (
        AutoInvestLog.objects.filter(investor=investor)
        .select_related("listing__invoice", "investment")
        .order_by("-created_at", "-id")
    )


def auto_invest_rules_for_listing(
    *, listing: Listing, grade: str, today: dt.date
) -> list[AutoInvestRule]:
    """The active rules a listing matches (currency, grade, tenor in days from ``today`` to
    the due date, discount rate at least the rule's minimum), the seller's own excluded, in
    the fair order: the rule that invested least recently first (never-served first), then
    the oldest rule. Serving a rule moves it to the back, so the order rotates.

    On PostgreSQL the currency and grade lists are matched in the query (JSON containment);
    SQLite - the embedded default of ``make demo`` - has no JSON containment, so there the
    rules that pass the other conditions are matched in Python, with the same result."""
    tenor = (listing.due_date - today).days
    rules = (
        AutoInvestRule.objects.filter(
            paused=False,
            min_tenor_days__lte=tenor,
            max_tenor_days__gte=tenor,
            min_discount_rate__lte=listing.discount_rate,
        )
        .exclude(investor_id=listing.invoice.seller_id)
        .select_related("investor")
        .order_by(F("last_invested_at").asc(nulls_first=True), "id")
    )
    if connection.features.supports_json_field_contains:
        return list(rules.filter(currencies__contains=[listing.currency], grades__contains=[grade]))
    return [rule for rule in rules if listing.currency in rule.currencies and grade in rule.grades]


def investor_debtor_exposure(*, investor_id: int, currency: str, debtor_key: str) -> Decimal:
    """The investor's outstanding principal on one debtor (active investments, ``currency``),
    the sum the funding service's concentration check reads."""
    total = Investment.objects.filter(
        Q(listing__invoice__debtor_key=debtor_key),
        investor_id=investor_id,
        status=InvestmentStatus.ACTIVE,
        currency=currency,
    ).aggregate(total=Sum(F("amount") - F("principal_repaid")))["total"]
    return exact_sum(total)


def investor_seller_exposure(*, investor_id: int, currency: str, seller_id: int) -> Decimal:
    """The investor's outstanding principal on one seller's invoices (active investments)."""
    total = Investment.objects.filter(
        investor_id=investor_id,
        status=InvestmentStatus.ACTIVE,
        currency=currency,
        listing__invoice__seller_id=seller_id,
    ).aggregate(total=Sum(F("amount") - F("principal_repaid")))["total"]
    return exact_sum(total)


def investor_cash(*, investor, currency: str) -> Decimal:
    """The investor's cash balance in ``currency`` (0 without an account)."""
    return next(
        (row["balance"] for row in wallet_balances(user=investor) if row["currency"] == currency),
        Decimal(0),
    )


def listing_ids_open() -> list[int]:
    """Ids of the listings open for funding now (listed, not expired), oldest first."""
    return list(
        Listing.objects.filter(invoice__status=InvoiceStatus.LISTED, expires_at__gt=clock.now())
        .order_by("listed_at", "id")
        .values_list("pk", flat=True)
    )


# --- Liquidity pools ---------------------------------------------------------------------


def pool_get(*, pool_id) -> Pool:
    """A pool by its public id (every signed-in investor may read a pool's figures).

    Raises:
        NotFound: ``POOL_NOT_FOUND`` (also for a malformed id).
    """
    pool = Pool.objects.filter(public_id=pool_id).first() if _is_uuid(pool_id) else None
    if pool is None:
        raise NotFound("No such pool.", code=PoolsError.POOL_NOT_FOUND)
    return pool


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def pool_list() -> QuerySet[Pool]:
    """Every pool, newest first."""
    return Pool.objects.order_by("-created_at", "-id")


def pool_for_currency(*, currency: str) -> Pool | None:
    return Pool.objects.filter(currency=currency).select_related("account").first()


def pool_holdings(*, pool: Pool, today: dt.date | None = None) -> list[dict]:
    """The pool's active investments as the back office reads them, each valued as the NAV
    values it (:func:`pools.nav.position_value`): invoice number, debtor, grade, due date,
    outstanding principal, accrued discount fee, days-past-due bucket and provision (money in
    the pool's currency, rounded for display only; the NAV sums the exact figures). One
    query."""
    today = today or clock.today()
    rates = settings.PAYMINT["POOL_PROVISION_RATES"]
    rows = []
    for row in _active_investments(pool).values(
        *_POSITION_FIELDS, "listing__invoice__invoice_number", "listing__invoice__debtor_name"
    ):
        position = _as_position(row)
        value = position_value(position, today, rates)
        rows.append(
            {
                "invoice_number": row["listing__invoice__invoice_number"],
                "debtor": row["listing__invoice__debtor_name"],
                "grade": position.grade,
                "due_date": position.due_date,
                "principal": quantize_money(value.principal, pool.currency),
                "accrued_fee": quantize_money(value.accrued_fee, pool.currency),
                "bucket": value.bucket,
                "provision": quantize_money(value.provision, pool.currency),
            }
        )
    return rows


_POSITION_FIELDS = (
    "amount",
    "principal_repaid",
    "discount_rate",
    "discount_fee",
    "fee_repaid",
    "listing__disbursed_on",
    "listing__due_date",
    "listing__invoice__status",
    "listing__invoice__risk_grade",
    "listing__invoice__debtor_key",
)


def _active_investments(pool: Pool) -> QuerySet[Investment]:
    return Investment.objects.filter(
        investor_id=pool.account_id, status=InvestmentStatus.ACTIVE
    ).order_by("id")


def _as_position(row: dict) -> NavPosition:
    return NavPosition(
        principal=row["amount"],
        principal_repaid=row["principal_repaid"],
        discount_rate=row["discount_rate"],
        discount_fee=row["discount_fee"],
        fee_repaid=row["fee_repaid"],
        disbursed_on=row["listing__disbursed_on"],
        due_date=row["listing__due_date"],
        defaulted=row["listing__invoice__status"] in DEFAULTED_STATUSES,
        grade=row["listing__invoice__risk_grade"],
        debtor_key=row["listing__invoice__debtor_key"],
    )


def pool_positions(*, pool: Pool) -> list[NavPosition]:
    """The pool's active investments as :class:`pools.nav.Position` rows (one query)."""
    return [_as_position(row) for row in _active_investments(pool).values(*_POSITION_FIELDS)]


def pool_nav(*, pool: Pool, today: dt.date | None = None) -> NavBreakdown:
    """The pool's NAV now (a pure function of the ledger: its cash account's balance, its
    investments and the register's total; :func:`pools.nav.net_asset_value`)."""
    return net_asset_value(
        currency=pool.currency,
        cash=investor_cash(investor=pool.account, currency=pool.currency),
        positions=pool_positions(pool=pool),
        shares_outstanding=pool.shares_outstanding,
        today=today or clock.today(),
        provision_rates=settings.PAYMINT["POOL_PROVISION_RATES"],
    )


def redemption_queue(*, pool: Pool) -> QuerySet[RedemptionRequest]:
    """Queued redemption requests, first in first out."""
    return RedemptionRequest.objects.filter(pool=pool, status=RedemptionStatus.QUEUED).order_by(
        "created_at", "id"
    )


def redemption_get_for_investor(*, investor, pool: Pool, redemption_id) -> RedemptionRequest:
    """The investor's own redemption request in ``pool``.

    Raises:
        NotFound: ``REDEMPTION_NOT_FOUND`` (someone else's, or none).
    """
    found = (
        RedemptionRequest.objects.filter(
            pool=pool, investor=investor, public_id=redemption_id
        ).first()
        if _is_uuid(redemption_id)
        else None
    )
    if found is None:
        raise NotFound("No such redemption request.", code=PoolsError.REDEMPTION_NOT_FOUND)
    return found


def pool_holding(*, pool: Pool, investor) -> PoolHolding | None:
    return PoolHolding.objects.filter(pool=pool, investor=investor).first()


def pool_position(*, pool: Pool, investor, nav: NavBreakdown | None = None) -> dict:
    """The investor's position: shares, value (their largest-remainder part of the net
    assets), what the shares cost (``invested``), gain, and each queued redemption with its
    place in the queue, the shares ahead of it and an estimate of its payout at today's NAV
    (an estimate: it is paid at the NAV of the day it is paid)."""
    nav = nav or pool_nav(pool=pool)
    register = dict(
        PoolHolding.objects.filter(pool=pool).order_by("id").values_list("investor_id", "shares")
    )
    values = holder_values(nav.net_assets, register, pool.currency) if register else {}
    holding = register.get(investor.pk, ZERO)
    value = values.get(investor.pk, ZERO)
    own = pool_holding(pool=pool, investor=investor)
    invested = quantize_money(own.invested, pool.currency) if own else ZERO
    queue = []
    ahead = ZERO
    for place, request in enumerate(redemption_queue(pool=pool), start=1):
        if request.investor_id == investor.pk:
            queue.append(
                {
                    "id": request.public_id,
                    "place": place,
                    "shares": request.shares_left,
                    "shares_ahead": ahead,
                    "payable_from": request.payable_from,
                    "estimate": amount_for_shares(
                        request.shares_left,
                        net_assets=nav.net_assets_exact,
                        shares_outstanding=nav.shares_outstanding,
                        currency=pool.currency,
                    ),
                }
            )
        ahead += request.shares_left
    return {
        "shares": holding,
        "value": value,
        "invested": invested,
        "gain": value - invested if own else ZERO,
        "nav_per_share": nav.nav_per_share,
        "currency": pool.currency,
        "redemptions": queue,
    }


def pool_nav_history(*, pool: Pool) -> QuerySet[NavSnapshot]:
    return NavSnapshot.objects.filter(pool=pool).order_by("date")


#: The APY and forward-yield formulas, as shown to investors with the figures.
APY_FORMULA = (
    "(NAV per share today / NAV per share at the start) ** (365 / days) - 1, compound, ACT/365F"
)
FORWARD_YIELD_FORMULA = (
    "utilisation x (weighted discount rate of the outstanding investments "
    "- weighted probability of default of their grades), weights = "
    "outstanding principal; annual, ACT/365F"
)


def pool_stats(*, pool: Pool, today: dt.date | None = None) -> dict:
    """A pool's figures: NAV (each term), NAV per share, APY over the trailing 30 days (from
    the stored NAV of 30 days ago, or the nearest earlier day) and since inception (from 1),
    the forward yield, utilisation, outstanding principal by grade and by aging bucket, the
    realised default rate (principal of the pool's investments in defaulted or written-off
    invoices / principal it ever funded), the redemption queue. Rates are annual fractions;
    formulas in :data:`APY_FORMULA` and :data:`FORWARD_YIELD_FORMULA`."""
    today = today or clock.today()
    nav = pool_nav(pool=pool, today=today)
    positions = pool_positions(pool=pool)
    past = (
        NavSnapshot.objects.filter(pool=pool, date__lte=today - dt.timedelta(days=30))
        .order_by("-date")
        .first()
    )
    apy_30d = (
        annualised(past.nav_per_share, nav.nav_per_share, (today - past.date).days)
        if past
        else None
    )
    apy_inception = annualised(
        INITIAL_NAV_PER_SHARE, nav.nav_per_share, (today - pool.inception_date).days
    )
    by_grade: dict[str, Decimal] = {}
    weighted_rate = weighted_pd = ZERO
    pd = settings.PAYMINT["GRADE_PD"]
    for p in positions:
        outstanding = p.principal - p.principal_repaid
        by_grade[p.grade] = by_grade.get(p.grade, ZERO) + outstanding
        weighted_rate += outstanding * p.discount_rate
        weighted_pd += outstanding * Decimal(pd.get(p.grade, 0))
    invested = nav.principal
    total = nav.cash + invested
    utilisation = (invested / total).quantize(Decimal("0.000001")) if total > 0 else ZERO
    forward = (
        (utilisation * (weighted_rate - weighted_pd) / invested).quantize(Decimal("0.000001"))
        if invested > 0
        else ZERO
    )
    funded = Investment.objects.filter(investor_id=pool.account_id).exclude(
        status=InvestmentStatus.REFUNDED
    )
    ever = exact_sum(funded.aggregate(total=Sum("amount"))["total"])
    lost = exact_sum(
        funded.filter(listing__invoice__status__in=DEFAULTED_STATUSES).aggregate(
            total=Sum("amount")
        )["total"]
    )
    queue = list(redemption_queue(pool=pool))
    queued_shares = sum((r.shares - r.shares_paid for r in queue), ZERO)
    return {
        "nav": nav,
        "apy_30d": apy_30d,
        "apy_since_inception": apy_inception,
        "apy_formula": APY_FORMULA,
        "forward_yield": forward,
        "forward_yield_formula": FORWARD_YIELD_FORMULA,
        "day_count": "ACT/365F",
        "utilisation": utilisation,
        "outstanding_by_grade": {
            k: str(quantize_money(v, pool.currency)) for k, v in sorted(by_grade.items())
        },
        "outstanding_by_bucket": {
            k: str(quantize_money(v, pool.currency)) for k, v in nav.by_bucket.items()
        },
        "realised_default_rate": (lost / ever).quantize(Decimal("0.000001")) if ever else ZERO,
        "redemption_queue": {
            "requests": len(queue),
            "shares": queued_shares,
            "estimated_value": amount_for_shares(
                queued_shares,
                net_assets=nav.net_assets_exact,
                shares_outstanding=pool.shares_outstanding,
                currency=pool.currency,
            ),
        },
    }


def pool_quote(*, pool: Pool, amount: Decimal, days: int) -> dict:
    """What ``amount`` deposited today might be worth after ``days``, at the pool's forward
    yield (annual, compounded ACT/365F). An estimate, not a promise: the NAV moves with
    repayments, late payments and defaults."""
    stats = pool_stats(pool=pool)
    return {
        "amount": amount,
        "days": days,
        "currency": pool.currency,
        "annual_yield": stats["forward_yield"],
        "projected_value": projected_value(amount, stats["forward_yield"], days, pool.currency),
        "estimate": True,
        "label": "Estimate at the pool's current forward yield - not a promise; the value "
        "moves with repayments, late payments and defaults.",
        "formula": "amount x (1 + forward yield) ** (days / 365)",
    }


def pool_positions_of(*, investor) -> list[tuple[Pool, dict]]:
    """``(pool, position)`` for each pool in which ``investor`` holds shares or has a queued
    redemption (the dashboard's summary; :func:`pool_position` for each)."""
    pool_ids = set(
        PoolHolding.objects.filter(investor=investor, shares__gt=0).values_list(
            "pool_id", flat=True
        )
    )
    return [
        (pool, pool_position(pool=pool, investor=investor))
        for pool in Pool.objects.filter(pk__in=pool_ids)
        .select_related("account")
        .order_by("currency")
    ]
