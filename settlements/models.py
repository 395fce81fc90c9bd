"""Settlements: the settlement of each payment on an invoice, and the Stellar mirror's outbox.

The ledger's models (accounts, journal entries, postings, bank events, withdrawals) live in
:mod:`settlements.ledger.models` and are re-exported here: they belong to this app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from paymint.core.models import PublicModel

from .enums import SettlementSource, SettlementStatus
from .ledger.models import (
    CURRENCY_CODE,
    BankEvent,
    JournalEntry,
    LedgerAccount,
    LedgerOverride,
    Posting,
    Withdrawal,
    new_withdrawal_reference,
)
from .stellar.enums import ChainPurpose, ChainTxStatus

__all__ = [
    "BankEvent",
    "ChainTransaction",
    "ChainTransactionEvent",
    "JournalEntry",
    "LedgerAccount",
    "LedgerOverride",
    "Posting",
    "Settlement",
    "StellarAccount",
    "Withdrawal",
    "new_withdrawal_reference",
]


class Settlement(PublicModel):
    """The intent to distribute one payment on an invoice (a debtor repayment, partial or not,
    or a recourse payment by the seller) through the waterfall.

    Created in the same transaction as the money's arrival (unique per bank event), completed by
    the settlement task, which returns early when it is already ``COMPLETED``.
    """

    invoice = models.ForeignKey(
        "invoices.Invoice", on_delete=models.PROTECT, related_name="settlements"
    )
    source = models.CharField(max_length=10, choices=SettlementSource.choices,
                              default=SettlementSource.DEBTOR)
    bank_event = models.OneToOneField(
        BankEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="settlement"
    )
    breakdown = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=12, choices=SettlementStatus.choices, default=SettlementStatus.PENDING
    )
    repaid_amount = models.DecimalField(max_digits=20, decimal_places=7)
    currency = models.CharField(max_length=3)
    entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT,
        related_name="settlement",
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(repaid_amount__gt=0),
                                   name="settlement_repaid_amount_positive"),
            models.CheckConstraint(condition=CURRENCY_CODE, name="settlement_currency_code"),
            models.CheckConstraint(condition=Q(status__in=SettlementStatus.values),
                                   name="settlement_status_valid"),
        ]


# --- Stellar (settlements/stellar/) ----------------------------------------------------------


class ChainTransaction(PublicModel):
    """The outbox row of one Stellar transaction: written with the business change, then
    built, signed and saved (``envelope_xdr``, ``tx_hash``, ``sequence``, time bounds) before
    it is ever sent, and submitted by ``settlements.stellar.tasks.chain_submit_task``.

    ``operations`` is the intent (JSON operation specs) from which the envelope is rebuilt with
    a new sequence number when the old one can no longer land; ``previous_hashes`` keeps every
    superseded envelope's hash. ``min_time``/``max_time`` are unix seconds (the envelope's time
    bounds). Only :func:`settlements.stellar.outbox.chain_tx_transition` writes ``status``.
    """

    purpose = models.CharField(max_length=24, choices=ChainPurpose.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=10, choices=ChainTxStatus.choices,
                              default=ChainTxStatus.PENDING)
    source = models.CharField(max_length=56)
    operations = models.JSONField(default=list, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    envelope_xdr = models.TextField(blank=True)
    tx_hash = models.CharField(max_length=64, blank=True, db_index=True)
    previous_hashes = models.JSONField(default=list, blank=True)
    sequence = models.BigIntegerField(null=True, blank=True)
    min_time = models.PositiveBigIntegerField(null=True, blank=True)
    max_time = models.PositiveBigIntegerField(null=True, blank=True)
    fee_per_op = models.PositiveIntegerField(default=100)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    result_codes = models.JSONField(default=dict, blank=True)
    ledger = models.PositiveBigIntegerField(null=True, blank=True)
    fee_charged = models.PositiveBigIntegerField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    depends_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="dependents")
    invoice = models.ForeignKey("invoices.Invoice", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="chain_transactions")
    investment = models.ForeignKey("marketplace.Investment", null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="chain_transactions")
    settlement = models.ForeignKey(Settlement, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="chain_transactions")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ChainTxStatus.values),
                                   name="chain_tx_status_valid"),
            models.CheckConstraint(condition=Q(purpose__in=ChainPurpose.values),
                                   name="chain_tx_purpose_valid"),
        ]
        indexes = [models.Index(fields=["status", "purpose"])]

    def __str__(self) -> str:
        return f"{self.purpose} {self.idempotency_key} ({self.status})"


class ChainTransactionEvent(models.Model):
    """One status move of a :class:`ChainTransaction` (the audit trail)."""

    chain_tx = models.ForeignKey(ChainTransaction, on_delete=models.PROTECT,
                                 related_name="events")
    from_status = models.CharField(max_length=10)
    to_status = models.CharField(max_length=10)
    reason = models.CharField(max_length=300, blank=True)
    tx_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.chain_tx_id}: {self.from_status} -> {self.to_status}"


class StellarAccount(PublicModel):
    """A Stellar account a user proved control of with SEP-10 (``verified_at``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                             related_name="stellar_accounts")
    account_id = models.CharField(max_length=56, unique=True)
    verified_at = models.DateTimeField()

    class Meta:
        ordering = ["-verified_at", "-id"]

    def __str__(self) -> str:
        return f"{self.account_id} ({self.user_id})"
