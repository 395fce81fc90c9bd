"""The posting engine: balanced, immutable, idempotent, never overdrawn."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction

from settlements.enums import AccountKind, EntryKind
from settlements.ledger.posting import (
    InsufficientFunds,
    Leg,
    UnbalancedEntry,
    account_balance,
    balances,
    ledger_account,
    ledger_post,
    platform_account,
    trial_balance,
    unbalanced_entries,
)
from settlements.models import JournalEntry, LedgerAccount, Posting
from tests.helpers import assert_books_balanced, db_counts, make_user

D = Decimal
DAY = dt.date(2020, 11, 22)

pytestmark = pytest.mark.django_db


@pytest.fixture
def investor(db):
    return make_user("INVESTOR", "ledger-investor@example.com")


@pytest.fixture
def accounts(investor):
    return {
        "bank": platform_account(AccountKind.PLATFORM_BANK_CLEARING, "EUR"),
        "cash": ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=investor),
        "revenue": platform_account(AccountKind.PLATFORM_FEE_REVENUE, "EUR"),
    }


def post(legs, key="k1", currency="EUR", kind=EntryKind.DEPOSIT):
    with transaction.atomic():
        return ledger_post(
            kind=kind,
            idempotency_key=key,
            currency=currency,
            legs=legs,
            effective_date=DAY,
            description="test",
        )


def deposit_100(accounts, key="dep-1"):
    return post([Leg(accounts["bank"], D("-100.00")), Leg(accounts["cash"], D("100.00"))], key)


def test_balanced_entry_posts_legs_in_order(accounts):
    entry = deposit_100(accounts)
    postings = list(entry.postings.order_by("leg").values_list("leg", "account_id", "amount"))
    assert postings == [
        (0, accounts["bank"].pk, D("-100.00")),
        (1, accounts["cash"].pk, D("100.00")),
    ]
    assert (entry.kind, entry.currency, entry.effective_date) == ("DEPOSIT", "EUR", DAY)
    assert account_balance(accounts["cash"]) == D("100.00")
    assert account_balance(accounts["bank"]) == D("-100.00")  # clearing may go negative
    assert balances([accounts["cash"], accounts["revenue"]]) == {
        accounts["cash"].pk: D("100.00"),
        accounts["revenue"].pk: D("0"),
    }
    assert trial_balance() == {"EUR": D("0")}
    assert unbalanced_entries() == []


def test_three_leg_entry_and_zero_legs_are_dropped(accounts):
    deposit_100(accounts)
    entry = post(
        [
            Leg(accounts["cash"], D("-10.00")),
            Leg(accounts["bank"], D("9.00")),
            Leg(accounts["revenue"], D("1.00")),
            Leg(accounts["revenue"], D("0")),
        ],
        key="fee",
        kind=EntryKind.FUNDING,
    )
    assert entry.postings.count() == 3
    assert account_balance(accounts["cash"]) == D("90.00")
    assert_books_balanced()


@pytest.mark.parametrize(
    "legs",
    [
        lambda a: [Leg(a["bank"], D("-100.00")), Leg(a["cash"], D("99.99"))],
        lambda a: [Leg(a["bank"], D("-100.00"))],
        lambda a: [Leg(a["bank"], D("-100.00")), Leg(a["cash"], D("0"))],
        lambda a: [Leg(a["bank"], D("-0.005")), Leg(a["cash"], D("0.005"))],
        lambda a: [],
    ],
    ids=["off-by-a-cent", "one-leg", "one-non-zero-leg", "sub-minor-amounts", "no-legs"],
)
def test_unbalanced_entry_is_refused_and_nothing_is_written(accounts, legs):
    before = db_counts()
    with pytest.raises(UnbalancedEntry) as info:
        post(legs(accounts))
    assert info.value.code == "UNBALANCED_ENTRY"
    assert db_counts() == before
    assert not JournalEntry.objects.filter(idempotency_key="k1").exists()


def test_leg_in_another_currency_is_refused(accounts, investor):
    usd = ledger_account(AccountKind.INVESTOR_CASH, "USD", owner=investor)
    before = db_counts()
    with pytest.raises(UnbalancedEntry):
        post([Leg(accounts["bank"], D("-1.00")), Leg(usd, D("1.00"))])
    assert db_counts() == before


def test_insufficient_funds_is_refused_and_nothing_is_written(accounts):
    deposit_100(accounts)
    before = db_counts()
    with pytest.raises(InsufficientFunds) as info:
        post([Leg(accounts["cash"], D("-100.01")), Leg(accounts["revenue"], D("100.01"))], "x")
    assert (info.value.code, info.value.http_status) == ("INSUFFICIENT_FUNDS", 409)
    assert db_counts() == before
    assert account_balance(accounts["cash"]) == D("100.00")


def test_debits_on_one_account_are_summed_before_the_check(accounts):
    deposit_100(accounts)
    before = db_counts()
    with pytest.raises(InsufficientFunds):
        post(
            [
                Leg(accounts["cash"], D("-60.00")),
                Leg(accounts["cash"], D("-60.00")),
                Leg(accounts["revenue"], D("120.00")),
            ],
            "x",
        )
    assert db_counts() == before


def test_spending_the_whole_balance_is_allowed(accounts):
    deposit_100(accounts)
    post([Leg(accounts["cash"], D("-100.00")), Leg(accounts["revenue"], D("100.00"))], "all")
    assert account_balance(accounts["cash"]) == D("0")
    assert_books_balanced()


def test_idempotent_by_key(accounts):
    first = deposit_100(accounts, key="bank:evt_1")
    counts = db_counts()
    again = deposit_100(accounts, key="bank:evt_1")
    assert again.pk == first.pk
    assert db_counts() == counts
    assert account_balance(accounts["cash"]) == D("100.00")
    assert Posting.objects.filter(entry=first).count() == 2


def test_trial_balance_is_zero_per_currency(accounts, investor):
    deposit_100(accounts)
    usd_bank = platform_account(AccountKind.PLATFORM_BANK_CLEARING, "USD")
    usd_cash = ledger_account(AccountKind.INVESTOR_CASH, "USD", owner=investor)
    post([Leg(usd_bank, D("-5.00")), Leg(usd_cash, D("5.00"))], key="usd", currency="USD")
    assert trial_balance() == {"EUR": D("0"), "USD": D("0")}
    assert unbalanced_entries() == []


def test_trial_balance_and_unbalanced_entries_detect_a_corrupt_entry(accounts):
    """The checks the lifecycle relies on can fail: a leg written behind the engine's back
    (seen inside its transaction, which PostgreSQL's balance trigger refuses at commit:
    tests/settlements/test_ledger_database.py; rolled back here)."""
    entry = deposit_100(accounts)
    with transaction.atomic():
        Posting.objects.create(
            entry=entry, leg=9, account=accounts["cash"], amount=D("0.01"), currency="EUR"
        )
        assert trial_balance() == {"EUR": D("0.01")}
        assert unbalanced_entries() == [entry.idempotency_key]
        transaction.set_rollback(True)
    assert unbalanced_entries() == []


def test_accounts_are_created_once_per_natural_key(investor):
    first = ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=investor)
    second = ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=investor)
    assert first.pk == second.pk
    assert first.key == f"INVESTOR_CASH:EUR:user={investor.pk}"
    assert not first.may_go_negative
    assert platform_account(AccountKind.PLATFORM_BANK_CLEARING, "EUR").may_go_negative
    assert LedgerAccount.objects.filter(owner=investor).count() == 1


def test_platform_account_refuses_user_kinds():
    with pytest.raises(ValueError):
        platform_account(AccountKind.INVESTOR_CASH, "EUR")


@pytest.mark.django_db(transaction=True)
def test_ledger_post_outside_a_transaction_is_refused(accounts):
    with pytest.raises(RuntimeError):
        ledger_post(
            kind=EntryKind.DEPOSIT,
            idempotency_key="outside",
            currency="EUR",
            legs=[Leg(accounts["bank"], D("-1.00")), Leg(accounts["cash"], D("1.00"))],
            effective_date=DAY,
            description="x",
        )
    assert JournalEntry.objects.count() == 0
