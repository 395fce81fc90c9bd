"""Set-based writes (paymint.core.db) against PostgreSQL: values round-trip exactly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.db import DataError, connection, transaction

from accounts.models import User
from paymint.core.db import (
    advisory_lock_key,
    advisory_xact_lock,
    array_param,
    insert_rows,
    update_columns,
)
from settlements.enums import AccountKind
from settlements.models import JournalEntry, LedgerAccount, Posting
from tests.helpers import make_user

TRICKY = ["plain", "", "NULL", "null", "a,b", "{braces}", 'say "hi"', "back\\slash",
          "\\\"", " padded ", "tab\tnew\nline", "é € 漢", None]


def roundtrip(values, cast: str):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{cast}[]", [array_param(values)])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_array_param_round_trips_strings_that_need_quoting():
    assert isinstance(array_param(TRICKY), str)
    assert roundtrip(TRICKY, "varchar") == TRICKY


@pytest.mark.django_db
def test_array_param_round_trips_decimals_ints_dates_and_bools():
    decimals = [D("0.0000001"), D("-12.3400000"), D("9999999999999.99"), D("0"), None]
    assert roundtrip(decimals, "numeric(20,7)") == [
        D("1E-7"), D("-12.3400000"), D("9999999999999.9900000"), D("0E-7"), None]
    assert roundtrip([1, -2, 2**40], "bigint") == [1, -2, 2**40]
    days = [dt.date(2026, 2, 28), None, dt.date(1999, 12, 31)]
    assert roundtrip(days, "date") == days
    assert roundtrip([True, False, None], "boolean") == [True, False, None]


def test_array_param_leaves_other_types_to_the_driver():
    import uuid

    ids = [uuid.uuid4(), uuid.uuid4()]
    assert array_param(ids) == ids


@pytest.fixture
def entry_and_accounts(db):
    entry = JournalEntry.objects.create(kind="DEPOSIT", idempotency_key="db-test", currency="EUR",
                                        effective_date=dt.date(2026, 1, 5), description="test")
    accounts = [
        LedgerAccount.objects.create(key=f"{AccountKind.PLATFORM_BANK_CLEARING}:EUR:{i}",
                                     kind=AccountKind.PLATFORM_BANK_CLEARING, currency="EUR",
                                     may_go_negative=True)
        for i in range(3)
    ]
    return entry, accounts


def test_insert_rows_writes_every_row_with_its_values(entry_and_accounts):
    entry, accounts = entry_and_accounts
    memos = ['x "quoted", {braced}', "", "back\\slash"]
    with transaction.atomic():
        count = insert_rows(
            Posting,
            columns={"leg": [0, 1, 2], "account": [a.pk for a in accounts],
                     "amount": [D("-3.50"), D("1.25"), D("2.25")], "memo": memos},
            constants={"entry": entry.pk, "currency": "EUR"},
        )
    assert count == 3
    rows = list(entry.postings.order_by("leg").values_list(
        "leg", "account_id", "amount", "currency", "memo"))
    assert rows == [(0, accounts[0].pk, D("-3.50"), "EUR", memos[0]),
                    (1, accounts[1].pk, D("1.25"), "EUR", memos[1]),
                    (2, accounts[2].pk, D("2.25"), "EUR", memos[2])]
    assert all(p.created_at is not None for p in entry.postings.all())


def test_insert_rows_refuses_missing_and_unknown_fields_before_writing(entry_and_accounts):
    entry, accounts = entry_and_accounts
    with pytest.raises(ValueError, match="no value for memo"):
        insert_rows(Posting, columns={"leg": [0], "account": [accounts[0].pk],
                                      "amount": [D("1")]},
                    constants={"entry": entry.pk, "currency": "EUR"})
    with pytest.raises(ValueError, match="unknown field colour"):
        insert_rows(Posting, columns={"leg": [0], "colour": ["red"]})
    with pytest.raises(ValueError, match="unequal length"):
        insert_rows(Posting, columns={"leg": [0, 1], "account": [accounts[0].pk],
                                      "amount": [D("1")], "memo": [""]},
                    constants={"entry": entry.pk, "currency": "EUR"})
    assert not Posting.objects.exists()


def test_insert_rows_keeps_the_column_limits(entry_and_accounts):
    """The array cast drops varchar's length, so an overlong value is refused, not cut."""
    entry, accounts = entry_and_accounts
    with pytest.raises(DataError), transaction.atomic():
        insert_rows(Posting, columns={"leg": [0], "account": [accounts[0].pk],
                                      "amount": [D("1")], "memo": ["m" * 201]},
                    constants={"entry": entry.pk, "currency": "EUR"})
    assert not Posting.objects.exists()


def test_update_columns_sets_each_row_its_own_values_and_updated_at(db):
    """On users (the ledger's accounts are immutable in the database: settlements.0007)."""
    users = [make_user("INVESTOR", f"update-columns-{i}@example.com") for i in range(3)]
    for user in users:
        user.refresh_from_db()
    before = {u.pk: u.updated_at for u in users}
    update_columns(User, pks=[users[2].pk, users[0].pk],
                   columns={"is_active": [False, True], "first_name": ["Ute", "Ann"]})
    after = {u.pk: u for u in User.objects.filter(pk__in=before)}
    assert (after[users[2].pk].is_active, after[users[2].pk].first_name) == (False, "Ute")
    assert (after[users[0].pk].is_active, after[users[0].pk].first_name) == (True, "Ann")
    assert after[users[1].pk].first_name == users[1].first_name
    assert after[users[2].pk].updated_at > before[users[2].pk]
    assert after[users[1].pk].updated_at == before[users[1].pk]
    with pytest.raises(ValueError):
        update_columns(User, pks=[users[0].pk], columns={"first_name": []})


def test_many_values_selects_the_same_rows_as_a_list(entry_and_accounts):
    from paymint.core.db import many_values

    _, accounts = entry_and_accounts
    field = LedgerAccount._meta.get_field("key")
    keys = [accounts[0].key, accounts[2].key, "no-such-key", 'odd "key", {x}']
    by_array = LedgerAccount.objects.filter(key__in=many_values(keys, field))
    assert sorted(by_array.values_list("pk", flat=True)) == sorted([accounts[0].pk,
                                                                   accounts[2].pk])
    assert set(by_array) == set(LedgerAccount.objects.filter(key__in=keys))


def test_advisory_lock_key_is_a_stable_signed_64_bit_hash():
    # Pinned: every process (web, workers, another Python) must map a name to the same lock.
    assert advisory_lock_key("paymint:listing:seller:1") == -430038472179791427
    assert advisory_lock_key("x") == 3274422879871479876
    assert -(2**63) <= advisory_lock_key("paymint:listing:debtor:TAX:DE123") < 2**63


@pytest.mark.django_db(transaction=True)
def test_advisory_xact_lock_is_held_until_the_transaction_ends():
    import threading

    def other_connection_gets(name: str) -> bool:
        """Whether another connection can take the lock now (pg_try_advisory_xact_lock)."""
        got: list[bool] = []

        def target():
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("SELECT pg_try_advisory_xact_lock(%s)",
                                   [advisory_lock_key(name)])
                    got.append(cursor.fetchone()[0])
            finally:
                connection.close()

        thread = threading.Thread(target=target)
        thread.start()
        thread.join(timeout=30)
        return got[0]

    with pytest.raises(RuntimeError):
        advisory_xact_lock("paymint:test:a")  # autocommit: it would be released at once
    with transaction.atomic():
        advisory_xact_lock("paymint:test:b", "paymint:test:a", "paymint:test:a")
        assert not other_connection_gets("paymint:test:a")
        assert not other_connection_gets("paymint:test:b")
        assert other_connection_gets("paymint:test:c")
    assert other_connection_gets("paymint:test:a")
