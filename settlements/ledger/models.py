"""The ledger's models: accounts, immutable balanced journal entries and their postings, bank
events (each webhook applied once) and withdrawals.

A :class:`JournalEntry` is immutable and balanced: the signed ``amount`` of its postings sums to
zero in its currency. Balances are derived from postings; nothing stores a balance. Part of the
``settlements`` app (app label ``settlements``, tables ``settlements_*``).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from paymint.core.models import PublicModel, TimeStampedModel

from .enums import AccountKind, BankEventStatus, BankEventType, EntryKind, WithdrawalStatus


class LedgerAccount(PublicModel):
    """One account per (kind, currency, owner user or invoice).

    ``key`` is the natural key (e.g. ``INVESTOR_CASH:EUR:user=42``), unique, so that accounts
    are created once even under concurrency.
    """

    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=32, choices=AccountKind.choices)
    currency = models.CharField(max_length=3)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    invoice = models.ForeignKey(
        "invoices.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
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
        "invoices.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
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


def new_withdrawal_reference() -> str:
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
    reference = models.CharField(
        max_length=20, unique=True, default=new_withdrawal_reference, editable=False
    )
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
                fields=["user", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="withdrawal_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount} {self.currency} ({self.status})"
