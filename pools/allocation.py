"""How much an automatic investor puts into a listing: pure functions, no database.

Every input is an amount of the listing's currency already in its minor units (rule amounts
are validated so, balances and listing amounts are posted so), so the minimum of them needs
no rounding; the pool's share cap (a fraction of the advance) and its buffer are the only
products, rounded towards zero (a cap is never exceeded) and up (a buffer is never short).
Sources: Mintos' auto-invest (amount per loan, cash to keep, per-borrower cap).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from paymint.core.money import minor_unit

from .enums import AutoInvestSkip

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class AutoInvestAmount:
    """``amount`` to fund (0 when skipped) and, when 0, ``reason`` (an
    :class:`~pools.enums.AutoInvestSkip`)."""

    amount: Decimal
    reason: str = ""


def auto_invest_amount(
    *,
    per_invoice: Decimal,
    remaining: Decimal,
    min_ticket: Decimal,
    cash: Decimal,
    cash_to_keep: Decimal,
    debtor_exposure: Decimal,
    max_per_debtor: Decimal,
) -> AutoInvestAmount:
    """The amount a rule funds: ``min(per_invoice, remaining, cash - cash_to_keep,
    max_per_debtor - debtor_exposure)``, all in one currency's units; nothing when that is
    not positive, or below ``min_ticket`` unless it takes exactly what is left (the funding
    service's own rule)."""
    if remaining <= 0:
        return AutoInvestAmount(ZERO, AutoInvestSkip.NOTHING_LEFT)
    spendable = cash - cash_to_keep
    if spendable <= 0:
        return AutoInvestAmount(ZERO, AutoInvestSkip.NO_CASH_ABOVE_KEEP)
    room = max_per_debtor - debtor_exposure
    if room <= 0:
        return AutoInvestAmount(ZERO, AutoInvestSkip.DEBTOR_CAP_REACHED)
    amount = min(per_invoice, remaining, spendable, room)
    if amount < min_ticket and amount != remaining:
        return AutoInvestAmount(ZERO, AutoInvestSkip.AMOUNT_BELOW_MIN_TICKET)
    return AutoInvestAmount(amount)


def pool_allocation_amount(
    *,
    advance: Decimal,
    max_listing_share: Decimal,
    remaining: Decimal,
    min_ticket: Decimal,
    cash: Decimal,
    buffer: Decimal,
    debtor_exposure: Decimal,
    max_debtor_exposure: Decimal,
    seller_exposure: Decimal,
    max_seller_exposure: Decimal,
    currency: str,
) -> AutoInvestAmount:
    """What the pool funds of a listing: ``min(max_listing_share x advance (towards zero, minor
    units), remaining, cash - buffer, debtor room, seller room)``; never more than its
    uninvested cash minus the buffer kept for redemptions. Nothing below the minimum ticket
    unless it takes exactly what is left."""
    share_cap = (advance * max_listing_share).quantize(minor_unit(currency), rounding=ROUND_DOWN)
    if remaining <= 0:
        return AutoInvestAmount(ZERO, AutoInvestSkip.NOTHING_LEFT)
    spendable = cash - buffer
    if spendable <= 0:
        return AutoInvestAmount(ZERO, AutoInvestSkip.NO_CASH_ABOVE_KEEP)
    room = min(max_debtor_exposure - debtor_exposure, max_seller_exposure - seller_exposure)
    if room <= 0:
        return AutoInvestAmount(ZERO, AutoInvestSkip.DEBTOR_CAP_REACHED)
    amount = min(share_cap, remaining, spendable, room)
    if amount < min_ticket and amount != remaining:
        return AutoInvestAmount(ZERO, AutoInvestSkip.AMOUNT_BELOW_MIN_TICKET)
    return AutoInvestAmount(amount)
