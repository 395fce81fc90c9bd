"""Stellar outbox purposes and statuses, and the allowed status moves."""

from django.db import models


class ChainPurpose(models.TextChoices):
    TOKEN_CREATE = "TOKEN_CREATE", "Invoice token created (document hash, custody trustline)"
    TOKEN_ISSUE = "TOKEN_ISSUE", "Investor share issued"
    SETTLEMENT_SNAPSHOT = "SETTLEMENT_SNAPSHOT", "Holders snapshot and payout plan"
    SETTLEMENT_PAYOUT = "SETTLEMENT_PAYOUT", "Stablecoin payout batch"
    TOKEN_CLAWBACK = "TOKEN_CLAWBACK", "Invoice tokens clawed back"
    WRITE_OFF = "WRITE_OFF", "Write-off: holders snapshot and clawback plan"
    OTHER = "OTHER", "Other"


class ChainTxStatus(models.TextChoices):
    PENDING = "PENDING", "Pending (not yet sent)"
    SUBMITTED = "SUBMITTED", "Submitted, outcome unknown"
    CONFIRMED = "CONFIRMED", "Confirmed in a ledger"
    FAILED = "FAILED", "Failed"
    EXPIRED = "EXPIRED", "Expired (time bounds closed, never landed)"


FINAL_CHAIN_STATUSES = frozenset({ChainTxStatus.CONFIRMED, ChainTxStatus.FAILED})

CHAIN_TX_TRANSITIONS: dict[str, frozenset[str]] = {
    ChainTxStatus.PENDING: frozenset(
        {
            ChainTxStatus.SUBMITTED,
            ChainTxStatus.CONFIRMED,
            ChainTxStatus.FAILED,
            ChainTxStatus.EXPIRED,
        }
    ),
    ChainTxStatus.SUBMITTED: frozenset(
        {
            ChainTxStatus.PENDING,
            ChainTxStatus.CONFIRMED,
            ChainTxStatus.FAILED,
            ChainTxStatus.EXPIRED,
        }
    ),
    # An expired envelope can never land: it is rebuilt (new sequence) and sent again.
    ChainTxStatus.EXPIRED: frozenset({ChainTxStatus.PENDING}),
    # Operations staff may requeue a failed intent after fixing its cause (rebuilt).
    ChainTxStatus.FAILED: frozenset({ChainTxStatus.PENDING}),
    ChainTxStatus.CONFIRMED: frozenset(),
}

#: Purposes without an envelope of their own: their "submission" is a step run by a handler
#: (:func:`settlements.stellar.tokens.run_virtual_step`).
VIRTUAL_PURPOSES = frozenset({ChainPurpose.SETTLEMENT_SNAPSHOT, ChainPurpose.WRITE_OFF})
