"""The settlement waterfall: how a debtor's repayment is divided. Pure functions, no I/O.

Order of payment (the factoring market's standard priority of payments):

1. Investors' principal + discount fee, pro rata to what each is owed;
2. the seller's reserve: everything left (including any overpayment).

The platform fee is not in the waterfall: it was taken at disbursement. Pro-rata splits use the
largest-remainder method in the currency's minor unit, so the parts always sum exactly to what
was paid (:func:`paymint.core.money.allocate`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from paymint.core.money import allocate, quantize_money


@dataclass(frozen=True, slots=True)
class InvestorClaim:
    """What one investor is owed at settlement: ``principal`` and ``discount_fee``."""

    principal: Decimal
    discount_fee: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.discount_fee


@dataclass(frozen=True, slots=True)
class InvestorPayout:
    principal: Decimal
    discount_fee: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.discount_fee


@dataclass(frozen=True, slots=True)
class WaterfallResult:
    """``investors``: payout per claim key; ``seller_reserve``: the rest. Sums to ``repaid``."""

    repaid: Decimal
    currency: str
    investors: dict[Hashable, InvestorPayout]
    seller_reserve: Decimal


def settlement_waterfall(
    *, repaid: Decimal, currency: str, claims: Mapping[Hashable, InvestorClaim]
) -> WaterfallResult:
    """Divide ``repaid`` (currency units, minor-unit precise) between investors and the seller.

    If ``repaid`` covers all claims every investor receives their claim in full and the seller
    the rest. Otherwise ``repaid`` is split pro rata to each claim's total (largest remainder),
    and inside each investor's share principal is paid before discount fee.

    Raises:
        ValueError: negative ``repaid``, ``repaid`` not in minor units, or no claims.
    """
    if repaid < 0:
        raise ValueError("repaid must be non-negative")
    if quantize_money(repaid, currency) != repaid:
        raise ValueError("repaid must be in minor units")
    if not claims:
        raise ValueError("no investor claims")
    owed = sum((c.total for c in claims.values()), Decimal(0))
    if repaid >= owed:
        shares = {key: claim.total for key, claim in claims.items()}
    elif repaid == 0:
        shares = {key: Decimal(0) for key in claims}
    else:
        shares = allocate(repaid, {k: c.total for k, c in claims.items()}, currency)
    payouts = {}
    for key, claim in claims.items():
        share = shares[key]
        principal = min(share, claim.principal)
        payouts[key] = InvestorPayout(principal=principal, discount_fee=share - principal)
    paid = sum(shares.values(), Decimal(0))
    return WaterfallResult(
        repaid=repaid, currency=currency, investors=payouts, seller_reserve=repaid - paid
    )
