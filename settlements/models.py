"""The double-entry ledger, bank events and settlements.

A :class:`JournalEntry` is immutable and balanced: the signed ``amount`` of its postings sums to
zero in its currency. Balances are derived from postings; nothing stores a balance.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from paymint.core.models import PublicModel, TimeStampedModel

from .enums import (
    AccountKind,
    BankEventStatus,
    BankEventType,
    EntryKind,
    SettlementSource,
    SettlementStatus,
    WithdrawalStatus,
)


class LedgerAccount(PublicModel):
    """One account per (kind, currency, owner user or invoice).

    ``key`` is the natural key (e.g. ``INVESTOR_CASH:EUR:user=42``), unique, so that accounts
    are created once even under concurrency.
    """

    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=32, choices=AccountKind.choices)
    currency = models.CharField(max_length=3)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    invoice = models.ForeignKey(
        "invoices.Invoice", null=True, blank=True, on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    may_go_negative = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=AccountKind.values), name="ledger_account_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class JournalEntry(PublicModel):
    """An immutable, balanced set of postings: one money movement.

    ``idempotency_key`` is unique: posting the same business event twice returns the first
    entry. ``effective_date`` is the business date of the movement.
    """

    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    currency = models.CharField(max_length=3)
    effective_date = models.DateField()
    description = models.CharField(max_length=300)
    invoice = models.ForeignKey(
        "invoices.Invoice", null=True, blank=True, on_delete=models.PROTECT,
        related_name="journal_entries",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )

    class Meta:
        verbose_name_plural = "journal entries"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key}"


class Posting(models.Model):
    """One leg of a journal entry: a signed amount on one account.

    ``amount > 0`` increases the account's balance, ``amount < 0`` decreases it. Unique per
    (entry, leg) so that a retried task cannot write a leg twice.
    """

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    leg = models.PositiveSmallIntegerField()
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="postings")
    amount = models.DecimalField(max_digits=20, decimal_places=7)
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["entry_id", "leg"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "leg"], name="posting_unique_leg"),
            models.CheckConstraint(condition=~Q(amount=0), name="posting_amount_nonzero"),
        ]
        indexes = [models.Index(fields=["account", "entry"])]

    def __str__(self) -> str:
        return f"{self.amount:+} {self.currency} on {self.account_id}"


class BankEvent(TimeStampedModel):
    """A bank webhook event, stored once per ``event_id`` (replays are ignored)."""

    event_id = models.CharField(max_length=100, unique=True)
    event_type = models.CharField(max_length=40, choices=BankEventType.choices)
    reference = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=20, decimal_places=7)
    currency = models.CharField(max_length=3)
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=BankEventStatus.choices)
    error_code = models.CharField(max_length=40, blank=True)
    entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="bank_event"
    )


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


def new_withdrawal_reference() -> str:
    import secrets

    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "WD-" + "".join(secrets.choice(alphabet) for _ in range(10))


class Withdrawal(PublicModel):
    """A request to pay cash out to the user's bank account.

    The amount is moved to a hold account at once; the bank's ``withdrawal.paid`` webhook
    completes it, ``withdrawal.failed`` releases the hold. ``reference`` is what the bank quotes.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawals"
    )
    amount = models.DecimalField(max_digits=20, decimal_places=7)
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=10, choices=WithdrawalStatus.choices, default=WithdrawalStatus.REQUESTED
    )
    reference = models.CharField(max_length=20, unique=True, default=new_withdrawal_reference,
                                 editable=False)
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    hold_entry = models.OneToOneField(
        JournalEntry, on_delete=models.PROTECT, related_name="withdrawal_hold"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="withdrawal_amount_positive"),
            models.UniqueConstraint(
                fields=["user", "idempotency_key"], condition=~Q(idempotency_key=""),
                name="withdrawal_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount} {self.currency} ({self.status})"


# --- Stellar (settlements/stellar/) ----------------------------------------------------------

from .stellar.enums import ChainPurpose, ChainTxStatus  # noqa: E402


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
