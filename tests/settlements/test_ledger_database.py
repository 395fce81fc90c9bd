"""The books enforced by PostgreSQL: raw SQL that breaks a ledger rule is refused by the
database itself (triggers and CHECK constraints of migrations settlements.0007 and 0011),
whatever the application does. Deferred checks are fired with ``SET CONSTRAINTS ALL
IMMEDIATE``, which is what a commit does (every ``db`` test's teardown does it too, so the
whole suite runs with them on)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, ProgrammingError, connection, connections, transaction

from settlements.enums import AccountKind, EntryKind
from settlements.ledger.integrity import ledger_override
from settlements.ledger.posting import Leg, ledger_account, ledger_post, platform_account
from settlements.models import JournalEntry, LedgerAccount, LedgerOverride, Posting
from tests.helpers import make_user

D = Decimal
DAY = dt.date(2026, 11, 2)

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(db):
    investor = make_user("INVESTOR", "books-investor@example.com")
    return {
        "bank": platform_account(AccountKind.PLATFORM_BANK_CLEARING, "EUR"),
        "cash": ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=investor),
        "revenue": platform_account(AccountKind.PLATFORM_FEE_REVENUE, "EUR"),
        "usd_bank": platform_account(AccountKind.PLATFORM_BANK_CLEARING, "USD"),
    }


def sql(statement: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def commit_checks() -> None:
    """Fire the deferred constraint triggers now, as COMMIT would."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    sql("SET CONSTRAINTS ALL DEFERRED")


def raw_entry(key: str, currency: str = "EUR") -> int:
    return sql(
        "INSERT INTO settlements_journalentry (created_at, updated_at, public_id, kind,"
        " idempotency_key, currency, effective_date, description)"
        " VALUES (now(), now(), gen_random_uuid(), 'DEPOSIT', %s, %s, %s, 'raw') RETURNING id",
        [key, currency, DAY],
    )[0][0]


def raw_legs(entry_id: int, legs: list[tuple[int, LedgerAccount, str]], currency="EUR"):
    """One INSERT statement writing ``(leg, account, amount)`` rows."""
    values = ", ".join(["(%s, %s, %s, %s, %s, '', now())"] * len(legs))
    params: list = []
    for leg, account, amount in legs:
        params += [entry_id, leg, account.pk, D(amount), currency]
    sql(
        "INSERT INTO settlements_posting (entry_id, leg, account_id, amount, currency, memo,"
        f" created_at) VALUES {values}",
        params,
    )


def deposit(accounts, amount="100.00", key="dep-1"):
    with transaction.atomic():
        return ledger_post(
            kind=EntryKind.DEPOSIT,
            idempotency_key=key,
            currency="EUR",
            legs=[Leg(accounts["bank"], -D(amount)), Leg(accounts["cash"], D(amount))],
            effective_date=DAY,
            description="deposit",
        )


def refused_at_commit(match: str):
    return pytest.raises(IntegrityError, match=match)


# --- Balance at commit ----------------------------------------------------------------------


def test_engine_entries_pass_the_commit_checks(accounts):
    deposit(accounts)
    commit_checks()
    assert Posting.objects.count() == 2


def test_an_unbalanced_entry_is_refused_at_commit(accounts):
    with refused_at_commit("does not balance in EUR"), transaction.atomic():
        entry = raw_entry("raw-unbalanced")
        raw_legs(entry, [(0, accounts["bank"], "-100.00"), (1, accounts["cash"], "99.99")])
        commit_checks()
    assert not JournalEntry.objects.filter(idempotency_key="raw-unbalanced").exists()


def test_legs_written_by_several_statements_are_checked_at_commit_not_before(accounts):
    """Deferred: a leg alone is fine mid-transaction, the entry must balance at commit."""
    entry = raw_entry("raw-two-statements")
    raw_legs(entry, [(0, accounts["bank"], "-10.00")])
    raw_legs(entry, [(1, accounts["cash"], "10.00")])
    commit_checks()
    assert Posting.objects.filter(entry_id=entry).count() == 2


def test_a_leg_added_later_to_a_balanced_entry_is_refused(accounts):
    entry = deposit(accounts)
    commit_checks()
    with refused_at_commit("does not balance"), transaction.atomic():
        raw_legs(entry.pk, [(9, accounts["cash"], "0.01")])
        commit_checks()


def test_a_leg_inserted_between_legs_of_an_earlier_statement_is_checked(accounts):
    """The once-per-statement shortcut never skips a leg whose next leg another statement
    wrote (a gap filled later)."""
    entry = raw_entry("raw-gap")
    raw_legs(entry, [(0, accounts["bank"], "-5.00"), (5, accounts["cash"], "5.00")])
    commit_checks()
    with refused_at_commit("does not balance"), transaction.atomic():
        raw_legs(entry, [(2, accounts["revenue"], "1.00")])
        commit_checks()


def test_a_thousand_leg_entry_is_checked_as_a_whole(accounts):
    """One wrong leg among a thousand written by one statement is found."""
    investors = [
        ledger_account(
            AccountKind.INVESTOR_CASH, "EUR", owner=make_user("INVESTOR", f"leg{i}@example.com")
        )
        for i in range(3)
    ]
    legs = [(0, accounts["bank"], "-999.99")]
    legs += [(i + 1, investors[i % 3], "1.00") for i in range(999)]
    with refused_at_commit("does not balance in EUR"), transaction.atomic():
        raw_legs(raw_entry("raw-thousand"), legs)
        commit_checks()
    legs[0] = (0, accounts["bank"], "-999.00")
    raw_legs(raw_entry("raw-thousand-ok"), legs)
    commit_checks()


def test_a_single_leg_entry_is_refused(accounts):
    """Legs are non-zero (a CHECK), so a lone leg never balances."""
    with refused_at_commit("does not balance"), transaction.atomic():
        sql(
            "UPDATE settlements_ledgeraccount SET updated_at = now() WHERE id = %s",
            [accounts["bank"].pk],
        )  # allowed: not the account's identity
        entry = raw_entry("raw-one-leg")
        raw_legs(entry, [(0, accounts["revenue"], "1.00")])
        commit_checks()


def test_a_leg_in_another_currency_than_its_account_is_refused(accounts):
    with refused_at_commit("its account in USD"), transaction.atomic():
        entry = raw_entry("raw-currency")
        raw_legs(entry, [(0, accounts["usd_bank"], "-1.00"), (1, accounts["cash"], "1.00")])
        commit_checks()


def test_a_cash_account_cannot_be_overdrawn_behind_the_engine(accounts):
    deposit(accounts, "50.00")
    with refused_at_commit("would go negative"), transaction.atomic():
        entry = raw_entry("raw-overdraw")
        raw_legs(entry, [(0, accounts["cash"], "-50.01"), (1, accounts["bank"], "50.01")])
        commit_checks()
    # The whole balance can go; the bank clearing account may run negative.
    entry = raw_entry("raw-spend-all")
    raw_legs(entry, [(0, accounts["cash"], "-50.00"), (1, accounts["bank"], "50.00")])
    commit_checks()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_raw_debits_cannot_both_pass(accounts):
    """Each raw debit alone fits the balance; together they would overdraw it. The trigger
    locks the debited account at commit, so the second sees the first and is refused."""
    deposit(accounts, "30.00")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def debit(n: int) -> None:
        try:
            with transaction.atomic():
                entry = raw_entry(f"raw-race-{n}")
                raw_legs(entry, [(0, accounts["cash"], "-20.00"), (1, accounts["bank"], "20.00")])
                barrier.wait(timeout=10)
            outcomes.append("committed")
        except IntegrityError as exc:
            outcomes.append("refused" if "would go negative" in str(exc) else str(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=debit, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["committed", "refused"]
    balance = sum(Posting.objects.filter(account=accounts["cash"]).values_list("amount", flat=True))
    assert balance == D("10.00")


# --- Immutability ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE settlements_posting SET amount = amount * 2 WHERE entry_id = %s",
        "DELETE FROM settlements_posting WHERE entry_id = %s",
        "UPDATE settlements_journalentry SET description = 'edited' WHERE id = %s",
        "DELETE FROM settlements_journalentry WHERE id = %s",
    ],
)
def test_postings_and_entries_cannot_be_changed_or_deleted(accounts, statement):
    entry = deposit(accounts)
    with pytest.raises(ProgrammingError, match="is immutable"), transaction.atomic():
        sql(statement, [entry.pk])
    assert sorted(entry.postings.values_list("amount", flat=True)) == [D("-100"), D("100")]
    assert JournalEntry.objects.get(pk=entry.pk).description == "deposit"


@pytest.mark.parametrize(
    "change", ["kind = 'SELLER_CASH'", "currency = 'USD'", "owner_id = NULL", "key = 'other'"]
)
def test_an_account_keeps_its_identity(accounts, change):
    with pytest.raises(ProgrammingError, match="is immutable"), transaction.atomic():
        sql(f"UPDATE settlements_ledgeraccount SET {change} WHERE id = %s", [accounts["cash"].pk])
    with pytest.raises(ProgrammingError, match="is immutable"), transaction.atomic():
        sql("DELETE FROM settlements_ledgeraccount WHERE id = %s", [accounts["revenue"].pk])


def test_the_override_lets_a_change_through_and_logs_it(accounts):
    entry = deposit(accounts)
    with ledger_override("INC-42: wrong memo typed by ops"):
        sql("UPDATE settlements_posting SET memo = 'corrected' WHERE entry_id = %s", [entry.pk])
    commit_checks()
    logged = list(LedgerOverride.objects.values_list("table_name", "operation", "reason"))
    assert logged == [("settlements_posting", "UPDATE", "INC-42: wrong memo typed by ops")] * 2
    assert LedgerOverride.objects.first().old_row["memo"] == ""
    # The override ends with its block, and the log cannot be edited.
    with pytest.raises(ProgrammingError, match="is immutable"), transaction.atomic():
        sql("UPDATE settlements_posting SET memo = 'again' WHERE entry_id = %s", [entry.pk])
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        sql("DELETE FROM settlements_ledgeroverride")
    with pytest.raises(ValueError), ledger_override("  "):
        pass


def test_the_override_does_not_relax_the_balance(accounts):
    entry = deposit(accounts)
    with refused_at_commit("does not balance"), ledger_override("test"):
        sql("UPDATE settlements_posting SET amount = 1 WHERE entry_id = %s AND leg = 0", [entry.pk])
        raw_legs(entry.pk, [(7, accounts["revenue"], "1.00")])
        commit_checks()


# --- CHECK constraints ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        (
            "UPDATE settlements_ledgeraccount SET currency = 'eur'"
            " WHERE kind = 'PLATFORM_FEE_REVENUE'",
            "ledger_account_currency_code",
        ),
        (
            "INSERT INTO settlements_ledgeraccount (created_at, updated_at, public_id, key, kind,"
            " currency, may_go_negative) VALUES (now(), now(), gen_random_uuid(), 'x',"
            " 'INVESTOR_CASH', 'EUR', true)",
            "ledger_account_may_go_negative_by_kind",
        ),
        (
            "INSERT INTO settlements_journalentry (created_at, updated_at, public_id, kind,"
            " idempotency_key, currency, effective_date, description) VALUES (now(), now(),"
            " gen_random_uuid(), 'GIFT', 'k', 'EUR', '2026-01-01', '')",
            "journal_entry_kind_valid",
        ),
        (
            "INSERT INTO settlements_journalentry (created_at, updated_at, public_id, kind,"
            " idempotency_key, currency, effective_date, description) VALUES (now(), now(),"
            " gen_random_uuid(), 'DEPOSIT', 'k', 'eu1', '2026-01-01', '')",
            "journal_entry_currency_code",
        ),
        (
            "INSERT INTO settlements_bankevent (created_at, updated_at, event_id, event_type,"
            " reference, amount, currency, payload, status, error_code) VALUES (now(), now(), 'e',"
            " 'deposit.received', 'r', -1, 'EUR', '{}', 'APPLIED', '')",
            "bank_event_amount_positive",
        ),
    ],
)
def test_columns_with_a_rule_are_checked(accounts, statement, constraint):
    with (
        ledger_override("test: the CHECK stays"),
        pytest.raises(IntegrityError, match=constraint),
        transaction.atomic(),
    ):
        sql(statement)


def test_each_entry_is_queued_for_its_check_once_not_per_leg(accounts):
    """settlements.0011: the postings' statement trigger queues each entry it touched once
    (however many legs and statements); the commit check empties the queue."""
    first, second = raw_entry("raw-queue-1"), raw_entry("raw-queue-2")
    raw_legs(first, [(0, accounts["bank"], "-3.00"), (1, accounts["cash"], "1.00")])
    raw_legs(first, [(2, accounts["cash"], "2.00")])
    raw_legs(second, [(0, accounts["bank"], "-1.00"), (1, accounts["cash"], "1.00")])
    queued = "SELECT entry_id FROM settlements_entry_unchecked ORDER BY entry_id"
    assert sql(queued) == [(first,), (second,)]
    commit_checks()
    assert sql(queued) == []
