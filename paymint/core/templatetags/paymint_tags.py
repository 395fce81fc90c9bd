"""Display filters for the dashboards: money with its currency, rates as percentages."""

from __future__ import annotations

import copy
from decimal import Decimal, InvalidOperation

from babel import Locale, UnknownLocaleError
from babel.numbers import get_territory_currencies
from django import template
from django.conf import settings
from django.utils.translation import get_language, to_locale

from paymint.core import clock
from paymint.core.money import MINOR_UNITS, Money

register = template.Library()


def format_amount(amount: Decimal, currency: str = "") -> str:
    """``amount`` with the currency's minor-unit places, grouped for the active language
    (Django's ``get_language()``, from the user's browser via LocaleMiddleware) with Babel's
    CLDR data: ``1,234.56`` in English, ``1.234,56`` in German, ``12,34,567.00`` in Hindi."""
    places = MINOR_UNITS.get((currency or "").upper(), 2)
    try:
        locale = Locale.parse(to_locale(get_language() or "en"))
    except (UnknownLocaleError, ValueError):
        locale = Locale.parse("en")
    # The locale's own grouping (e.g. Indian lakh grouping), with exactly `places` decimals.
    pattern = copy.copy(locale.decimal_formats[None])
    pattern.frac_prec = (places, places)
    return pattern.apply(amount, locale)


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
    text = format_amount(amount, currency)
    return f"{text} {currency}" if currency else text


@register.filter
def home_currency(profile_or_user) -> str:
    """The currency to show a zero or empty balance in, e.g.
    ``{% with cur=profile|home_currency %}{{ 0|money:cur }}{% endwith %}``.

    The currency of the KYC/KYB profile's country (Babel's CLDR territory data: DE -> EUR,
    IN -> INR, GB -> GBP) when PayMint holds it, else the first of ``PAYMINT["CURRENCIES"]``.
    Takes a profile or a user (whose profile is then read: one query, and only where a page
    has no balance to show)."""
    profile = profile_or_user
    if profile is not None and hasattr(profile, "role"):  # a user
        profile = getattr(profile, "kyc", None) if profile.is_authenticated else None
    supported = settings.PAYMINT["CURRENCIES"]
    country = (getattr(profile, "country", "") or "").upper()
    if country:
        try:
            for code in get_territory_currencies(country):
                if code in supported:
                    return code
        except (ValueError, LookupError):
            pass
    return supported[0]


@register.filter
def amount(value, currency: str = "") -> str:
    """Like :func:`money` without the currency code (for table cells under a currency header)."""
    parsed = _decimal(value)
    if parsed is None:
        return "\u2013"
    return format_amount(parsed, currency)


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
