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
