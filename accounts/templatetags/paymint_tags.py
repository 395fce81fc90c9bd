"""Display filters for the dashboards: money with its currency, rates as percentages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

from paymint.core import clock
from paymint.core.money import MINOR_UNITS, Money

register = template.Library()


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        value = str(value)
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None


@register.filter
def money(value, currency: str = "") -> str:
    """``{{ amount|money:"EUR" }}`` -> ``1,234.56 EUR`` (the currency's minor-unit places).

    Accepts a :class:`~paymint.core.money.Money` (then the argument is ignored), a Decimal or a
    numeric string. Empty values render as an en dash.
    """
    if isinstance(value, Money):
        return str(value)
    amount = _decimal(value)
    if amount is None:
        return "\u2013"
    currency = (currency or "").upper()
    places = MINOR_UNITS.get(currency, 2)
    text = f"{amount:,.{places}f}"
    return f"{text} {currency}" if currency else text


@register.filter
def amount(value, currency: str = "") -> str:
    """Like :func:`money` without the currency code (for table cells under a currency header)."""
    parsed = _decimal(value)
    if parsed is None:
        return "\u2013"
    return f"{parsed:,.{MINOR_UNITS.get((currency or '').upper(), 2)}f}"


@register.filter
def percent(value, places: int = 2) -> str:
    """A fraction as a percentage: ``0.085`` -> ``8.50 %``; ``{{ rate|percent:1 }}``."""
    rate = _decimal(value)
    if rate is None:
        return "\u2013"
    try:
        places = int(places)
    except (TypeError, ValueError):
        places = 2
    return f"{rate * 100:,.{places}f}\u00a0%"


@register.filter
def progress_percent(part, whole) -> int:
    """``part / whole`` as a whole percentage between 0 and 100 (for progress bars)."""
    numerator, denominator = _decimal(part), _decimal(whole)
    if numerator is None or not denominator:
        return 0
    return max(0, min(100, int(numerator * 100 / denominator)))


@register.filter
def get_item(mapping, key):
    """``{{ mapping|get_item:key }}`` for dicts in templates."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def days_until(value) -> int | str:
    """Days from today's business date to ``value`` (a date); negative when past."""
    if not value:
        return "\u2013"
    return (value - clock.today()).days


@register.filter
def subtract(value, other):
    """``{{ a|subtract:b }}`` -> ``a - b`` as a Decimal (en dash when either is missing)."""
    left, right = _decimal(value), _decimal(other)
    if left is None or right is None:
        return "\u2013"
    return left - right
