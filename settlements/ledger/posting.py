"""The posting engine of the double-entry ledger.

Every money movement goes through :func:`ledger_post`: one balanced, immutable
:class:`~settlements.models.JournalEntry`, idempotent by its key, with a no-negative-balance
check made under row locks inside the caller's transaction.

Lock order (kept here, used by every service that moves money): first the business rows the
movement is about (the invoice's ``Listing``, then its ``Invoice``; a settlement's or a
withdrawal's own row), then the ledger accounts the transaction will debit, all of them in ONE
:func:`lock_accounts` call (ascending ``id``) made before any other account lock. A transaction
never takes a second batch of account locks: it works out every account it will debit before
the first lock (a recourse also locks the escrow its distribution debits), and the locks
:func:`ledger_post` takes are then re-locks of rows already held (no-ops). A fixed order means
concurrent movements serialize instead of deadlocking.

The one exception is a funding (:func:`settlements.ledger.funding_accounts_lock`), which takes
the investor's cash first and its listing last, with the listing's conditional update, so that
fundings of one hot invoice hold its listing only for that update and the commit (issue #19).
It cannot deadlock: no transaction that holds a listing, an invoice or an escrow waits for an
investor's cash (refunds and distributions only credit it). A funding that fills its listing
then locks the escrow its disbursement debits, a second batch; every debit of an escrow runs
under its listing's lock, which the funding then holds, so that batch never waits.

Account locks are ``FOR NO KEY UPDATE``, never ``FOR UPDATE``: they guard balances against
concurrent debits. A credit takes no explicit lock, but the foreign-key check of its posting
(deferred to commit by Django) takes ``FOR KEY SHARE`` on the account; that conflicts with
``FOR UPDATE``, not with ``FOR NO KEY UPDATE``. With ``FOR UPDATE`` a transaction crediting an
account that another one holds waits for it at commit, outside any order: a recourse holding the
seller's cash and crediting the investors, against an investor's funding that holds the
investor's cash and credits the same seller, deadlocked
(``tests/settlements/test_concurrency_lock_order.py``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from paymint.core.db import insert_rows, many_values
from paymint.core.errors import ApplicationError
from paymint.core.idempotency import IdempotencyKeyReused
from paymint.core.money import MONEY_ROUNDING, minor_unit
from paymint.core.queue import enqueue_on_commit

from .enums import MAY_GO_NEGATIVE, AccountKind, EntryKind
from .error_codes import LedgerError
from .models import JournalEntry, LedgerAccount, Posting


class UnbalancedEntry(ApplicationError):
    code = LedgerError.UNBALANCED_ENTRY
    http_status = 500


class IdempotencyConflict(IdempotencyKeyReused):
    """An entry key was reused for a different movement: refused, never silently dropped."""


class InsufficientFunds(ApplicationError):
    """An account that must not go negative would."""

    code = LedgerError.INSUFFICIENT_FUNDS
    http_status = 409


@dataclass(frozen=True, slots=True)
class AccountRef:
    """What posting needs to know of an account, read without building a model instance
    (:func:`ledger_accounts_for_owners` returns these for the thousand-leg entries)."""

    pk: int
    key: str
    kind: str
    currency: str
    may_go_negative: bool


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of a movement: ``amount`` (signed, currency units) on ``account``."""

    account: LedgerAccount | AccountRef
    amount: Decimal
    memo: str = ""


def account_key(kind: str, currency: str, *, owner_id: int | None, invoice_id: int | None) -> str:
    parts = [kind, currency]
    if owner_id is not None:
        parts.append(f"user={owner_id}")
    if invoice_id is not None:
        parts.append(f"invoice={invoice_id}")
    return ":".join(parts)


def ledger_account(
    kind: str, currency: str, *, owner=None, invoice=None
) -> LedgerAccount:
    """The account of ``kind`` in ``currency`` for ``owner`` (a user) or ``invoice``, created on
    first use. Platform accounts have neither owner nor invoice."""
    key = account_key(
        kind, currency,
        owner_id=owner.pk if owner is not None else None,
        invoice_id=invoice.pk if invoice is not None else None,
    )
    account, _ = LedgerAccount.objects.get_or_create(
        key=key,
        defaults={
            "kind": kind,
            "currency": currency,
            "owner": owner,
            "invoice": invoice,
            "may_go_negative": kind in MAY_GO_NEGATIVE,
        },
    )
    return account


def ledger_accounts_by_key(keys: Iterable[str]) -> dict[str, LedgerAccount]:
    """The existing accounts among ``keys`` (:func:`account_key`), ``{key: account}``, in one
    query; none is created (e.g. read before a transaction that may be refused)."""
    return {a.key: a for a in LedgerAccount.objects.filter(key__in=list(keys))}


def ledger_accounts_for_owners(
    kind: str, currency: str, owner_ids: Iterable[int]
) -> dict[int, AccountRef]:
    """The ``kind`` accounts of many users at once: ``{user id: account}``, creating the
    missing ones. A constant number of queries however many owners, and no model instances
    (used by settlement and refunds, a leg per investor)."""
    keys = {owner_id: account_key(kind, currency, owner_id=owner_id, invoice_id=None)
            for owner_id in owner_ids}

    def read() -> dict[str, AccountRef]:
        wanted = many_values(list(keys.values()), LedgerAccount._meta.get_field("key"))
        rows = LedgerAccount.objects.filter(key__in=wanted).values_list(
            "pk", "key", "kind", "currency", "may_go_negative")
        return {row[1]: AccountRef(*row) for row in rows}

    found = read()
    missing = [
        LedgerAccount(key=key, kind=kind, currency=currency, owner_id=owner_id,
                      may_go_negative=kind in MAY_GO_NEGATIVE)
        for owner_id, key in keys.items() if key not in found
    ]
    if missing:
        LedgerAccount.objects.bulk_create(missing, ignore_conflicts=True)
        found = read()
    return {owner_id: found[key] for owner_id, key in keys.items()}


def platform_account(kind: str, currency: str) -> LedgerAccount:
    """A platform-owned account (fee revenue, bank clearing, suspense)."""
    if kind not in (AccountKind.PLATFORM_FEE_REVENUE, AccountKind.PLATFORM_BANK_CLEARING,
                    AccountKind.SUSPENSE):
        raise ValueError(f"{kind} is not a platform account kind")
    return ledger_account(kind, currency)


def lock_accounts(accounts: Iterable[LedgerAccount | AccountRef]) -> None:
    """Lock ``accounts`` ``FOR NO KEY UPDATE`` in ascending id order (the ledger's fixed lock
    order), until commit. Call it once per transaction with every account the transaction
    will debit; locking a row the transaction already holds is a no-op. The lock does not
    block the foreign-key checks of other transactions' postings crediting these accounts
    (``FOR KEY SHARE``, see the module docstring)."""
    ids = sorted({a.pk for a in accounts})
    if ids:
        list(LedgerAccount.objects.select_for_update(no_key=True).filter(pk__in=ids)
             .order_by("pk").values_list("pk", flat=True))


#: Storage precision of amounts (7 places, Stellar's). Database sums are brought back to it:
#: exact already on PostgreSQL's numeric, and it removes binary float noise on SQLite, whose
#: SUM works in doubles.
STORAGE_QUANTUM = Decimal("0.0000001")


def exact_sum(total) -> Decimal:
    """A database ``SUM`` of amounts as an exact Decimal at storage precision (0 for NULL)."""
    if total is None:
        return Decimal(0)
    return Decimal(str(total)).quantize(STORAGE_QUANTUM) + 0  # "+ 0" turns -0 into 0


def account_balance(account: LedgerAccount) -> Decimal:
    """Balance of ``account`` derived from its postings (currency units)."""
    return exact_sum(
        Posting.objects.filter(account=account).aggregate(total=Sum("amount"))["total"]
    )


#: One account's posted balance as an SQL scalar subquery, ``%s`` the account's id: for a
#: caller that reads it in one statement with its own checks, after this transaction locked
#: the account (:func:`settlements.ledger.funding_cash_balance_sql`). Same sum as
#: :func:`balances` (convert the result with :func:`exact_sum`).
BALANCE_SUBQUERY_SQL = (
    f'(SELECT SUM("amount") FROM "{Posting._meta.db_table}" WHERE "account_id" = %s)'  # noqa: S608  # nosec B608 - names from code, values bound
)


def balances(accounts: Sequence[LedgerAccount | AccountRef]) -> dict[int, Decimal]:
    """Balances of several accounts in one query: ``{account_id: balance}``."""
    rows = (
        Posting.objects.filter(account_id__in=[a.pk for a in accounts])
        .values("account_id")
        .annotate(total=Sum("amount"))
    )
    found = {row["account_id"]: exact_sum(row["total"]) for row in rows}
    return {a.pk: found.get(a.pk, Decimal(0)) for a in accounts}


def ledger_post(
    *,
    kind: str,
    idempotency_key: str,
    currency: str,
    legs: Sequence[Leg],
    effective_date: dt.date,
    description: str,
    invoice=None,
    actor=None,
    accounts_locked: bool = False,
    new_key: bool = False,
    balances_read: dict[int, Decimal] | None = None,
) -> JournalEntry:
    """Write one balanced journal entry, or return the entry already written under
    ``idempotency_key``.

    ``accounts_locked``: the caller already holds this transaction's locks on the debited
    accounts (:func:`lock_accounts`), so they are not locked again (one statement less).
    ``new_key``: the key was made for this call (a fresh UUID): no entry can hold it yet, so
    none is looked up (the unique key still refuses a duplicate).
    ``balances_read``: ``{account id: balance}`` of the debited accounts, read by the caller
    in a statement after this transaction locked them (with ``accounts_locked``); they are
    not read again here. An account missing from it is read here.

    Must run inside the caller's transaction (it is one step of a business operation). Legs
    with a zero amount are dropped; amounts must already be rounded to the currency's minor unit.
    Debited accounts that must not go negative (all but ``MAY_GO_NEGATIVE`` kinds) are locked
    (:func:`lock_accounts`) and checked against their posted balance. This is the
    transaction's one batch of account locks, or a no-op re-lock when the caller locked them
    already (a transaction that locks accounts itself, or posts several entries, locks all of
    them first).

    Raises:
        UnbalancedEntry: legs do not sum to zero, mix currencies, or are not in minor units.
        InsufficientFunds: a debited account would go below zero.
        IdempotencyConflict: the key was already used for an entry with other legs.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("ledger_post must be called inside transaction.atomic()")
    legs = [leg for leg in legs if leg.amount != 0]
    existing = (None if new_key
                else JournalEntry.objects.filter(idempotency_key=idempotency_key).first())
    if existing is not None:
        posted = sorted(existing.postings.values_list("account_id", "amount"))
        if posted != sorted((leg.account.pk, leg.amount) for leg in legs):
            raise IdempotencyConflict(
                f"Entry {idempotency_key} was already posted with other legs.",
            )
        return existing
    if len(legs) < 2:
        raise UnbalancedEntry("An entry needs at least two non-zero legs.")
    total = Decimal(0)
    unit = minor_unit(currency)
    # quantize_money(amount) != amount, in one decimal context for the whole entry.
    with localcontext() as ctx:
        ctx.prec = 38
        for leg in legs:
            if leg.account.currency != currency:
                raise UnbalancedEntry(f"Leg on {leg.account.key} is not in {currency}.")
            if leg.amount.quantize(unit, rounding=MONEY_ROUNDING) != leg.amount:
                raise UnbalancedEntry(
                    f"Leg amount {leg.amount} is not in {currency} minor units.")
            total += leg.amount
    if total != 0:
        raise UnbalancedEntry(f"Entry {idempotency_key} does not balance (off by {total}).")

    debits: dict[int, Decimal] = defaultdict(Decimal)
    by_id: dict[int, LedgerAccount] = {}
    for leg in legs:
        by_id[leg.account.pk] = leg.account
        if leg.amount < 0 and not leg.account.may_go_negative:
            debits[leg.account.pk] += -leg.amount
    if debits:
        guarded = [by_id[pk] for pk in debits]
        if not accounts_locked:
            lock_accounts(guarded)
        known = balances_read if accounts_locked and balances_read else {}
        unread = [account for account in guarded if account.pk not in known]
        current = {**known, **(balances(unread) if unread else {})}
        for pk, needed in debits.items():
            if current[pk] < needed:
                raise InsufficientFunds(
                    f"Insufficient balance on {AccountKind(by_id[pk].kind).label.lower()}: "
                    f"{current[pk]} {currency} available, {needed} {currency} needed.",
                    code=LedgerError.INSUFFICIENT_FUNDS,
                )

    # No savepoint (two statements less): the entry is one step of the caller's transaction,
    # which fails as a whole when a write here fails.
    with transaction.atomic(savepoint=False):
        entry = JournalEntry.objects.create(
            kind=kind,
            idempotency_key=idempotency_key,
            currency=currency,
            effective_date=effective_date,
            description=description[:300],
            invoice=invoice,
            actor=actor,
        )
        # One INSERT ... SELECT FROM unnest(...) of plain values: no Posting instances (the
        # settlement of an invoice writes a leg per investor).
        insert_rows(
            Posting,
            columns={
                "leg": list(range(len(legs))),
                "account": [leg.account.pk for leg in legs],
                "amount": [leg.amount for leg in legs],
                "memo": [leg.memo[:200] for leg in legs],
            },
            constants={"entry": entry.pk, "currency": currency, "created_at": timezone.now()},
        )
    if kind in MONITORED_KINDS:
        # Transaction monitoring (AML rules) of the movement, after it committed.
        enqueue_on_commit("compliance.tasks.monitor_movement_task", entry.pk)
    return entry


#: Movements the AML rules look at (money in and out, and investments); distributions and
#: disbursements follow from these and are not monitored one by one.
MONITORED_KINDS = frozenset({EntryKind.DEPOSIT, EntryKind.FUNDING, EntryKind.WITHDRAWAL_HOLD,
                             EntryKind.WITHDRAWAL_PAID})


def trial_balance() -> dict[str, Decimal]:
    """Sum of all postings per currency. Zero in every currency when the books balance."""
    rows = Posting.objects.values("currency").annotate(total=Sum("amount")).order_by("currency")
    return {row["currency"]: exact_sum(row["total"]) for row in rows}


def unbalanced_entries() -> list[str]:
    """Idempotency keys of entries whose postings do not sum to zero (should always be empty)."""
    rows = Posting.objects.values("entry__idempotency_key").annotate(total=Sum("amount"))
    return [row["entry__idempotency_key"] for row in rows if exact_sum(row["total"]) != 0]
