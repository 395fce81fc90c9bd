"""Display filters: money with its currency, rates as percentages, progress."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from django.urls import reverse

from paymint.core.money import Money
from paymint.core.templatetags.paymint_tags import home_currency, money, percent, progress_percent
from tests.helpers import make_user


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


def test_zero_balances_carry_the_currency_of_the_users_country(staff, db, client):
    """Before any money moved, a dashboard shows 0 in the currency of the user's KYC/KYB
    country (when PayMint holds it), never a bare "0.00"."""
    assert home_currency(SimpleNamespace(country="DE")) == "EUR"
    assert home_currency(SimpleNamespace(country="in")) == "INR"
    assert home_currency(SimpleNamespace(country="GB")) == "GBP"
    assert home_currency(SimpleNamespace(country="JP")) == "EUR"  # JPY not financed: default
    assert home_currency(None) == "EUR"

    indian = make_user("SELLER", "mumbai@example.com",
                       kyc={"legal_name": "Mumbai Traders Pvt Ltd", "country": "IN",
                            "tax_id": "27AAPFU0939F1ZV"}, approve_by=staff)
    assert home_currency(indian) == "INR"
    client.force_login(indian)
    for name in ("seller-dashboard", "wallet"):
        html = client.get(reverse(name)).content.decode()
        assert "0.00 INR" in html, name
        assert ">0.00<" not in html, name
