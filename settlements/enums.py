"""Settlement choices; the ledger's (account and entry kinds, bank events, withdrawals) are
:mod:`settlements.ledger.enums`, re-exported here."""

from django.db import models

from .ledger.enums import (
    MAY_GO_NEGATIVE,
    WITHDRAWAL_TRANSITIONS,
    AccountKind,
    BankEventStatus,
    BankEventType,
    EntryKind,
    WithdrawalStatus,
)

__all__ = [
    "MAY_GO_NEGATIVE",
    "WITHDRAWAL_TRANSITIONS",
    "AccountKind",
    "BankEventStatus",
    "BankEventType",
    "EntryKind",
    "PAYOUT_BATCH_TRANSITIONS",
    "PAYOUT_ITEM_LIVE",
    "BankFileFormat",
    "PayoutBatchStatus",
    "PayoutItemStatus",
    "AllocationKind",
    "AllocationStatus",
    "SettlementSource",
    "SettlementStatus",
    "WithdrawalStatus",
]


class SettlementSource(models.TextChoices):
    DEBTOR = "DEBTOR", "Payment by the debtor"
    RECOURSE = "RECOURSE", "Recourse on the seller"


class SettlementStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    COMPLETED = "COMPLETED", "Completed"


class PayoutBatchStatus(models.TextChoices):
    """A payout batch: made (``DRAFT``) by one finance user, approved by another, exported
    once as a bank file, settled when every item is paid or failed."""

    DRAFT = "DRAFT", "Awaiting approval"
    APPROVED = "APPROVED", "Approved, not exported"
    EXPORTED = "EXPORTED", "Exported to the bank"
    SETTLED = "SETTLED", "Every item paid or failed"


PAYOUT_BATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    PayoutBatchStatus.DRAFT: frozenset({PayoutBatchStatus.APPROVED}),
    PayoutBatchStatus.APPROVED: frozenset({PayoutBatchStatus.EXPORTED}),
    PayoutBatchStatus.EXPORTED: frozenset({PayoutBatchStatus.SETTLED}),
    PayoutBatchStatus.SETTLED: frozenset(),
}


class PayoutItemStatus(models.TextChoices):
    """One withdrawal (or refund of a suspense credit) in a batch. ``PENDING`` until the
    file is exported, ``SENT`` with the bank, then ``PAID`` or ``FAILED`` (the bank's
    webhook or a camt.054 statement); a ``PAID`` one the bank sends back later is
    ``RETURNED``."""

    PENDING = "PENDING", "In a batch not yet exported"
    SENT = "SENT", "Sent to the bank"
    PAID = "PAID", "Paid"
    FAILED = "FAILED", "Failed, funds back in the wallet"
    RETURNED = "RETURNED", "Returned by the bank after it was paid"


#: Item statuses that keep a withdrawal in a batch: at most one such item per withdrawal.
PAYOUT_ITEM_LIVE = (PayoutItemStatus.PENDING, PayoutItemStatus.SENT, PayoutItemStatus.PAID)


class BankFileFormat(models.TextChoices):
    PAIN_001 = "PAIN_001", "ISO 20022 pain.001.001.03 (SEPA credit transfer)"
    CSV = "CSV", "CSV (other currencies)"


class AllocationKind(models.TextChoices):
    """What money finance allocates becomes: an investor's deposit or a debtor's repayment
    (the same bank event a matched webhook would have been), or - for a suspense credit - a
    refund to its sender, paid out in a payout batch."""

    DEPOSIT = "DEPOSIT", "Investor deposit"
    REPAYMENT = "REPAYMENT", "Invoice repayment"
    REFUND = "REFUND", "Refund to the sender"


class AllocationStatus(models.TextChoices):
    """Four eyes: ``PROPOSED`` by one finance user, ``APPROVING`` once another took it (the
    posting runs), ``POSTED`` when the money moved, or ``REJECTED``. A refund is ``POSTED``
    once out of suspense (awaiting or in a payout batch) and ``RETURNED`` when its payout
    failed and the money went back to suspense (the credit may be allocated again)."""

    PROPOSED = "PROPOSED", "Awaiting a second finance user"
    APPROVING = "APPROVING", "Approved, posting"
    POSTED = "POSTED", "Posted"
    REJECTED = "REJECTED", "Rejected"
    RETURNED = "RETURNED", "Refund failed, back in suspense"


#: Allocation statuses that hold the credit: at most one per suspense bank event.
ALLOCATION_LIVE = (AllocationStatus.PROPOSED, AllocationStatus.APPROVING,
                   AllocationStatus.POSTED)
