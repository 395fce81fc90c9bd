"""Display filters: money with its currency, rates as percentages, progress."""

from __future__ import annotations

from decimal import Decimal

from paymint.core.money import Money
from paymint.core.templatetags.paymint_tags import money, percent, progress_percent


def test_money_uses_the_currency_minor_unit():
    assert money(Decimal("1234.5"), "EUR") == "1,234.50 EUR"
    assert money(Decimal("1234.5678900"), "eur") == "1,234.57 EUR"
    assert money(Decimal("1234"), "JPY") == "1,234 JPY"
    assert money(Money(Decimal("-5"), "USD")) == "-5.00 USD"
    assert money(None, "EUR") == "\u2013"
    assert money("garbage", "EUR") == "\u2013"


def test_percent_and_progress():
    assert percent(Decimal("0.085")) == "8.50\u00a0%"
    assert percent(Decimal("0.85"), 0) == "85\u00a0%"
    assert percent(None) == "\u2013"
    assert progress_percent(Decimal("150"), Decimal("485.38")) == 30
    assert progress_percent(Decimal("1"), Decimal("0")) == 0
    assert progress_percent(Decimal("600"), Decimal("485.38")) == 100


def test_money_follows_the_users_language():
    from decimal import Decimal

    from django.utils import translation

    from paymint.core.templatetags.paymint_tags import money

    with translation.override("de"):
        assert money(Decimal("1234.5"), "EUR") == "1.234,50 EUR"
    with translation.override("en"):
        assert money(Decimal("1234.5"), "EUR") == "1,234.50 EUR"
    with translation.override("hi"):
        assert money(Decimal("1234567"), "INR") == "12,34,567.00 INR"
