"""Stellar protocol facts PayMint relies on: units (stroops), base fee and reserve, account
and trustline flags (the XDR's ``AccountFlags`` and ``TrustLineFlags``). Used by the on-chain
mirror and by the local network of :mod:`devtools.stellar_local` alike."""

from __future__ import annotations

from decimal import Decimal

STROOPS_PER_UNIT = 10_000_000
BASE_FEE = 100
BASE_RESERVE = 5_000_000  # 0.5 XLM
MAX_SIGNERS = 20
PROTOCOL_VERSION = 22

# Account flags (AccountFlags in the XDR).
AUTH_REQUIRED = 1
AUTH_REVOCABLE = 2
AUTH_IMMUTABLE = 4
AUTH_CLAWBACK_ENABLED = 8
# Trustline flags (TrustLineFlags in the XDR).
TL_AUTHORIZED = 1
TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES = 2
TL_CLAWBACK_ENABLED = 4


def to_stroops(amount: str | Decimal) -> int:
    """``"12.5"`` -> ``125000000``; raises ``ValueError`` below one stroop."""
    value = Decimal(amount) * STROOPS_PER_UNIT
    if value != value.to_integral_value():
        raise ValueError(f"{amount} has more than 7 decimal places")
    return int(value)


def format_stroops(stroops: int) -> str:
    """Horizon's amount format: ``"12.5000000"``."""
    return f"{Decimal(stroops) / STROOPS_PER_UNIT:.7f}"
