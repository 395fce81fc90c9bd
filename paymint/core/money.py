"""Money primitives: currency minor units, the one rounding rule, largest-remainder splits.

Amounts are ``decimal.Decimal`` in the currency's major unit (``Decimal("12.34")`` EUR), never
float. Storage precision is 7 decimal places (Stellar's); business amounts are rounded once, at
the end of a calculation, to the currency's minor unit with :data:`MONEY_ROUNDING`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import TypeVar

from .error_codes import CoreError
from .errors import ValidationFailed

#: The single rounding rule for money: round half to even ("banker's rounding", IEEE 754 and
#: the default of ISO 4217 accounting systems), so that rounding errors do not drift one way.
MONEY_ROUNDING = ROUND_HALF_EVEN

#: The largest amount PayMint accepts from a client: amounts are stored as
#: ``DecimalField(max_digits=20, decimal_places=7)``, so 13 integer digits at most.
MAX_MONEY_AMOUNT = Decimal("9999999999999.99")

#: ISO 4217 minor-unit exponents of the currencies PayMint can hold.
MINOR_UNITS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "INR": 2,
    "CHF": 2,
    "JPY": 0,
}

K = TypeVar("K")


class UnsupportedCurrency(ValidationFailed):
    code = CoreError.UNSUPPORTED_CURRENCY


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest unit as a Decimal (``Decimal("0.01")`` for EUR).

    Raises:
        UnsupportedCurrency: for a code not in :data:`MINOR_UNITS`.
    """
    try:
        exponent = MINOR_UNITS[currency]
    except KeyError:
        raise UnsupportedCurrency(
            f"Currency {currency!r} is not supported.", fields={"currency": ["Unsupported."]}
        ) from None
    return Decimal(1).scaleb(-exponent)


def quantize_money(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` to the currency's minor unit with :data:`MONEY_ROUNDING`.

    The only place money is rounded. Raises ``TypeError`` on floats.
    """
    if isinstance(amount, float):
        raise TypeError("money must be Decimal, not float")
    with localcontext() as ctx:
        ctx.prec = 38
        return Decimal(amount).quantize(minor_unit(currency), rounding=MONEY_ROUNDING)


class InvalidAmount(ValidationFailed):
    code = CoreError.INVALID_AMOUNT


def parse_money_amount(raw, currency: str, *, field: str = "amount", message: str = "",
                       field_message: str = "") -> Decimal:
    """A positive amount of ``currency`` in its minor units, from what a client sent (a string,
    number or ``Decimal``). Every amount a user or a bank sends is read with this.

    Raises:
        InvalidAmount: ``INVALID_AMOUNT`` on ``field``: not a finite positive number ("Enter a
            positive amount."), above :data:`MAX_MONEY_AMOUNT` ("Enter an amount of at most
            ..."), or more decimals than the currency's minor unit ("Too many decimals for
            EUR."). ``message`` (and ``field_message``, for the field) replace the messages.
    """
    try:
        amount = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0:
        text = short = "Enter a positive amount."
    elif amount > MAX_MONEY_AMOUNT:
        text = short = f"Enter an amount of at most {MAX_MONEY_AMOUNT:,}."
    elif quantize_money(amount, currency) != amount:
        text, short = f"Too many decimals for {currency}.", "Too many decimals."
    else:
        return amount
    raise InvalidAmount(message or text, fields={field: [field_message or message or short]})


def to_minor(amount: Decimal, currency: str) -> int:
    """Whole minor units in ``amount`` (must already be a multiple of the minor unit).

    Raises:
        ValueError: when ``amount`` has more precision than the currency allows.
    """
    unit = minor_unit(currency)
    units = amount / unit
    if units != units.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of {currency} minor units")
    return int(units)


def from_minor(units: int, currency: str) -> Decimal:
    """``units`` minor units as a Decimal amount in the major unit."""
    return (Decimal(units) * minor_unit(currency)).quantize(minor_unit(currency))


def allocate(total: Decimal, weights: Mapping[K, Decimal], currency: str) -> dict[K, Decimal]:
    """Split ``total`` pro rata to ``weights`` with the largest-remainder method.

    Each part first gets ``floor(total x weight / sum(weights))`` in minor units; the minor units
    left over go one each to the parts with the largest fractional remainders (ties broken by
    the order of ``weights``, which callers keep deterministic, e.g. by investment id). The parts
    always sum exactly to ``total``. (Hamilton's method, as used for pro-rata allocations in
    payment systems.)

    Args:
        total: amount to split, a multiple of the currency's minor unit, may be zero; negative
            totals are split by their magnitude and returned negative.
        weights: non-negative weights per key (e.g. funded amounts); at least one positive.
        currency: ISO 4217 code.

    Returns:
        ``{key: part}`` in the same key order.

    Raises:
        ValueError: on no positive weight, a negative weight, or ``total`` not in minor units.
    """
    if not weights:
        raise ValueError("allocate needs at least one weight")
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights must be non-negative")
    weight_sum = sum(weights.values(), Decimal(0))
    if weight_sum <= 0:
        raise ValueError("weights must have a positive sum")
    sign = -1 if total < 0 else 1
    units = to_minor(abs(total), currency)
    keys: Sequence[K] = list(weights)
    floors: dict[K, int] = {}
    remainders: list[tuple[Decimal, int, K]] = []
    with localcontext() as ctx:
        ctx.prec = 50
        for index, key in enumerate(keys):
            exact = Decimal(units) * weights[key] / weight_sum
            floor = int(exact.to_integral_value(rounding=ROUND_DOWN))
            floors[key] = floor
            remainders.append((exact - floor, -index, key))
    leftover = units - sum(floors.values())
    for _, _, key in sorted(remainders, reverse=True)[:leftover]:
        floors[key] += 1
    return {key: sign * from_minor(floors[key], currency) for key in keys}


@dataclass(frozen=True, slots=True)
class Money:
    """An amount with its currency, for display and for passing amounts between layers."""

    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount:,.{MINOR_UNITS.get(self.currency, 2)}f} {self.currency}"
