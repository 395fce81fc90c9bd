"""Portfolio return maths (pure: no database, no I/O).

:func:`xirr` is the annualised internal rate of return of irregular, dated cash flows: the rate
``r`` at which their net present value is zero,

    NPV(r) = sum( cf_i / (1 + r) ** t_i ) = 0,   t_i = (d_i - d_0).days / 365   (ACT/365),

the same day count PayMint's pricing uses. Money out of the investor's pocket is negative,
money back is positive. It is solved with Newton's method from ``guess`` and, when Newton does
not converge (a flat derivative, a step outside ``r > -1``, or oscillation), by bisection over
a bracket where the NPV changes sign. All arithmetic is ``Decimal`` (34 significant digits).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, localcontext

DAYS_IN_YEAR = Decimal(365)
#: Rates are returned as fractions with 6 decimal places (``0.104873`` = 10.4873 % a year).
RATE_PLACES = Decimal("0.000001")
_TOLERANCE = Decimal("1e-12")
_MIN_RATE = Decimal("-0.999999")  # r must stay above -1 for (1 + r) ** t to be defined
_MAX_RATE = Decimal("1000000")  # beyond 100,000,000 % a year there is no useful answer


def xirr(
    cashflows: Iterable[tuple[dt.date, Decimal]],
    *,
    guess: Decimal = Decimal("0.1"),
    max_newton_steps: int = 50,
    max_bisection_steps: int = 300,
) -> Decimal | None:
    """The annual rate (fraction, 6 places) that makes the cash flows' NPV zero.

    Args:
        cashflows: ``(date, amount)`` pairs in any order; negative amounts are investments,
            positive ones are money received. Flows on the same day may repeat.
        guess: where Newton's method starts.

    Returns:
        The rate, or ``None`` when there is none to find: fewer than two dates, flows that are
        all of one sign (or zero), or a rate outside (-99.9999 %, 100,000,000 %).
    """
    flows = sorted((day, Decimal(amount)) for day, amount in cashflows if Decimal(amount) != 0)
    if not flows or flows[0][0] == flows[-1][0]:
        return None
    if all(a > 0 for _, a in flows) or all(a < 0 for _, a in flows):
        return None
    with localcontext() as ctx:
        ctx.prec = 34
        start = flows[0][0]
        points = [(Decimal((day - start).days) / DAYS_IN_YEAR, amount) for day, amount in flows]
        rate = _newton(points, Decimal(guess), max_newton_steps)
        if rate is None:
            rate = _bisection(points, max_bisection_steps)
        if rate is None:
            return None
    return rate.quantize(RATE_PLACES)


def _discount(rate: Decimal, years: Decimal) -> Decimal:
    """(1 + rate) ** -years, via exp/ln (Decimal powers with fractional exponents)."""
    return (-years * (1 + rate).ln()).exp()


def npv(points: list[tuple[Decimal, Decimal]], rate: Decimal) -> Decimal:
    """Net present value at ``rate`` of ``(years from the first flow, amount)`` points."""
    return sum((amount * _discount(rate, years) for years, amount in points), Decimal(0))


def _npv_derivative(points: list[tuple[Decimal, Decimal]], rate: Decimal) -> Decimal:
    return sum(
        (-years * amount * _discount(rate, years) / (1 + rate) for years, amount in points),
        Decimal(0),
    )


def _newton(points, rate: Decimal, steps: int) -> Decimal | None:
    for _ in range(steps):
        if rate <= _MIN_RATE or rate > _MAX_RATE:
            return None
        value = npv(points, rate)
        slope = _npv_derivative(points, rate)
        if slope == 0:
            return None
        step = value / slope
        rate -= step
        if abs(step) < _TOLERANCE:
            return rate if _MIN_RATE < rate <= _MAX_RATE else None
    return None


def _bisection(points, steps: int) -> Decimal | None:
    """Bisect between -99.9999 % and the first upper bound (doubling from 100 %) where the NPV
    has the opposite sign."""
    low, high = _MIN_RATE, Decimal(1)
    low_value = npv(points, low)
    while (low_value > 0) == (npv(points, high) > 0):
        high *= 2
        if high > _MAX_RATE:
            return None
    for _ in range(steps):
        middle = (low + high) / 2
        value = npv(points, middle)
        if value == 0 or (high - low) / 2 < _TOLERANCE:
            return middle
        if (value > 0) == (low_value > 0):
            low, low_value = middle, value
        else:
            high = middle
    return (low + high) / 2
