"""The marketplace API's plain rows (``listing_row``, ``investment_row``) answer exactly what the
documented output serializers would, and ``decimal_text``/``datetime_text`` write values as DRF
does."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from rest_framework import serializers

from marketplace.api import (
    INVESTMENT_ROW_VALUES,
    LISTING_ROW_VALUES,
    InvestmentOutputSerializer,
    ListingOutputSerializer,
    investment_row,
    listing_row,
)
from marketplace.models import Investment
from marketplace.selectors import investment_list_for_investor, listing_search
from marketplace.services import investment_create
from paymint.core import clock
from paymint.core.api import datetime_text, decimal_text
from tests.factories import mustang_listing
from tests.helpers import LISTING_DAY, deposit


@given(
    st.decimals(
        min_value=Decimal("-1e12"),
        max_value=Decimal("1e12"),
        places=7,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_decimal_text_is_drf_decimal_field(value):
    assert decimal_text(value) == serializers.DecimalField(
        max_digits=20, decimal_places=2
    ).to_representation(value)


@given(
    st.decimals(
        min_value=Decimal("-99"),
        max_value=Decimal("99"),
        places=7,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_decimal_text_is_drf_decimal_field_for_rates(value):
    assert decimal_text(value, 6, 9) == serializers.DecimalField(
        max_digits=9, decimal_places=6
    ).to_representation(value)


@pytest.mark.parametrize(
    "value",
    [
        Decimal("0.005"),
        Decimal("0.015"),
        Decimal("-2.675"),
        Decimal("1E+2"),
        Decimal("0"),
        3,
        "12.345",
    ],
)
def test_decimal_text_rounds_like_drf(value):
    assert decimal_text(value) == serializers.DecimalField(
        max_digits=20, decimal_places=2
    ).to_representation(value)
    assert decimal_text(None) is None


def test_datetime_text_is_drf_datetime_field():
    field = serializers.DateTimeField()
    for value in (
        timezone.now(),
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.datetime(
            2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
        ),
    ):
        assert datetime_text(value) == field.to_representation(value)
        with timezone.override("Europe/Paris"):  # the page's time zone, read once
            assert datetime_text(value, timezone.get_current_timezone()) == (
                field.to_representation(value))
            assert field.to_representation(value).endswith("+01:00")
    assert datetime_text(None) is None


@pytest.fixture
def holdings(seller, make_investor, settings):
    listings = [
        mustang_listing(seller, invoice_number=f"ROW-{n}") for n in range(3)
    ]
    investor = make_investor()
    deposit(investor, "5000.00")
    with clock.frozen_at(LISTING_DAY):
        for listing, amount in zip(listings, ("60.00", "123.45", "50.05"), strict=False):
            investment_create(investor=investor, listing=listing, amount=Decimal(amount))
    # A settled-looking investment: a discount fee with more places than the answer shows.
    Investment.objects.filter(listing=listings[0]).update(
        discount_fee=Decimal("1.2345678"), repaid_amount=Decimal("61.005")
    )
    return {"listings": listings, "investor": investor}


@pytest.mark.django_db
@pytest.mark.parametrize("chain", [False, True])
def test_listing_rows_match_the_output_serializer(holdings, settings, chain):
    settings.STELLAR_ENABLED = chain
    with clock.frozen_at(LISTING_DAY):
        listings = listing_search(user=holdings["investor"])
        rows = [listing_row(values) for values in listings.values(*LISTING_ROW_VALUES)]
        expected = ListingOutputSerializer(list(listings), many=True).data
    assert len(rows) == 3
    assert rows == [dict(item) for item in expected]


@pytest.mark.django_db
def test_investment_rows_match_the_output_serializer(holdings):
    investments = investment_list_for_investor(investor=holdings["investor"])
    rows = [investment_row(values) for values in investments.values(*INVESTMENT_ROW_VALUES)]
    expected = InvestmentOutputSerializer(list(investments), many=True).data
    assert len(rows) == 3
    assert any(row["discount_fee"] == "1.23" for row in rows)
    assert rows == [dict(item) for item in expected]
