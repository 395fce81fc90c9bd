"""The settlement waterfall: how a payment on an invoice is divided. Pure functions, no I/O.

Priority of payments (the factoring market's standard order, as in the brief):

1. investors' principal + discount fee, pro rata to what each is still owed of them (inside
   each investor's share, principal before discount fee);
2. late interest owed to investors, pro rata;
3. the late fee owed to the platform (the platform fee itself was taken at disbursement);
4. the seller: first what the seller owes back after a recourse payment (the seller
   receivable), then the seller's reserve; any overpayment also goes to the seller.

Pro-rata splits use the largest-remainder method in the currency's minor unit
(:func:`paymint.core.money.allocate`), so the parts always sum exactly to what was paid.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from paymint.core.money import allocate, quantize_money

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class InvestorClaim:
    """What one investor is still owed (currency units, minor-unit precise)."""

    principal: Decimal
    discount_fee: Decimal
    late_interest: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.principal + self.discount_fee + self.late_interest


@dataclass(frozen=True, slots=True)
class InvestorPayout:
    principal: Decimal
    discount_fee: Decimal
    late_interest: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.principal + self.discount_fee + self.late_interest


@dataclass(frozen=True, slots=True)
class WaterfallResult:
    """The division of ``repaid``: ``investors`` per claim key, ``platform_late_fee``,
    ``seller_receivable`` (what clears the seller's debt from a recourse payment) and
    ``seller_reserve`` (the rest, overpayment included). The parts sum to ``repaid``."""

    repaid: Decimal
    currency: str
    investors: dict[Hashable, InvestorPayout]
    platform_late_fee: Decimal
    seller_receivable: Decimal
    seller_reserve: Decimal

    @property
    def investors_total(self) -> Decimal:
        return sum((p.total for p in self.investors.values()), ZERO)


def _pro_rata(available: Decimal, owed: Mapping[Hashable, Decimal], currency: str
              ) -> dict[Hashable, Decimal]:
    """Pay ``owed`` in full if ``available`` covers it, else split ``available`` pro rata."""
    total = sum(owed.values(), ZERO)
    if total <= 0:
        return {key: ZERO for key in owed}
    if available >= total:
        return dict(owed)
    if available <= 0:
        return {key: ZERO for key in owed}
    return allocate(available, owed, currency)


def settlement_waterfall(
    *,
    repaid: Decimal,
    currency: str,
    claims: Mapping[Hashable, InvestorClaim],
    platform_late_fee: Decimal = ZERO,
    seller_receivable: Decimal = ZERO,
) -> WaterfallResult:
    """Divide ``repaid`` between investors, the platform and the seller (see module doc).

    Args:
        repaid: amount received, >= 0, in the currency's minor unit.
        claims: outstanding claims per investor key (keys ordered deterministically, e.g. by
            investment id - the order breaks largest-remainder ties).
        platform_late_fee: late fee still owed to the platform (>= 0).
        seller_receivable: what the seller still owes after a recourse payment (>= 0); paid
            back before the seller receives anything.

    Raises:
        ValueError: negative amounts, or amounts not in minor units.
    """
    for name, value in (("repaid", repaid), ("platform_late_fee", platform_late_fee),
                        ("seller_receivable", seller_receivable)):
        if value < 0:
            raise ValueError(f"{name} must be non-negative")
        if quantize_money(value, currency) != value:
            raise ValueError(f"{name} must be in minor units")
    left = repaid

    core = _pro_rata(left, {k: c.principal + c.discount_fee for k, c in claims.items()},
                     currency)
    left -= sum(core.values(), ZERO)
    late = _pro_rata(left, {k: c.late_interest for k, c in claims.items()}, currency)
    left -= sum(late.values(), ZERO)

    payouts = {}
    for key, claim in claims.items():
        principal = min(core[key], claim.principal)
        payouts[key] = InvestorPayout(principal=principal, discount_fee=core[key] - principal,
                                      late_interest=late[key])
    fee = min(left, platform_late_fee)
    left -= fee
    receivable = min(left, seller_receivable)
    left -= receivable
    return WaterfallResult(repaid=repaid, currency=currency, investors=payouts,
                           platform_late_fee=fee, seller_receivable=receivable,
                           seller_reserve=left)
