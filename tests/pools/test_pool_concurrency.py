"""30 auto-investors and the pool race for listings, with several runs of each listing at
once, on PostgreSQL with real threads: no overfunding, every limit holds, each participant
invests at most once per listing, and the fair order rotates across listings (nobody is
served twice before everyone eligible was served once; the pool takes its turn like the
others)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Count, Sum

from marketplace.models import Investment, Listing
from paymint.core import clock
from pools.selectors import pool_nav
from pools.services import auto_invest_listing, auto_invest_rule_set, pool_create, pool_deposit
from tests.helpers import (
    LISTING_DAY,
    assert_books_balanced,
    deposit,
    listed_invoice,
    run_in_threads,
)

D = Decimal
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
TICKET = D("50.00")


def test_thirty_auto_investors_and_the_pool_race_for_listings(seller, staff, make_investor):
    with clock.frozen_at(LISTING_DAY):
        pool = pool_create(
            currency="EUR", actor=staff, max_listing_share=D("0.25"), cash_buffer_rate=D("0.10")
        )
    backer = make_investor()
    deposit(backer, D("1000.00"))
    with clock.frozen_at(LISTING_DAY):
        pool_deposit(pool=pool, investor=backer, amount="1000.00")
    investors = [make_investor() for _ in range(30)]
    for person in investors:
        deposit(person, D("200.00"))
        auto_invest_rule_set(
            investor=person,
            currencies=["EUR"],
            grades=["A", "B", "C", "D", "E"],
            amount_per_invoice=TICKET,
            max_per_debtor=D("1000.00"),
            cash_to_keep=D("20.00"),
        )
    listings = [listed_invoice(seller)] + [
        listed_invoice(seller, variant=f"race-{n}", invoice_number=f"RACE-{n}") for n in range(2, 6)
    ]
    served_by_listing = []
    for listing in listings:

        def work(_, listing_id=listing.pk):
            with clock.frozen_at(LISTING_DAY):
                return auto_invest_listing(listing_id=listing_id)

        results = run_in_threads(3, work)
        assert not [r for r in results if isinstance(r, BaseException)], results
        listing = Listing.objects.get(pk=listing.pk)
        investments = Investment.objects.filter(listing=listing)
        total = investments.aggregate(total=Sum("amount"))["total"] or 0
        assert total == listing.funded_amount <= listing.advance_amount
        assert {r["n"] for r in investments.values("investor").annotate(n=Count("id"))} <= {1}
        served_by_listing.append(set(investments.values_list("investor_id", flat=True)))
        pool_investment = investments.filter(investor_id=pool.account_id).first()
        if pool_investment is not None:  # its share of the listing, its buffer
            assert pool_investment.amount <= (listing.advance_amount * D("0.25"))
    # Every rule invests at most its ticket and keeps its cash to keep.
    per_investor = (
        Investment.objects.filter(investor__in=investors)
        .values("investor")
        .annotate(total=Sum("amount"), n=Count("id"))
    )
    assert all(row["total"] <= D("180.00") for row in per_investor)
    # Rotation: a participant is served a second time only once every participant was
    # served once (31 participants: 30 rules and the pool).
    seen: list[int] = []
    for served in served_by_listing:
        again = served & set(seen)
        if again:
            assert len(set(seen)) == 31, (len(set(seen)), again)
        seen.extend(sorted(served))
    assert pool.account_id in set(seen)
    with clock.frozen_at(LISTING_DAY):
        assert pool_nav(pool=pool).cash >= 0
    assert_books_balanced()
