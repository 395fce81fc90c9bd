"""The net asset value of a liquidity pool and its share arithmetic: pure functions, no
database (the inputs are read from the ledger and the pool's investments by
:func:`pools.selectors.pool_nav_inputs`).

Net assets (currency units), the issue's formula::

    NAV = cash + outstanding principal + accrued discount fee - provisions - redemptions owed

* cash: the balance of the pool's cash account;
* outstanding principal: ``amount - principal_repaid`` of each active investment (in escrow
  while its listing is open, then with the seller);
* accrued discount fee: from the disbursement day to ``min(today, due date)``, simple
  interest ACT/365F at the investment's discount rate (``invoices.pricing.discount_fee_exact``,
  the pricing function), capped at the fee fixed at disbursement, less what was repaid of it;
  late interest is not counted until paid (conservative);
* provisions: ``rate[bucket] x (principal + accrued fee)``, the bucket being the invoice's
  aging bucket by days past due (current, 1-30, 31-60, 61-90) or ``default`` (90+ days,
  defaulted or written off); released when the invoice is paid (no outstanding, nothing
  provisioned);
* redemptions owed: amounts fixed for redemptions and not yet paid. Requests are in shares
  and are paid, at the day's NAV, in the same entry that fixes their amount, so this is 0
  today; the term is kept so that a later change cannot silently drop it.

Rounding (documented once, here): the net assets shown and recorded are rounded once to the
minor unit with :data:`paymint.core.money.MONEY_ROUNDING`; deposits and redemptions are priced
on the unrounded sum of the terms (``net_assets_exact``), never on that rounded figure. Shares
have 10 decimals; :data:`POOL_ROUNDING` (towards zero) is used for the two conversions, so each
favours the holders who stay: a deposit buys ``floor(amount x shares / net assets)`` shares, a
redemption pays ``floor(shares x net assets / shares)`` in minor units (both with the exact
ratio; the NAV per share, 10 decimals towards zero, is what is shown and recorded). Hence a
deposit or a redemption never lowers another holder's value, and raises it by less than one
minor unit. (Priced on the rounded net assets, a half-even rounding down of up to half a minor
unit would move that much from the holders who stay to the one who enters or leaves.)
Holders' values are the net assets split by shares with the largest-remainder method, so
they add up to the net assets exactly (the share register reconciles to the minor unit).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, localcontext

from invoices.pricing import accrual_days, aging_bucket, days_past_due, discount_fee_exact
from paymint.core.money import allocate, minor_unit, quantize_money

#: Share and payout conversions round towards zero: in favour of the holders who stay.
POOL_ROUNDING = ROUND_DOWN
#: Shares and NAV per share carry 10 decimals.
SHARE_QUANTUM = Decimal("0.0000000001")
#: The NAV per share of an empty pool (its first deposit buys one share per currency unit).
INITIAL_NAV_PER_SHARE = Decimal(1)
ZERO = Decimal(0)
#: Default provision rates by bucket (fractions of principal + accrued fee).
DEFAULT_PROVISION_RATES: Mapping[str, Decimal] = {
    "current": Decimal("0"),
    "1-30": Decimal("0.10"),
    "31-60": Decimal("0.25"),
    "61-90": Decimal("0.50"),
    "default": Decimal("1"),
}


@dataclass(frozen=True, slots=True)
class Position:
    """One of the pool's active investments, as NAV needs it. Amounts in the pool's currency;
    ``discount_rate`` annual (fraction, ACT/365F); ``discount_fee`` fixed at disbursement
    (None before); ``defaulted`` for a defaulted or written-off invoice."""

    principal: Decimal
    principal_repaid: Decimal
    discount_rate: Decimal
    discount_fee: Decimal | None
    fee_repaid: Decimal
    disbursed_on: dt.date | None
    due_date: dt.date
    defaulted: bool = False
    grade: str = ""
    debtor_key: str = ""


@dataclass(frozen=True, slots=True)
class PositionValue:
    principal: Decimal
    accrued_fee: Decimal
    provision: Decimal
    bucket: str


@dataclass(frozen=True, slots=True)
class NavBreakdown:
    """Each term of the formula (unrounded but ``net_assets``, rounded once), the shares and
    the NAV per share (10 decimals). ``net_assets_exact``: the terms' unrounded sum, the price
    of deposits and redemptions (:func:`shares_for_amount`, :func:`amount_for_shares`)."""

    cash: Decimal
    principal: Decimal
    accrued_fee: Decimal
    provisions: Decimal
    redemptions_owed: Decimal
    net_assets: Decimal
    shares_outstanding: Decimal
    nav_per_share: Decimal
    net_assets_exact: Decimal
    by_bucket: dict[str, Decimal] = field(default_factory=dict)


def provision_bucket(position: Position, today: dt.date) -> str:
    """``default`` for a defaulted invoice or 90+ days past due, else its aging bucket."""
    if position.defaulted:
        return "default"
    bucket = aging_bucket(days_past_due(position.due_date, today))
    return "default" if bucket == "90+" else bucket


def position_value(
    position: Position, today: dt.date, provision_rates: Mapping[str, Decimal]
) -> PositionValue:
    """Outstanding principal, accrued discount fee and provision of one investment (exact)."""
    principal = position.principal - position.principal_repaid
    accrued = ZERO
    if position.disbursed_on is not None and position.discount_fee is not None:
        if today >= position.due_date:
            earned = position.discount_fee  # all of it, as fixed (rounded) at disbursement
        else:
            days = accrual_days(position.disbursed_on, today)
            earned = min(
                discount_fee_exact(position.principal, position.discount_rate, days),
                position.discount_fee,
            )
        accrued = max(earned - position.fee_repaid, ZERO)
    bucket = provision_bucket(position, today)
    provision = Decimal(provision_rates.get(bucket, ZERO)) * (principal + accrued)
    return PositionValue(principal, accrued, provision, bucket)


def nav_per_share(net_assets: Decimal, shares: Decimal) -> Decimal:
    """Net assets per share, 10 decimals (:data:`INITIAL_NAV_PER_SHARE` with no shares)."""
    if shares <= 0:
        return INITIAL_NAV_PER_SHARE
    with localcontext() as ctx:
        ctx.prec = 50
        return (net_assets / shares).quantize(SHARE_QUANTUM, rounding=POOL_ROUNDING)


def net_asset_value(
    *,
    currency: str,
    cash: Decimal,
    positions: Sequence[Position],
    shares_outstanding: Decimal,
    today: dt.date,
    provision_rates: Mapping[str, Decimal] = DEFAULT_PROVISION_RATES,
    redemptions_owed: Decimal = ZERO,
) -> NavBreakdown:
    """The pool's NAV on ``today`` (see the module docstring for the formula and rounding)."""
    principal = accrued = provisions = ZERO
    by_bucket: dict[str, Decimal] = {}
    for position in positions:
        value = position_value(position, today, provision_rates)
        principal += value.principal
        accrued += value.accrued_fee
        provisions += value.provision
        by_bucket[value.bucket] = by_bucket.get(value.bucket, ZERO) + value.principal
    exact = cash + principal + accrued - provisions - redemptions_owed
    net = quantize_money(exact, currency)
    return NavBreakdown(
        cash=cash,
        principal=principal,
        accrued_fee=accrued,
        provisions=provisions,
        redemptions_owed=redemptions_owed,
        net_assets=net,
        shares_outstanding=shares_outstanding,
        nav_per_share=nav_per_share(net, shares_outstanding),
        net_assets_exact=exact,
        by_bucket=by_bucket,
    )


def shares_for_amount(
    amount: Decimal, *, net_assets: Decimal, shares_outstanding: Decimal
) -> Decimal:
    """Shares a deposit of ``amount`` buys: ``amount x shares / net assets`` (the exact NAV
    per share, not the 10-decimal one shown), towards zero to 10 decimals; one share per
    currency unit in an empty pool.

    Raises:
        ZeroDivisionError: the pool has shares but no net assets (a deposit must be refused).
    """
    with localcontext() as ctx:
        ctx.prec = 50
        if shares_outstanding <= 0:
            exact = amount / INITIAL_NAV_PER_SHARE
        elif net_assets <= 0:
            raise ZeroDivisionError("the pool has shares but no net assets")
        else:
            exact = amount * shares_outstanding / net_assets
        return exact.quantize(SHARE_QUANTUM, rounding=POOL_ROUNDING)


def amount_for_shares(
    shares: Decimal, *, net_assets: Decimal, shares_outstanding: Decimal, currency: str
) -> Decimal:
    """What redeeming ``shares`` pays: ``shares x net assets / shares outstanding`` (exact
    NAV per share), towards zero to the currency's minor unit (0 for an empty pool)."""
    if shares_outstanding <= 0 or net_assets <= 0:
        return ZERO
    with localcontext() as ctx:
        ctx.prec = 50
        exact = shares * net_assets / shares_outstanding
        return exact.quantize(minor_unit(currency), rounding=POOL_ROUNDING)


def holder_values(net_assets: Decimal, holdings: Mapping, currency: str) -> dict:
    """Each holder's value: ``net_assets`` split by shares, largest remainder (sums exactly to
    ``net_assets``). ``holdings``: ``{holder: shares}``, in a stable order."""
    positive = {k: v for k, v in holdings.items() if v > 0}
    if not positive:
        return dict.fromkeys(holdings, ZERO)
    values = allocate(net_assets, positive, currency)
    return {k: values.get(k, ZERO) for k in holdings}


def annualised(start_value: Decimal, end_value: Decimal, days: int) -> Decimal | None:
    """The annual yield of going from ``start_value`` to ``end_value`` (NAV per share) in
    ``days``: ``(end / start) ** (365 / days) - 1`` (compound, ACT/365F; a fraction).
    None without a start or a period."""
    if days <= 0 or start_value <= 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 28
        growth = end_value / start_value
        return (growth ** (Decimal(365) / Decimal(days)) - 1).quantize(Decimal("0.000001"))


def projected_value(amount: Decimal, annual_yield: Decimal, days: int, currency: str) -> Decimal:
    """An estimate, not a promise: ``amount x (1 + yield) ** (days / 365)`` (ACT/365F),
    rounded once."""
    with localcontext() as ctx:
        ctx.prec = 28
        growth = (1 + annual_yield) ** (Decimal(days) / Decimal(365)) if days > 0 else 1
        return quantize_money(amount * growth, currency)
