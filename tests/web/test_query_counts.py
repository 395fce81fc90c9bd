"""List pages run a fixed number of queries whatever the number of rows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from marketplace.services import investment_create
from settlements.services import withdrawal_request
from tests.factories import ListingFactory
from tests.helpers import deposit

pytestmark = pytest.mark.django_db

# Pinned query counts (session + user + the header bell's unread count = 3 of each).
SELLER_DASHBOARD_QUERIES = 11  # + receivables by maturity
MARKETPLACE_QUERIES = 6  # + the investor's approved KYC (marketplace_access_check)
# + allocation by debtor, open positions (upcoming/overdue/expected flows), realised cash flows
INVESTOR_DASHBOARD_QUERIES = 13  # + the pools where the investor holds shares (pools_tags)
WALLET_QUERIES = 7
INVESTMENT_STATEMENT_QUERIES = 5  # session, user, bell, the investment, its lines
WITHDRAW_PAGE_QUERIES = 4  # session, user, bell, balances


@pytest.fixture
def market(seller, make_investor, business_day):
    """Three listings (factories: the counts do not depend on what a document said); an
    investor with cash to fund them."""
    listings = [ListingFactory(seller=seller) for _ in range(3)]
    investor = make_investor()
    deposit(investor, "2000.00")
    return {"seller": seller, "listings": listings, "investor": investor}


def _invest(investor, listing, amount="60.00"):
    return investment_create(investor=investor, listing=listing, amount=amount)


def assert_constant(django_assert_num_queries, client, url, expected, grow):
    """The page costs ``expected`` queries before and after ``grow()`` adds rows."""
    with django_assert_num_queries(expected):
        first = client.get(url)
    assert first.status_code == 200
    grow()
    with django_assert_num_queries(expected):
        second = client.get(url)
    assert second.status_code == 200
    return first, second


def test_seller_dashboard(market, login, django_assert_num_queries):
    seller, listings = market["seller"], market["listings"]
    client = login(seller)
    first, second = assert_constant(
        django_assert_num_queries,
        client,
        reverse("seller-dashboard"),
        SELLER_DASHBOARD_QUERIES,
        lambda: ListingFactory(seller=seller),
    )
    assert len(second.context["page"].object_list) == len(listings) + 1


def test_marketplace(market, login, django_assert_num_queries):
    client = login(market["investor"])
    first, second = assert_constant(
        django_assert_num_queries,
        client,
        reverse("marketplace") + "?sort=amount",
        MARKETPLACE_QUERIES,
        lambda: ListingFactory(seller=market["seller"]),
    )
    assert len(first.context["page"].object_list) == 3
    assert len(second.context["page"].object_list) == 4


def test_investor_dashboard(market, login, django_assert_num_queries):
    investor, listings = market["investor"], market["listings"]
    _invest(investor, listings[0])
    client = login(investor)
    first, second = assert_constant(
        django_assert_num_queries,
        client,
        reverse("investor-dashboard"),
        INVESTOR_DASHBOARD_QUERIES,
        lambda: (_invest(investor, listings[1]), _invest(investor, listings[2])),
    )
    assert len(second.context["page"].object_list) == 3


def test_wallet(market, login, django_assert_num_queries):
    investor, listings = market["investor"], market["listings"]
    client = login(investor)
    first, second = assert_constant(
        django_assert_num_queries,
        client,
        reverse("wallet"),
        WALLET_QUERIES,
        lambda: (
            _invest(investor, listings[0]),
            deposit(investor, "5.00"),
            withdrawal_request(user=investor, amount="10.00", currency="EUR"),
            withdrawal_request(user=investor, amount="20.00", currency="EUR"),
        ),
    )
    assert len(second.context["page"].object_list) == 5
    assert len(second.context["withdrawals"]) == 2


def test_investment_statement(market, login, django_assert_num_queries):
    import datetime as dt

    from django.test import TestCase

    from paymint.core import clock
    from settlements.services import bank_event_apply
    from tests.helpers import bank_event

    investor, listing = market["investor"], market["listings"][0]
    investment, _ = investment_create(investor=investor, listing=listing, amount="60.00")
    # Fund the rest too, so that the invoice disburses and repayments reach the investor.
    rest = listing.advance_amount - listing.funded_amount - investment.amount
    investment_create(investor=investor, listing=listing, amount=str(rest))
    invoice = listing.invoice

    def repay():
        for n, amount in enumerate(["50.00", "75.00"]):  # the face value (125.00) in two
            with (
                clock.frozen_at(listing.due_date + dt.timedelta(days=n)),
                TestCase.captureOnCommitCallbacks(execute=True),
            ):
                bank_event_apply(
                    payload=bank_event(
                        f"evt_q{n}", "repayment.received", invoice.repayment_reference, amount
                    )
                )

    client = login(investor)
    first, second = assert_constant(
        django_assert_num_queries,
        client,
        reverse("investment-statement", args=[investment.public_id]),
        INVESTMENT_STATEMENT_QUERIES,
        repay,
    )
    assert len(first.context["lines"]) == 2  # both fundings of this invoice
    assert len(second.context["lines"]) > 2


def test_withdraw_page(market, login, django_assert_num_queries):
    investor = market["investor"]
    client = login(investor)
    assert_constant(
        django_assert_num_queries,
        client,
        reverse("withdraw"),
        WITHDRAW_PAGE_QUERIES,
        lambda: (deposit(investor, "5.00", currency="USD"), deposit(investor, "7.00")),
    )
