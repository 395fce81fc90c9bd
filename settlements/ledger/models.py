"""The ledger's models: accounts, immutable balanced journal entries and their postings, bank
events (each webhook applied once) and withdrawals.

A :class:`JournalEntry` is immutable and balanced: the signed ``amount`` of its postings sums to
zero in its currency. Balances are derived from postings; the one figure kept beside them,
:class:`LedgerDayTotal`, is written by PostgreSQL in the transaction of the postings it sums.
Part of the ``settlements`` app (app label ``settlements``, tables ``settlements_*``).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from paymint.core.models import PublicModel, TimeStampedModel

from .enums import (
    MAY_GO_NEGATIVE,
    AccountKind,
    BankEventStatus,
    BankEventType,
    EntryKind,
    WithdrawalStatus,
)

#: A currency column holds an ISO 4217 code: three capital letters (a CHECK on every table).
CURRENCY_CODE = Q(currency__regex=r"^[A-Z]{3}$")


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
            models.CheckConstraint(condition=CURRENCY_CODE, name="ledger_account_currency_code"),
            # Only the MAY_GO_NEGATIVE kinds may go negative, and they all may: the flag the
            # commit-time balance trigger reads cannot be switched on for a cash account.
            models.CheckConstraint(
                condition=Q(kind__in=sorted(MAY_GO_NEGATIVE), may_go_negative=True)
                | (~Q(kind__in=sorted(MAY_GO_NEGATIVE)) & Q(may_go_negative=False)),
                name="ledger_account_may_go_negative_by_kind",
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
        indexes = [
            # The settlement entries by business date (the aging history's invoices settled
            # within its window): small, written by settlements only (migration 0013).
            models.Index(fields=["effective_date"], include=["invoice"],
                         condition=Q(kind="SETTLEMENT"), name="journal_entry_settlement_date"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=EntryKind.values), name="journal_entry_kind_valid"
            ),
            models.CheckConstraint(condition=CURRENCY_CODE, name="journal_entry_currency_code"),
        ]

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
            models.CheckConstraint(condition=CURRENCY_CODE, name="posting_currency_code"),
        ]
        indexes = [models.Index(fields=["account", "entry"])]

    def __str__(self) -> str:
        return f"{self.amount:+} {self.currency} on {self.account_id}"


class LedgerDayTotal(models.Model):
    """The postings summed per (effective date, entry kind, account kind, currency): the books'
    totals without reading every posting (the back office's balances by account kind, the
    monthly report's balance sheet, the funded volume per month).

    Written only by PostgreSQL triggers (``settlements`` migration 0012), in the transaction and
    statement that insert the postings (or, under the ledger's override, change them): each
    INSERT statement of postings appends one row per key it touches, so that concurrent
    postings never update a shared row (no hot row, no new lock, no lock order to keep);
    :func:`settlements.ledger.totals.ledger_day_totals_compact` (beat) folds each key's rows
    into one. A read sums the rows of its keys: exact at any instant, whatever has been folded.
    ``amount`` is the signed sum, ``credits`` the sum of the positive amounts, ``postings`` how
    many; all in ``currency``. Nothing but those triggers and the compaction writes here; the
    books check (``verify_books``, ``cached_balance``) compares it with the postings.
    Not kept on SQLite (the embedded demo): reads there sum the postings.
    """

    effective_date = models.DateField()
    entry_kind = models.CharField(max_length=20, choices=EntryKind.choices)
    account_kind = models.CharField(max_length=32, choices=AccountKind.choices)
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=30, decimal_places=7)
    credits = models.DecimalField(max_digits=30, decimal_places=7)
    postings = models.BigIntegerField()

    # No index: every read scans the table, a few rows per business day once compacted
    # (benchmarks/README.md, issue #19, third round).

    def __str__(self) -> str:
        return (f"{self.effective_date} {self.entry_kind} {self.account_kind}: "
                f"{self.amount:+} {self.currency}")


class LedgerOverride(models.Model):
    """One row the ledger's immutability triggers let through: an UPDATE or DELETE of a posting,
    a journal entry or a ledger account made under :func:`settlements.ledger.integrity.
    ledger_override` (the documented escape, which no code path uses today).

    Written by the PostgreSQL trigger itself, in the same transaction as the change, so an
    override cannot happen without its row; the table is append-only (a trigger refuses UPDATE
    and DELETE, with no escape). ``reason`` is what the operator gave, ``db_user`` the
    PostgreSQL role, ``row_pk`` the changed row's id in ``table_name``.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    table_name = models.CharField(max_length=63)
    operation = models.CharField(max_length=6)
    row_pk = models.BigIntegerField()
    reason = models.TextField()
    db_user = models.CharField(max_length=63)
    old_row = models.JSONField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.operation} {self.table_name}#{self.row_pk}: {self.reason}"


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

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="bank_event_amount_positive"),
            models.CheckConstraint(condition=CURRENCY_CODE, name="bank_event_currency_code"),
        ]


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
            models.CheckConstraint(condition=CURRENCY_CODE, name="withdrawal_currency_code"),
            models.CheckConstraint(
                condition=Q(status__in=WithdrawalStatus.values), name="withdrawal_status_valid"
            ),
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="withdrawal_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount} {self.currency} ({self.status})"
