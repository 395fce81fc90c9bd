"""The ledger's narrow API for the marketplace: a funding, the disbursement of the advance,
the refunds of a cancelled listing; and for the liquidity pools, a transfer between two
investors' cash accounts (a pool's cash is its platform-owned investor account).

The marketplace says *what* moved (amounts, the investor, the invoice); this module knows
*how*: the accounts (:func:`~settlements.ledger.posting.account_key`), their legs and the lock
batch of the ledger's lock order (see :mod:`settlements.ledger.posting`). The caller has
locked its business rows first (the listing, then the invoice:
:func:`marketplace.lock_objects.listing_and_invoice_lock`) and runs these inside its
transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from uuid import uuid4

from django.db import connection

from .enums import MAY_GO_NEGATIVE, AccountKind, EntryKind
from .models import JournalEntry, LedgerAccount
from .posting import (
    BALANCE_SUBQUERY_SQL,
    AccountRef,
    Leg,
    account_key,
    ledger_account,
    ledger_accounts_for_owners,
    ledger_post,
    lock_accounts,
    platform_account,
)


@dataclass
class FundingAccounts:
    """The investor's cash and the invoice's escrow for one funding: named before the caller's
    transaction by :func:`funding_accounts` (no query); :func:`funding_accounts_lock` locks the
    cash and reads the escrow (creating a missing one) inside it."""

    investor: object
    invoice: object
    currency: str
    cash: LedgerAccount | AccountRef | None = None
    escrow: LedgerAccount | AccountRef | None = None


def invoice_escrow_open(*, invoice, currency: str) -> None:
    """Create the invoice's escrow account in ``currency`` (when its listing is created, so
    that the listing's first fundings find it: a funding that had to create it would make the
    concurrent first fundings wait for its commit, the unique key's insert wait). Inside the
    caller's transaction; a no-op when it exists."""
    ledger_account(AccountKind.INVOICE_ESCROW, currency, invoice=invoice)


def funding_accounts(*, investor, invoice, currency: str) -> FundingAccounts:
    """The accounts a funding of ``invoice`` by ``investor`` posts on, not yet read: nothing is
    queried, created or locked here (so that a refused funding leaves nothing behind);
    :func:`funding_accounts_lock` reads them and locks the cash in one statement."""
    return FundingAccounts(investor=investor, invoice=invoice, currency=currency)


def _funding_accounts_sql() -> str:
    table = LedgerAccount._meta.db_table
    # Written out, read with a cursor into an AccountRef: the ORM's compile and a model
    # instance cost about 0.4 ms of CPU per funding (issue #19). The escrow's id is a scalar
    # subquery: FOR NO KEY UPDATE locks the rows of FROM only.
    return (
        f'SELECT "a"."id", "a"."may_go_negative", (SELECT "e"."id" FROM "{table}" "e" '  # noqa: S608  # nosec B608 - names from code, values bound
        f'WHERE "e"."key" = %s) FROM "{table}" "a" WHERE "a"."key" = %s FOR NO KEY UPDATE'
    )


def funding_accounts_lock(accounts: FundingAccounts) -> FundingAccounts:
    """Lock the investor's cash (``FOR NO KEY UPDATE``) and read the invoice escrow's id, in
    one statement; create a missing account.

    The cash is the transaction's first account batch: the funding debits it, and the lock
    serializes the investor's fundings of any listing (the investor's concentration check
    relies on it). The escrow is only credited here, which takes no lock: a funding on a hot
    invoice does not wait for the others before its listing update
    (:func:`marketplace.services.investment_create` takes the listing last). A funding that
    fills its listing debits the escrow when it disburses, after it holds the listing, and
    locks it then (:func:`disbursement_post`): every debit of an escrow happens under its
    listing's row lock, so that second batch never waits (see :mod:`.posting`).

    The escrow is opened with its listing (:func:`invoice_escrow_open`); one missing (a listing
    written without it, e.g. by ``seed_scale``) is created here, and a concurrent funding's
    insert of it waits for this commit and then reads it (:func:`~.posting.ledger_account`)."""
    cash_key = account_key(
        AccountKind.INVESTOR_CASH, accounts.currency, owner_id=accounts.investor.pk,
        invoice_id=None,
    )
    escrow_key = account_key(
        AccountKind.INVOICE_ESCROW, accounts.currency, owner_id=None,
        invoice_id=accounts.invoice.pk,
    )
    escrow_id = None
    if connection.features.has_select_for_no_key_update:
        with connection.cursor() as cursor:
            cursor.execute(_funding_accounts_sql(), [escrow_key, cash_key])
            row = cursor.fetchone()
        if row is not None:
            accounts.cash = AccountRef(pk=row[0], key=cash_key, kind=AccountKind.INVESTOR_CASH,
                                       currency=accounts.currency, may_go_negative=row[1])
            escrow_id = row[2]
    else:  # SQLite (the demo): no row locks; writers are serialized by the database
        accounts.cash = LedgerAccount.objects.filter(key=cash_key).first()
        escrow_id = (LedgerAccount.objects.filter(key=escrow_key)
                     .values_list("pk", flat=True).first())
    if accounts.cash is None:
        # Created by this transaction: no other transaction can lock it before commit.
        accounts.cash = ledger_account(
            AccountKind.INVESTOR_CASH, accounts.currency, owner=accounts.investor
        )
        escrow_id = (LedgerAccount.objects.filter(key=escrow_key)
                     .values_list("pk", flat=True).first())
    if escrow_id is None:
        accounts.escrow = ledger_account(
            AccountKind.INVOICE_ESCROW, accounts.currency, invoice=accounts.invoice
        )
    else:
        accounts.escrow = AccountRef(pk=escrow_id, key=escrow_key,
                                     kind=AccountKind.INVOICE_ESCROW,
                                     currency=accounts.currency,
                                     may_go_negative=AccountKind.INVOICE_ESCROW in MAY_GO_NEGATIVE)
    return accounts


def funding_cash_balance_sql(accounts: FundingAccounts) -> tuple[str, list]:
    """The investor's cash balance as an SQL scalar subquery and its parameters, for the
    caller to read in its own statement after :func:`funding_accounts_lock` (the funding reads
    it with its concentration check: one statement for both), then hand to
    :func:`funding_post` (``cash_balance``, converted with :func:`exact_sum`)."""
    return BALANCE_SUBQUERY_SQL, [accounts.cash.pk]


def funding_post(
    *, accounts: FundingAccounts, amount: Decimal, idempotency_key: str, effective_date: dt.date,
    cash_balance: Decimal | None = None,
) -> JournalEntry:
    """Investor cash -> invoice escrow, ``amount`` in the accounts' currency (locked by
    :func:`funding_accounts_lock`). Idempotent per investor and ``idempotency_key`` (an
    empty key: a new entry). ``cash_balance``: the cash account's balance as the caller read
    it after the lock (:func:`funding_cash_balance_sql`); None reads it here.

    Raises:
        InsufficientFunds: the investor's cash is short (409).
    """
    investor, invoice = accounts.investor, accounts.invoice
    return ledger_post(
        kind=EntryKind.FUNDING,
        idempotency_key=(
            f"funding:{investor.pk}:{idempotency_key}" if idempotency_key else f"funding:{uuid4()}"
        ),
        accounts_locked=True,  # funding_accounts_lock took them
        new_key=not idempotency_key,
        balances_read=None if cash_balance is None else {accounts.cash.pk: cash_balance},
        currency=accounts.currency,
        legs=[
            Leg(accounts.cash, -amount, "investment"),
            Leg(accounts.escrow, amount, "investment"),
        ],
        effective_date=effective_date,
        description=f"Funding of invoice {invoice.invoice_number}",
        invoice=invoice,
        actor=investor,
    )


def disbursement_post(
    *, invoice, currency: str, amount: Decimal, platform_fee: Decimal, effective_date: dt.date
) -> JournalEntry:
    """Pay the advance: invoice escrow ``-amount`` -> seller cash ``amount - platform_fee`` +
    platform fee revenue ``platform_fee``. Once per invoice. The escrow is the only account
    debited (held already by a filling funding's or the expiry's lock batch); the seller's
    cash and the fee revenue are credited, which locks nothing."""
    escrow = ledger_account(AccountKind.INVOICE_ESCROW, currency, invoice=invoice)
    seller_cash = ledger_account(AccountKind.SELLER_CASH, currency, owner=invoice.seller)
    revenue = platform_account(AccountKind.PLATFORM_FEE_REVENUE, currency)
    return ledger_post(
        kind=EntryKind.DISBURSEMENT,
        idempotency_key=f"disbursement:{invoice.public_id}",
        currency=currency,
        legs=[
            Leg(escrow, -amount, "advance paid out"),
            Leg(seller_cash, amount - platform_fee, "net advance"),
            Leg(revenue, platform_fee, "platform fee"),
        ],
        effective_date=effective_date,
        description=f"Advance for invoice {invoice.invoice_number}",
        invoice=invoice,
    )


def refund_post(
    *,
    invoice,
    currency: str,
    total: Decimal,
    refunds: list[tuple[int, Decimal]],
    reference: str,
    effective_date: dt.date,
) -> JournalEntry:
    """Give a cancelled listing's money back: invoice escrow -> each investor's cash, one
    entry: ``total`` (what the escrow holds) out, ``refunds`` (``(investor id, amount)`` in
    investment order) in; ``reference``, the listing's public id, makes the entry once per
    listing. A constant number of queries however many investors.

    Raises:
        UnbalancedEntry: the refunds do not add up to ``total``.
    """
    escrow = ledger_account(AccountKind.INVOICE_ESCROW, currency, invoice=invoice)
    legs = [Leg(escrow, -total, "listing cancelled")]
    cash_accounts = ledger_accounts_for_owners(
        AccountKind.INVESTOR_CASH, currency, [investor_id for investor_id, _ in refunds]
    )
    legs += [
        Leg(cash_accounts[investor_id], amount, "refund: listing cancelled")
        for investor_id, amount in refunds
    ]
    return ledger_post(
        kind=EntryKind.REFUND,
        idempotency_key=f"refund:{reference}",
        currency=currency,
        legs=legs,
        effective_date=effective_date,
        description=f"Refunds for cancelled listing of {invoice.invoice_number}",
        invoice=invoice,
    )


def investment_refunds_post(
    *, invoice, currency: str, refunds: list[tuple[str, int, Decimal]], effective_date: dt.date,
    reason: str,
) -> list[JournalEntry]:
    """Give each investor of a withdrawn listing their money back in full: one entry per
    investment, invoice escrow -> the investor's cash, keyed ``refund:investment:<public id>``
    (posted once per investment, however often the caller retries). ``refunds`` is
    ``(investment public id, investor id, amount)`` in investment order. The escrow is the one
    account debited, locked once (the transaction's batch) before the first entry.

    Raises:
        InsufficientFunds: the escrow holds less than the refunds (never, for a listing whose
            fundings are all in it).
    """
    if not refunds:
        return []
    escrow = ledger_account(AccountKind.INVOICE_ESCROW, currency, invoice=invoice)
    cash = ledger_accounts_for_owners(
        AccountKind.INVESTOR_CASH, currency, [investor_id for _, investor_id, _ in refunds]
    )
    lock_accounts([escrow])
    return [
        ledger_post(
            kind=EntryKind.REFUND,
            idempotency_key=f"refund:investment:{public_id}",
            currency=currency,
            legs=[Leg(escrow, -amount, reason),
                  Leg(cash[investor_id], amount, f"refund: {reason}")],
            effective_date=effective_date,
            description=f"Refund of an investment in invoice {invoice.invoice_number} "
            f"({reason})",
            invoice=invoice,
        )
        for public_id, investor_id, amount in refunds
    ]


#: The entry kinds :func:`cash_transfer_post` may write.
CASH_TRANSFER_KINDS = frozenset({EntryKind.POOL_SUBSCRIPTION, EntryKind.POOL_REDEMPTION})


def cash_transfer_post(
    *, payer, payee, currency: str, amount: Decimal, kind: str, idempotency_key: str,
    effective_date: dt.date, description: str, actor=None,
) -> JournalEntry:
    """Move ``amount`` (minor units of ``currency``) from ``payer``'s investor cash to
    ``payee``'s, one balanced entry of ``kind`` (:data:`CASH_TRANSFER_KINDS`), idempotent by
    ``idempotency_key``. Runs inside the caller's transaction, after its business row locks;
    the payer's cash, the only account debited, is its one account lock.

    Raises:
        InsufficientFunds: the payer's cash is short (409).
        ValueError: ``kind`` is not a transfer kind.
    """
    if kind not in CASH_TRANSFER_KINDS:
        raise ValueError(f"{kind} is not a cash transfer kind")
    source = ledger_account(AccountKind.INVESTOR_CASH, currency, owner=payer)
    target = ledger_account(AccountKind.INVESTOR_CASH, currency, owner=payee)
    return ledger_post(
        kind=kind,
        idempotency_key=idempotency_key,
        currency=currency,
        legs=[Leg(source, -amount, description[:200]), Leg(target, amount, description[:200])],
        effective_date=effective_date,
        description=description,
        actor=actor,
    )
