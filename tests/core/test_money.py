"""Money primitives: the one rounding rule and largest-remainder splits (no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paymint.core.money import (
    MAX_MONEY_AMOUNT,
    MINOR_UNITS,
    InvalidAmount,
    Money,
    UnsupportedCurrency,
    allocate,
    from_minor,
    minor_unit,
    parse_money_amount,
    quantize_money,
    to_minor,
)

D = Decimal


class TestQuantizeMoney:
    @pytest.mark.parametrize(
        ("amount", "expected"),
        [
            ("0.125", "0.12"),  # half to even: down to the even cent
            ("0.135", "0.14"),  # half to even: up to the even cent
            ("0.1250001", "0.13"),  # above half rounds up
            ("0.1249999", "0.12"),
            ("-0.125", "-0.12"),
            ("-0.135", "-0.14"),
            ("513.936", "513.94"),
            ("10", "10.00"),
        ],
    )
    def test_rounds_half_to_even_to_the_cent(self, amount, expected):
        result = quantize_money(D(amount), "EUR")
        assert result == D(expected)
        assert result.as_tuple().exponent == -2

    @pytest.mark.parametrize(("amount", "expected"), [("2.5", "2"), ("3.5", "4"), ("7.49", "7")])
    def test_zero_decimal_currency(self, amount, expected):
        result = quantize_money(D(amount), "JPY")
        assert result == D(expected)
        assert result.as_tuple().exponent == 0

    def test_large_amounts_keep_precision(self):
        assert quantize_money(D("123456789012345.675"), "EUR") == D("123456789012345.68")

    def test_float_is_refused(self):
        with pytest.raises(TypeError):
            quantize_money(0.1, "EUR")

    def test_unknown_currency_is_refused_with_stable_code(self):
        with pytest.raises(UnsupportedCurrency) as info:
            quantize_money(D("1"), "XYZ")
        assert info.value.code == "UNSUPPORTED_CURRENCY"
        assert info.value.http_status == 400


class TestMinorUnits:
    def test_minor_unit_per_currency(self):
        assert minor_unit("EUR") == D("0.01")
        assert minor_unit("JPY") == D("1")
        assert MINOR_UNITS["INR"] == 2

    def test_to_and_from_minor(self):
        assert to_minor(D("12.34"), "EUR") == 1234
        assert to_minor(D("-0.05"), "EUR") == -5
        assert from_minor(1234, "EUR") == D("12.34")
        assert from_minor(7, "JPY") == D("7")

    def test_to_minor_refuses_sub_minor_precision(self):
        with pytest.raises(ValueError):
            to_minor(D("0.001"), "EUR")

    def test_money_str(self):
        assert str(Money(D("1234.5"), "EUR")) == "1,234.50 EUR"


class TestAllocate:
    def test_equal_weights_leftover_goes_to_the_first(self):
        parts = allocate(D("0.10"), {"a": D(1), "b": D(1), "c": D(1)}, "EUR")
        assert parts == {"a": D("0.04"), "b": D("0.03"), "c": D("0.03")}
        assert list(parts) == ["a", "b", "c"]

    def test_leftover_goes_to_the_largest_remainder_not_the_first_key(self):
        # exact shares 3.333 and 6.667 cents: floors 3 + 6, the cent goes to b (.667 > .333)
        assert allocate(D("0.10"), {"a": D(1), "b": D(2)}, "EUR") == {
            "a": D("0.03"),
            "b": D("0.07"),
        }
        # exact 1.667 and 8.333: the cent goes to a
        assert allocate(D("0.10"), {"a": D(1), "b": D(5)}, "EUR") == {
            "a": D("0.02"),
            "b": D("0.08"),
        }

    def test_several_leftover_units_by_descending_remainder(self):
        # 100 cents over 3/3/3: 33.33 each, one cent to the first
        assert allocate(D("1.00"), {"x": D(3), "y": D(3), "z": D(3)}, "EUR") == {
            "x": D("0.34"),
            "y": D("0.33"),
            "z": D("0.33"),
        }
        # 5 cents over 0.1/0.3/0.6: exact 0.5, 1.5, 3.0 -> floors 0, 1, 3, tie .5/.5 -> first
        assert allocate(D("0.05"), {"a": D("0.1"), "b": D("0.3"), "c": D("0.6")}, "EUR") == {
            "a": D("0.01"),
            "b": D("0.01"),
            "c": D("0.03"),
        }

    def test_pro_rata_investor_split(self):
        # The lifecycle's discount fee 2.25 EUR between 200.00 and 313.94 funded:
        # exact 87.5588 and 137.4411 cents -> 87 + 137 = 224, the cent to the first (.5588)
        assert allocate(D("2.25"), {1: D("200.00"), 2: D("313.94")}, "EUR") == {
            1: D("0.88"),
            2: D("1.37"),
        }

    def test_zero_weight_gets_nothing(self):
        assert allocate(D("1.00"), {"a": D(0), "b": D(1)}, "EUR") == {
            "a": D("0"),
            "b": D("1.00"),
        }

    def test_zero_total(self):
        assert allocate(D("0"), {"a": D(1), "b": D(2)}, "EUR") == {"a": D(0), "b": D(0)}

    def test_negative_total_is_split_by_magnitude_and_returned_negative(self):
        parts = allocate(D("-0.10"), {"a": D(1), "b": D(1), "c": D(1)}, "EUR")
        assert parts == {"a": D("-0.04"), "b": D("-0.03"), "c": D("-0.03")}
        assert sum(parts.values()) == D("-0.10")

    def test_zero_decimal_currency(self):
        assert allocate(D("100"), {"a": D(1), "b": D(1), "c": D(1)}, "JPY") == {
            "a": D(34),
            "b": D(33),
            "c": D(33),
        }

    @pytest.mark.parametrize(
        ("total", "weights"),
        [
            (D("1.00"), {}),
            (D("1.00"), {"a": D(-1), "b": D(2)}),
            (D("1.00"), {"a": D(0), "b": D(0)}),
            (D("1.001"), {"a": D(1)}),
        ],
        ids=["no-weights", "negative-weight", "zero-sum", "sub-minor-total"],
    )
    def test_invalid_input_raises_value_error(self, total, weights):
        with pytest.raises(ValueError):
            allocate(total, weights, "EUR")

    def test_unknown_currency(self):
        with pytest.raises(UnsupportedCurrency):
            allocate(D("1"), {"a": D(1)}, "XYZ")

    @given(
        units=st.integers(min_value=-(10**12), max_value=10**12),
        weights=st.lists(
            st.decimals(min_value=0, max_value=10**9, places=7, allow_nan=False),
            min_size=1,
            max_size=30,
        ).filter(lambda ws: sum(ws) > 0),
        currency=st.sampled_from(["EUR", "JPY"]),
    )
    def test_parts_always_sum_to_total_and_stay_within_one_unit(self, units, weights, currency):
        total = from_minor(units, currency)
        keyed = {i: w for i, w in enumerate(weights)}
        parts = allocate(total, keyed, currency)
        assert sum(parts.values(), D(0)) == total
        assert list(parts) == list(keyed)
        unit = minor_unit(currency)
        weight_sum = sum(weights, D(0))
        for key, part in parts.items():
            assert quantize_money(part, currency) == part
            exact = total * keyed[key] / weight_sum
            # Hamilton: each part is floor or floor + 1 unit of its exact share
            assert abs(part - exact) < unit
            if total >= 0:
                assert part >= 0
            else:
                assert part <= 0


@pytest.mark.parametrize("raw", ["3.6509168722399774e+136", "1e13", "10000000000000.00",
                                 "99999999999999999999"])
def test_amounts_too_large_to_store_are_refused(raw):
    """Found by the API fuzzer: a quote for 3.65e136 answered 500. Every amount a client sends
    is read by parse_money_amount, which refuses what the columns cannot hold."""
    with pytest.raises(InvalidAmount) as info:
        parse_money_amount(raw, "EUR")
    assert info.value.fields == {"amount": [f"Enter an amount of at most {MAX_MONEY_AMOUNT:,}."]}


def test_the_largest_storable_amount_is_accepted():
    assert parse_money_amount(str(MAX_MONEY_AMOUNT), "EUR") == MAX_MONEY_AMOUNT
