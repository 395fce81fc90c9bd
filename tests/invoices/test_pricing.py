"""Pricing of an advance: hand-computed examples (no database)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoices.pricing import (
    DayCount,
    accrual_days,
    advance_amount,
    discount_fee,
    discount_fee_exact,
    investment_quote,
    invoice_offer,
    platform_fee,
)

D = Decimal


class TestAdvanceAndFee:
    def test_mustang_advance_and_platform_fee(self):
        # 571.04 x 0.90 = 513.936 -> 513.94; 1 % of 513.94 = 5.1394 -> 5.14
        assert advance_amount(D("571.04"), D("0.90"), "EUR") == D("513.94")
        assert platform_fee(D("513.94"), D("0.010"), "EUR") == D("5.14")

    def test_advance_rounds_half_to_even(self):
        # 100.25 x 0.5 = 50.125 -> 50.12 (even), 100.35 x 0.5 = 50.175 -> 50.18 (even)
        assert advance_amount(D("100.25"), D("0.5"), "EUR") == D("50.12")
        assert advance_amount(D("100.35"), D("0.5"), "EUR") == D("50.18")

    def test_full_advance_rate_is_allowed(self):
        assert advance_amount(D("100.00"), D("1"), "EUR") == D("100.00")

    @pytest.mark.parametrize(
        ("face", "rate"),
        [(D("100"), D("0")), (D("100"), D("1.000001")), (D("100"), D("-0.5")), (D("0"), D("0.9"))],
    )
    def test_advance_refuses_bad_inputs(self, face, rate):
        with pytest.raises(ValueError):
            advance_amount(face, rate, "EUR")

    def test_platform_fee_zero_and_negative(self):
        assert platform_fee(D("513.94"), D("0"), "EUR") == D("0.00")
        with pytest.raises(ValueError):
            platform_fee(D("513.94"), D("-0.01"), "EUR")


class TestDiscountFee:
    def test_accrual_days_actual(self):
        assert accrual_days(dt.date(2020, 11, 22), dt.date(2020, 12, 12)) == 20
        assert accrual_days(dt.date(2024, 2, 1), dt.date(2024, 3, 1)) == 29  # leap year
        assert accrual_days(dt.date(2023, 2, 1), dt.date(2023, 3, 1)) == 28
        assert accrual_days(dt.date(2020, 12, 12), dt.date(2020, 12, 12)) == 0
        assert accrual_days(dt.date(2020, 12, 13), dt.date(2020, 12, 12)) == 0

    @pytest.mark.parametrize(
        ("principal", "rate", "days", "expected"),
        [
            # 10,000 x 12 % x 30 / 365 = 98.6301369... -> 98.63
            (D("10000"), D("0.12"), 30, D("98.63")),
            # 513.94 x 8 % x 20 / 365 = 2.25288767... -> 2.25 (the lifecycle invoice)
            (D("513.94"), D("0.08"), 20, D("2.25")),
            # 200 x 8 % x 20 / 365 = 0.87671... -> 0.88
            (D("200.00"), D("0.08"), 20, D("0.88")),
            # 1,000 x 10 % x 365 / 365 = 100.00 exactly
            (D("1000"), D("0.10"), 365, D("100.00")),
            # leap year February: 5,000 x 13 % x 29 / 365 = 51.6438... -> 51.64
            (D("5000"), D("0.13"), 29, D("51.64")),
            (D("5000"), D("0.13"), 0, D("0.00")),
        ],
    )
    def test_act_365_fixed(self, principal, rate, days, expected):
        assert discount_fee(principal, rate, days, "EUR") == expected

    def test_exact_is_unrounded(self):
        assert discount_fee_exact(D("365"), D("0.10"), 1) == D("0.1")
        assert discount_fee_exact(D("10000"), D("0.12"), 30) == D("10000") * D("0.12") * 30 / 365

    def test_act_360_is_a_named_alternative(self):
        # 10,000 x 12 % x 30 / 360 = 100.00
        assert discount_fee(D("10000"), D("0.12"), 30, "EUR", DayCount.ACT_360) == D("100.00")
        assert DayCount.ACT_365_FIXED.year_days == 365


class TestOfferAndQuote:
    def test_invoice_offer_mustang(self):
        offer = invoice_offer(
            face_value=D("571.04"),
            currency="EUR",
            advance_rate=D("0.90"),
            discount_rate=D("0.08"),
            platform_fee_rate=D("0.01"),
            start=dt.date(2020, 11, 22),
            due_date=dt.date(2020, 12, 12),
        )
        assert offer.advance_amount == D("513.94")
        assert offer.platform_fee == D("5.14")
        assert offer.net_advance == D("508.80")
        assert offer.days == 20
        assert offer.estimated_discount_fee == D("2.25")
        # 571.04 - 513.94 - 2.25
        assert offer.estimated_reserve == D("54.85")
        with pytest.raises(AttributeError):
            offer.advance_amount = D(1)  # frozen

    def test_investment_quote(self):
        quote = investment_quote(
            principal=D("313.94"),
            currency="EUR",
            discount_rate=D("0.08"),
            start=dt.date(2020, 11, 22),
            due_date=dt.date(2020, 12, 12),
        )
        # 313.94 x 0.08 x 20 / 365 = 1.37617... -> 1.38
        assert (quote.days, quote.expected_discount_fee, quote.expected_return) == (
            20,
            D("1.38"),
            D("315.32"),
        )
        assert quote.expected_repayment_date == dt.date(2020, 12, 12)
