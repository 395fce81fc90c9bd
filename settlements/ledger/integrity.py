"""The ledger's rules as the database enforces them, and the one audited way around them.

On PostgreSQL, migration ``settlements.0007_ledger_enforced_by_database`` installs:

- a deferred constraint trigger (``settlements_posting_balanced``): at commit, every journal
  entry that received postings sums to zero per currency (legs are non-zero: a lone leg never
  balances), has each leg in its entry's and its account's currency, and leaves no debited
  account that may not go negative below zero (the accounts are locked, so two raw debits
  cannot both pass). Since ``settlements.0011`` it runs once per entry, not per posting: a
  statement-level trigger on the postings queues the entries each INSERT touched
  (``settlements_entry_unchecked``, empty outside a transaction) and the constraint trigger
  sits on that queue;
- immutability triggers: UPDATE and DELETE of postings and journal entries, and any change of
  a ledger account but its ``updated_at`` (key, kind, currency, owner, invoice,
  ``may_go_negative``) or its deletion, are refused with SQLSTATE 42501
  (``insufficient_privilege``);
- CHECK constraints on the columns with a rule (currency codes, kinds, signs of amounts).

A violation raises ``django.db.IntegrityError`` (the balance trigger, SQLSTATE 23514) or
``django.db.ProgrammingError`` (immutability, 42501) from the statement or from the commit.
``TRUNCATE`` fires no row trigger (the test suite's flush uses it); production roles should
not hold the TRUNCATE privilege on the ledger's tables (docs/operations.md).

SQLite (the embedded demo) has none of the triggers: the posting engine's own checks
(:func:`~settlements.ledger.posting.ledger_post`) are the only ones there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

#: The PostgreSQL setting the immutability triggers read (``SET LOCAL``: one transaction).
OVERRIDE_SETTING = "paymint.ledger_override"


@contextmanager
def ledger_override(reason: str) -> Iterator[None]:
    """Let the statements run inside the block UPDATE or DELETE ledger rows, each one logged.

    The documented escape of the immutability triggers, for an operator's repair or a
    retention job that would have to remove ledger rows (none does: journal entries are kept
    forever). Every row the triggers let through is written, with ``reason``, the PostgreSQL
    role and the old row, to :class:`~settlements.ledger.models.LedgerOverride` in the same
    transaction; that table cannot be changed. The balance trigger is not relaxed: an entry
    must still balance at commit.

    Runs in a transaction (a savepoint inside a longer one); the setting is transaction-local
    and is cleared when the block ends: reset on success, rolled back with the savepoint on an
    error. A no-op on SQLite.

    Raises:
        ValueError: ``reason`` is blank.
    """
    if not reason.strip():
        raise ValueError("ledger_override needs a reason")
    postgresql = connection.vendor == "postgresql"
    with transaction.atomic():
        if postgresql:
            _set_override(reason.strip())
        yield
        if postgresql:
            _set_override("")


def _set_override(value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [OVERRIDE_SETTING, value])
