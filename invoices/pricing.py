"""Pricing of an invoice advance: pure functions, no database, no I/O.

Conventions (used everywhere in PayMint):

* Amounts are ``Decimal`` in the invoice currency's major unit; results are rounded once, at the
  end, with :func:`paymint.core.money.quantize_money` (round half to even, minor unit).
* Rates are fractions: ``advance_rate`` of face value (0 < r <= 1); ``discount_rate`` per year;
  ``platform_fee_rate`` of the advance amount, taken once at disbursement.
* **Investor discount fees are rounded per investment** (:func:`investment_discount_fee`): each
  investment's fee is its own principal x rate x days / 365, rounded once with
  ``quantize_money``, and the invoice's discount fee is the *sum* of its investments' fees
  (never rounded on its own and split). The quote an investor accepts is computed with the same
  function, so a listing disbursed on the day of the quote pays each investor exactly the
  quoted return when the debtor pays in full on time; disbursed later, it pays the fee for the
  fewer days (rounding is monotonic: never more than quoted). The seller's discount fee is then
  within half a minor unit per investor of the invoice-level figure.
* Day count for the discount fee: **ACT/365 Fixed** (ISDA 2006 section 4.16(d)): actual days from
  the disbursement date (inclusive) to the due date (exclusive) divided by 365. This is the
  convention of the factoring agreements PayMint follows: fee = principal x rate x days / 365.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from paymint.core.money import quantize_money


class DayCount(StrEnum):
    """Day-count conventions. Only ACT/365 Fixed is used for discount fees today."""

    ACT_365_FIXED = "ACT/365F"
    ACT_360 = "ACT/360"

    @property
    def year_days(self) -> int:
        return 365 if self is DayCount.ACT_365_FIXED else 360


def accrual_days(start: dt.date, end: dt.date) -> int:
    """Actual days from ``start`` to ``end`` (0 when ``end`` is not after ``start``)."""
    return max((end - start).days, 0)


def discount_fee_exact(
    principal: Decimal, annual_rate: Decimal, days: int,
    day_count: DayCount = DayCount.ACT_365_FIXED,
) -> Decimal:
    """Unrounded discount fee: ``principal x annual_rate x days / year_days``."""
    return principal * annual_rate * Decimal(days) / Decimal(day_count.year_days)


def discount_fee(
    principal: Decimal, annual_rate: Decimal, days: int, currency: str,
    day_count: DayCount = DayCount.ACT_365_FIXED,
) -> Decimal:
    """Discount fee rounded to the currency's minor unit (see :func:`discount_fee_exact`)."""
    return quantize_money(discount_fee_exact(principal, annual_rate, days, day_count), currency)


def late_interest_exact(
    outstanding: Decimal, annual_rate: Decimal, days: int,
    day_count: DayCount = DayCount.ACT_365_FIXED,
) -> Decimal:
    """Unrounded late interest on ``outstanding`` for ``days`` at ``annual_rate`` (simple
    interest, ACT/365F). Accrued daily by the aging job and rounded once, when claimed."""
    if days <= 0 or outstanding <= 0:
        return Decimal(0)
    return outstanding * annual_rate * Decimal(days) / Decimal(day_count.year_days)


def advance_amount(face_value: Decimal, advance_rate: Decimal, currency: str) -> Decimal:
    """Advance amount = advance rate x face value, rounded to the minor unit.

    Raises:
        ValueError: ``advance_rate`` outside (0, 1] or a non-positive face value.
    """
    if not (0 < advance_rate <= 1):
        raise ValueError("advance_rate must be in (0, 1]")
    if face_value <= 0:
        raise ValueError("face_value must be positive")
    return quantize_money(face_value * advance_rate, currency)


def platform_fee(advance: Decimal, fee_rate: Decimal, currency: str) -> Decimal:
    """Platform fee = fee rate x advance amount, rounded; taken at disbursement."""
    if fee_rate < 0:
        raise ValueError("fee_rate must be non-negative")
    return quantize_money(advance * fee_rate, currency)


@dataclass(frozen=True, slots=True)
class Offer:
    """What the seller is offered for an invoice (all amounts in ``currency``).

    ``estimated_discount_fee`` assumes disbursement on ``start``; the fee actually charged uses
    the real disbursement date. ``estimated_reserve`` is what returns to the seller at settlement
    if the debtor pays the face value: face value - advance - discount fee.
    """

    currency: str
    face_value: Decimal
    advance_rate: Decimal
    advance_amount: Decimal
    discount_rate: Decimal
    platform_fee_rate: Decimal
    platform_fee: Decimal
    net_advance: Decimal
    days: int
    estimated_discount_fee: Decimal
    estimated_reserve: Decimal


def invoice_offer(
    *,
    face_value: Decimal,
    currency: str,
    advance_rate: Decimal,
    discount_rate: Decimal,
    platform_fee_rate: Decimal,
    start: dt.date,
    due_date: dt.date,
) -> Offer:
    """The seller's offer for an invoice funded on ``start`` and due on ``due_date``."""
    advance = advance_amount(face_value, advance_rate, currency)
    fee = platform_fee(advance, platform_fee_rate, currency)
    days = accrual_days(start, due_date)
    dfee = discount_fee(advance, discount_rate, days, currency)
    return Offer(
        currency=currency,
        face_value=face_value,
        advance_rate=advance_rate,
        advance_amount=advance,
        discount_rate=discount_rate,
        platform_fee_rate=platform_fee_rate,
        platform_fee=fee,
        net_advance=advance - fee,
        days=days,
        estimated_discount_fee=dfee,
        estimated_reserve=face_value - advance - dfee,
    )


def investment_discount_fee(
    principal: Decimal, annual_rate: Decimal, days: int, currency: str,
) -> Decimal:
    """One investment's discount fee: ``principal x annual_rate x days / 365`` (ACT/365F),
    rounded once to ``currency``'s minor unit (round half to even). The one rule of both the
    quote (:func:`investment_quote`) and the fee fixed at disbursement
    (``marketplace.services``), whose invoice-level total is the sum of these, so that quote
    and payout agree to the cent (see the module docstring)."""
    return discount_fee(principal, annual_rate, days, currency)


@dataclass(frozen=True, slots=True)
class InvestmentQuote:
    """The quote an investor accepts: principal, annual rate, expected days, fee and return
    (principal + discount fee) if the invoice is disbursed on ``start`` and repaid on its due
    date."""

    principal: Decimal
    currency: str
    discount_rate: Decimal
    days: int
    expected_discount_fee: Decimal
    expected_return: Decimal
    expected_repayment_date: dt.date


def investment_quote(
    *, principal: Decimal, currency: str, discount_rate: Decimal, start: dt.date,
    due_date: dt.date,
) -> InvestmentQuote:
    """Quote for funding ``principal`` of a listing at ``discount_rate`` (annual fraction,
    ACT/365F) from ``start`` to ``due_date``: the fee is :func:`investment_discount_fee`, the
    one the investor is paid if the listing is disbursed on ``start`` and the debtor pays in
    full on time (disbursed later: the fee for the actual days, never more)."""
    days = accrual_days(start, due_date)
    fee = investment_discount_fee(principal, discount_rate, days, currency)
    return InvestmentQuote(
        principal=principal,
        currency=currency,
        discount_rate=discount_rate,
        days=days,
        expected_discount_fee=fee,
        expected_return=principal + fee,
        expected_repayment_date=due_date,
    )


# --- Past the due date, and the listing window ------------------------------------------------

#: Aging buckets of days past due: (upper bound inclusive, label); above the last, "90+".
AGING_BUCKETS = ((0, "current"), (30, "1-30"), (60, "31-60"), (90, "61-90"))


def days_past_due(due_date: dt.date, today: dt.date) -> int:
    """Days past the due date (0 on or before it)."""
    return max((today - due_date).days, 0)


def aging_bucket(dpd: int) -> str:
    """Aging bucket of a days-past-due figure: current, 1-30, 31-60, 61-90, 90+."""
    for upper, label in AGING_BUCKETS:
        if dpd <= upper:
            return label
    return "90+"


def late_fee(*, face_value: Decimal, late_fee_rate: Decimal, currency: str) -> Decimal:
    """The platform's late fee, due once when an invoice goes overdue (past its grace period):
    ``late_fee_rate`` (fraction, fixed on the listing) x face value, rounded once."""
    return quantize_money(late_fee_rate * face_value, currency)


def listing_expiry(*, listed_at: dt.datetime, due_date: dt.date, listing_days: int,
                   min_tenor_days: int) -> dt.datetime:
    """When a listing that is not fully funded closes: ``listing_days`` after it was listed,
    but never later than ``min_tenor_days`` before the due date (midnight UTC), so that a
    funded invoice always has at least the minimum tenor left."""
    return min(
        listed_at + dt.timedelta(days=listing_days),
        dt.datetime.combine(due_date, dt.time.min, tzinfo=dt.UTC)
        - dt.timedelta(days=min_tenor_days),
    )
