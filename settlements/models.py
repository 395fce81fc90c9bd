"""Settlements: the settlement of each payment on an invoice, and the Stellar mirror's outbox.

The ledger's models (accounts, journal entries, postings, bank events, withdrawals) live in
:mod:`settlements.ledger.models` and are re-exported here: they belong to this app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from paymint.core.fields import EncryptedCharField
from paymint.core.models import PublicModel

from .enums import (
    ALLOCATION_LIVE,
    PAYOUT_ITEM_LIVE,
    AllocationKind,
    AllocationStatus,
    BankFileFormat,
    PayoutBatchStatus,
    PayoutItemStatus,
    SettlementSource,
    SettlementStatus,
)
from .ledger.models import (
    CURRENCY_CODE,
    BankEvent,
    JournalEntry,
    LedgerAccount,
    LedgerDayTotal,
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
    "LedgerDayTotal",
    "LedgerOverride",
    "PayoutBatch",
    "PayoutBatchEvent",
    "PayoutItem",
    "Posting",
    "Settlement",
    "StellarAccount",
    "SuspenseAllocation",
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


# --- Payouts (settlements/services/payouts.py) ----------------------------------------------


class PayoutBatch(PublicModel):
    """Withdrawals of one currency paid out together with one bank file (maker-checker).

    ``created_by`` made it, ``approved_by`` (never the same person: a database constraint
    too) approved it; the file is built once, at the first export, and kept
    (``file_content``, ``file_sha256``): every later export returns the same bytes.
    ``total_amount`` is in ``currency`` units. Only
    :func:`settlements.services.payouts.payout_batch_transition` writes ``status``.
    """

    reference = models.CharField(max_length=35, unique=True)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=PayoutBatchStatus.choices,
                              default=PayoutBatchStatus.DRAFT)
    item_count = models.PositiveIntegerField(default=0)
    total_amount = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="payout_batches_made")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT,
                                    related_name="payout_batches_approved")
    approved_at = models.DateTimeField(null=True, blank=True)
    exported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT,
                                    related_name="payout_batches_exported")
    exported_at = models.DateTimeField(null=True, blank=True)
    execution_date = models.DateField(null=True, blank=True)
    file_format = models.CharField(max_length=10, choices=BankFileFormat.choices, blank=True)
    file_name = models.CharField(max_length=100, blank=True)
    file_content = models.TextField(blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    message_id = models.CharField(max_length=35, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "payout batches"
        permissions = [
            ("create_payoutbatch", "Can make payout batches"),
            ("approve_payoutbatch", "Can approve payout batches made by someone else"),
            ("export_payoutbatch", "Can export the bank file of an approved payout batch"),
            ("settle_payoutbatch", "Can upload the bank's camt.054 statements"),
            ("retry_payout", "Can retry a failed payout"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=PayoutBatchStatus.values),
                                   name="payout_batch_status_valid"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("created_by")),
                name="payout_batch_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.total_amount} {self.currency} ({self.status})"


class PayoutBatchEvent(models.Model):
    """One status move of a :class:`PayoutBatch` (from, to, actor, reason, at)."""

    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=10)
    to_status = models.CharField(max_length=10)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.PROTECT)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.batch_id}: {self.from_status} -> {self.to_status}"


class PayoutItem(PublicModel):
    """One withdrawal - or one refund of a suspense credit to its sender (``allocation``, a
    ``REFUND`` :class:`SuspenseAllocation`) - in a :class:`PayoutBatch`, with the payee's
    account as sent. Exactly one of ``withdrawal`` and ``allocation`` is set (a constraint).

    ``end_to_end_id`` (``<withdrawal reference>-<attempt>``, ``<refund reference>-1`` for a
    refund) is what the bank quotes back (webhook ``reference`` or camt.054 ``EndToEndId``).
    A withdrawal or refund has at most one live item (pending, sent or paid); a failed
    withdrawal may be retried in a later batch. ``bank_event`` is the bank's answer (paid or
    failed), ``return_event`` its later return of a paid item. ``creditor_iban`` is
    encrypted at rest like the profile's.
    """

    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="items")
    withdrawal = models.ForeignKey("settlements.Withdrawal", null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="payout_items")
    allocation = models.ForeignKey("settlements.SuspenseAllocation", null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="payout_items")
    attempt = models.PositiveSmallIntegerField(default=1)
    end_to_end_id = models.CharField(max_length=35, unique=True)
    amount = models.DecimalField(max_digits=20, decimal_places=7)
    currency = models.CharField(max_length=3)
    creditor_name = models.CharField(max_length=140)
    creditor_iban = EncryptedCharField(max_length=34)
    creditor_bic = models.CharField(max_length=11, blank=True)
    status = models.CharField(max_length=10, choices=PayoutItemStatus.choices,
                              default=PayoutItemStatus.PENDING)
    failure_reason = models.CharField(max_length=300, blank=True)
    bank_event = models.OneToOneField("settlements.BankEvent", null=True, blank=True,
                                      on_delete=models.PROTECT, related_name="payout_item")
    return_event = models.OneToOneField("settlements.BankEvent", null=True, blank=True,
                                        on_delete=models.PROTECT,
                                        related_name="returned_payout_item")
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_item_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=PayoutItemStatus.values),
                                   name="payout_item_status_valid"),
            models.UniqueConstraint(fields=["withdrawal"],
                                    condition=Q(status__in=PAYOUT_ITEM_LIVE),
                                    name="payout_item_one_live_per_withdrawal"),
            models.UniqueConstraint(fields=["allocation"],
                                    condition=Q(status__in=PAYOUT_ITEM_LIVE),
                                    name="payout_item_one_live_per_refund"),
            models.CheckConstraint(
                condition=Q(withdrawal__isnull=False, allocation__isnull=True)
                | Q(withdrawal__isnull=True, allocation__isnull=False),
                name="payout_item_withdrawal_or_refund"),
        ]

    @property
    def payout_reference(self) -> str:
        """The reference the payee sees: the withdrawal's, or the refund's."""
        if self.withdrawal_id:
            return self.withdrawal.reference
        return self.allocation.refund_reference

    def __str__(self) -> str:
        return f"{self.end_to_end_id} {self.amount} {self.currency} ({self.status})"


# --- Unmatched money (settlements/services/suspense.py) -------------------------------------


class SuspenseAllocation(PublicModel):
    """Money finance allocates by hand, four eyes: a credit in suspense (``bank_event``, an
    ``UNMATCHED`` deposit or repayment) or a receipt no webhook announced (a cheque: no
    ``bank_event``; a manual repayment or deposit entry), to an investor's deposit or an
    invoice's repayment (``reference``: the deposit or repayment reference). ``amount`` in
    ``currency`` units. ``decided_by`` is never ``proposed_by`` (a database constraint too).
    Posted as the bank event ``allocation:<public_id>`` (``posted_event``) through the same
    service as a webhook.

    A ``REFUND`` sends a suspense credit back to its sender (``payee_name``, ``payee_iban``
    - encrypted at rest -, ``payee_bic``; ``reference`` is the credit's own): approved, it
    leaves suspense for the refund hold and is paid out as a :class:`PayoutItem` of the next
    batch of its currency.
    """

    bank_event = models.ForeignKey(BankEvent, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="allocations")
    kind = models.CharField(max_length=10, choices=AllocationKind.choices)
    reference = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=20, decimal_places=7)
    currency = models.CharField(max_length=3)
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=AllocationStatus.choices,
                              default=AllocationStatus.PROPOSED)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="allocations_proposed")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="allocations_decided")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    posted_event = models.OneToOneField(BankEvent, null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="allocation")
    payee_name = models.CharField(max_length=70, blank=True)
    payee_iban = EncryptedCharField(max_length=34, blank=True)
    payee_bic = models.CharField(max_length=11, blank=True)
    refund_entry = models.OneToOneField(JournalEntry, null=True, blank=True,
                                        on_delete=models.PROTECT,
                                        related_name="suspense_refund")

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("propose_allocation", "Can propose allocating unmatched money"),
            ("approve_allocation", "Can approve an allocation proposed by someone else"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=AllocationStatus.values),
                                   name="allocation_status_valid"),
            models.CheckConstraint(condition=~Q(reason=""), name="allocation_has_reason"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("proposed_by")),
                name="allocation_four_eyes",
            ),
            models.UniqueConstraint(fields=["bank_event"],
                                    condition=Q(status__in=ALLOCATION_LIVE),
                                    name="allocation_one_live_per_credit"),
            # A refund returns a suspense credit, to an account named on it.
            models.CheckConstraint(
                condition=~Q(kind=AllocationKind.REFUND)
                | (Q(bank_event__isnull=False) & ~Q(payee_name="")),
                name="allocation_refund_of_a_credit_to_an_account"),
        ]

    @property
    def refund_reference(self) -> str:
        """What the refund is known by at the bank (its end-to-end ids start with it)."""
        return f"RF-{self.public_id.hex[:12].upper()}"

    def __str__(self) -> str:
        return (f"{self.get_kind_display()} {self.reference} {self.amount} {self.currency} "
                f"({self.status})")
