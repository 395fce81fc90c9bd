"""The ledger's day totals (``LedgerDayTotal``, settlements migration 0012): kept by PostgreSQL
with the postings, equal to the postings summed whatever was posted, changed under the
override or folded; the back office's balances and funded volume read them."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.test.utils import CaptureQueriesContext

from settlements.backoffice import balances_by_kind, dashboard_build
from settlements.enums import AccountKind, EntryKind
from settlements.ledger import (
    ledger_balances_by_kind,
    ledger_credits_by_month,
    ledger_day_totals_compact,
    ledger_day_totals_differences,
)
from settlements.ledger.integrity import ledger_override
from settlements.ledger.posting import Leg, exact_sum, ledger_account, ledger_post, platform_account
from settlements.models import JournalEntry, LedgerDayTotal, Posting
from settlements.services import books_verify
from tests.helpers import make_user

D = Decimal
START = dt.date(2026, 1, 1)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="kept by PostgreSQL triggers"),
]


def balances_from_postings(through=None) -> dict:
    """The reference: every posting summed per currency and account kind."""
    postings = Posting.objects.all()
    if through is not None:
        postings = postings.filter(entry__effective_date__lte=through)
    out: dict = defaultdict(dict)
    for row in postings.values("currency", "account__kind").annotate(total=Sum("amount")):
        out[row["currency"]][row["account__kind"]] = exact_sum(row["total"])
    return dict(out)


def funded_volume_from_postings(since) -> dict:
    out: dict = defaultdict(dict)
    rows = (Posting.objects.filter(entry__kind=EntryKind.FUNDING, amount__gt=0,
                                   entry__effective_date__gte=since)
            .annotate(month=TruncMonth("entry__effective_date"))
            .values("currency", "month").annotate(total=Sum("amount")))
    for row in rows:
        out[row["currency"]][row["month"]] = exact_sum(row["total"])
    return dict(out)


def random_books(seed: int, entries: int = 60) -> None:
    """``entries`` random balanced entries through the posting engine: deposits from the bank
    clearing, fundings and fees out of investors' cash (never below zero), transfers to
    sellers, in EUR and USD, over 90 business days, some with three legs, some in one
    transaction (several INSERT statements), an idempotent replay now and then."""
    rng = random.Random(seed)
    investors = [make_user("INVESTOR", f"tot-{seed}-{i}@example.com") for i in range(3)]
    seller = make_user("SELLER", f"tot-{seed}-seller@example.com")
    cash: dict = {}
    for currency in ("EUR", "USD"):
        for inv in investors:
            cash[(inv.pk, currency)] = [ledger_account(AccountKind.INVESTOR_CASH, currency,
                                                       owner=inv), D(0)]
    keys = []
    for n in range(entries):
        currency = rng.choice(("EUR", "USD"))
        day = START + dt.timedelta(days=rng.randrange(90))
        bank = platform_account(AccountKind.PLATFORM_BANK_CLEARING, currency)
        revenue = platform_account(AccountKind.PLATFORM_FEE_REVENUE, currency)
        seller_cash = ledger_account(AccountKind.SELLER_CASH, currency, owner=seller)
        investor = rng.choice(investors)
        account, balance = cash[(investor.pk, currency)]
        amount = D(rng.randrange(1, 500_000)) / 100
        if balance < amount or rng.random() < 0.4:
            kind, legs = EntryKind.DEPOSIT, [Leg(bank, -amount), Leg(account, amount)]
            cash[(investor.pk, currency)][1] += amount
        elif rng.random() < 0.5:
            fee = (amount / 10).quantize(D("0.01"))
            kind = EntryKind.FUNDING
            legs = [Leg(account, -amount), Leg(seller_cash, amount - fee), Leg(revenue, fee)]
            cash[(investor.pk, currency)][1] -= amount
        else:
            kind, legs = EntryKind.REFUND, [Leg(account, -amount), Leg(bank, amount)]
            cash[(investor.pk, currency)][1] -= amount
        key = f"tot-{seed}-{n}"
        with transaction.atomic():
            ledger_post(kind=kind, idempotency_key=key, currency=currency, legs=legs,
                        effective_date=day, description="random")
            if rng.random() < 0.2:  # a second entry, same transaction, another statement
                extra = D(rng.randrange(1, 10_000)) / 100
                ledger_post(kind=EntryKind.DEPOSIT, idempotency_key=key + "-b",
                            currency=currency, legs=[Leg(bank, -extra), Leg(account, extra)],
                            effective_date=day, description="random, same transaction")
                cash[(investor.pk, currency)][1] += extra
        keys.append((key, kind, currency, legs, day))
        if keys and rng.random() < 0.1:  # a replay writes nothing (idempotent)
            key, kind, currency, legs, day = rng.choice(keys)
            with transaction.atomic():
                ledger_post(kind=kind, idempotency_key=key, currency=currency, legs=legs,
                            effective_date=day, description="random")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_day_totals_equal_the_postings_after_random_postings_and_compaction(seed):
    random_books(seed)
    assert ledger_day_totals_differences() == []
    assert ledger_balances_by_kind() == balances_from_postings()
    through = START + dt.timedelta(days=40)
    assert ledger_balances_by_kind(through=through) == balances_from_postings(through)
    since = dt.date(2026, 2, 1)
    assert ledger_credits_by_month(entry_kind=EntryKind.FUNDING, since=since) == \
        funded_volume_from_postings(since)

    keys = LedgerDayTotal.objects.values(
        "effective_date", "entry_kind", "account_kind", "currency").distinct().count()
    rows = LedgerDayTotal.objects.count()
    assert rows > keys  # one row per statement and key until folded
    assert ledger_day_totals_compact() == rows - keys
    assert LedgerDayTotal.objects.count() == keys
    assert ledger_day_totals_compact() == 0  # nothing left to fold: safe to run twice
    assert ledger_day_totals_differences() == []
    assert ledger_balances_by_kind() == balances_from_postings()
    assert balances_by_kind() == balances_from_postings()  # the back office's read

    random_books(seed + 100, entries=20)  # posting goes on after a compaction
    assert ledger_day_totals_differences() == []
    assert ledger_balances_by_kind() == balances_from_postings()


def test_trial_balance_of_the_totals_is_zero_per_currency():
    random_books(7)
    for currency, kinds in ledger_balances_by_kind().items():
        assert sum(kinds.values(), D(0)) == 0, currency


def test_changes_under_the_override_move_the_totals_with_the_postings():
    random_books(11, entries=20)
    entry = JournalEntry.objects.filter(kind=EntryKind.DEPOSIT).order_by("id").first()
    legs = list(entry.postings.order_by("leg"))
    with transaction.atomic(), ledger_override("test: an operator's repair"):
        Posting.objects.filter(pk=legs[0].pk).update(amount=D("-1.00"))
        Posting.objects.filter(pk=legs[1].pk).update(amount=D("1.00"))
        JournalEntry.objects.filter(pk=entry.pk).update(
            effective_date=entry.effective_date + dt.timedelta(days=200),
            kind=EntryKind.REFUND)
    assert ledger_day_totals_differences() == []
    assert ledger_balances_by_kind() == balances_from_postings()
    with transaction.atomic(), ledger_override("test: an entry removed"):
        Posting.objects.filter(entry=entry).delete()
        entry.delete()
    assert ledger_day_totals_differences() == []
    assert ledger_balances_by_kind() == balances_from_postings()


def test_books_check_finds_a_total_that_differs_from_the_postings():
    random_books(5, entries=10)
    assert [f for f in books_verify(alert=False).findings if f.check == "cached_balance"] == []
    LedgerDayTotal.objects.create(effective_date=START, entry_kind=EntryKind.DEPOSIT,
                                  account_kind=AccountKind.INVESTOR_CASH, currency="EUR",
                                  amount=D("0.01"), credits=D("0.01"), postings=1)
    findings = [f for f in books_verify(alert=False).findings if f.check == "cached_balance"]
    assert [f.key for f in findings] == ["2026-01-01:DEPOSIT:INVESTOR_CASH:EUR"]


def test_back_office_index_reads_no_posting():
    random_books(3, entries=15)
    with CaptureQueriesContext(connection) as queries:
        board = dashboard_build(today=dt.date(2026, 3, 31))
    assert not [q["sql"] for q in queries if '"settlements_posting"' in q["sql"]]
    assert board.balances == balances_from_postings()
    assert board.books_balance
    assert board.volume_chart["datasets"]  # funded volume from the day totals
