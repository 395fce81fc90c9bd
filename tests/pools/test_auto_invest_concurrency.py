"""Auto-invest under real concurrency on PostgreSQL: several runs of the same listing at once
(the task retried while the first still runs, the beat job) with 30 auto-investors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Count, Sum

from marketplace.models import Investment, Listing
from paymint.core import clock
from pools.enums import AutoInvestOutcome
from pools.models import AutoInvestLog
from pools.services import auto_invest_listing, auto_invest_rule_set
from tests.helpers import (
    LISTING_DAY,
    assert_books_balanced,
    deposit,
    listed_invoice,
    run_in_threads,
)

D = Decimal
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_thirty_auto_investors_and_four_concurrent_runs(seller, make_investor):
    listing = listed_invoice(seller)
    investors = [make_investor() for _ in range(30)]
    for person in investors:
        deposit(person, D("500.00"))
        auto_invest_rule_set(
            investor=person,
            currencies=["EUR"],
            grades=["A", "B", "C", "D", "E"],
            amount_per_invoice=D("50.00"),
            max_per_debtor=D("500.00"),
        )

    def work(_):
        with clock.frozen_at(LISTING_DAY):
            return auto_invest_listing(listing_id=listing.pk)

    results = run_in_threads(4, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    listing = Listing.objects.get(pk=listing.pk)
    investments = Investment.objects.filter(listing=listing)
    # Never overfunded, one investment per investor at most, each the rule's amount or what
    # was left, the log agreeing with the investments.
    total = investments.aggregate(total=Sum("amount"))["total"]
    assert total == listing.funded_amount <= listing.advance_amount
    per_investor = investments.values("investor").annotate(n=Count("id"))
    assert {row["n"] for row in per_investor} == {1}
    assert listing.funded_amount == listing.advance_amount  # 30 x 50 covers the advance
    invested_logs = AutoInvestLog.objects.filter(
        listing=listing, outcome=AutoInvestOutcome.INVESTED
    )
    assert invested_logs.count() == investments.count()
    assert set(invested_logs.values_list("investment_id", flat=True)) == set(
        investments.values_list("id", flat=True)
    )
    # The fair order: the first investors in rule order are the ones served.
    served = set(investments.values_list("investor_id", flat=True))
    first = [p.pk for p in investors][: len(served) - 1]
    assert set(first) <= served
    assert_books_balanced()
