"""List pages run a fixed number of queries whatever the number of rows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from marketplace.services import investment_create
from settlements.services import withdrawal_request
from tests.conftest import deposit, listed_invoice

pytestmark = pytest.mark.django_db

# Pinned query counts (session + user = 2 of each).
SELLER_DASHBOARD_QUERIES = 9
MARKETPLACE_QUERIES = 4
INVESTOR_DASHBOARD_QUERIES = 8
WALLET_QUERIES = 6


@pytest.fixture
def market(seller, make_investor, business_day):
    """Three listings; an investor holding investments in two of them."""
    listings = [listed_invoice(seller, variant=f"v{n}", invoice_number=f"RE-{n}") for n in range(3)]
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
        lambda: listed_invoice(seller, variant="more", invoice_number="RE-more"),
    )
    assert len(second.context["page"].object_list) == len(listings) + 1


def test_marketplace(market, login, django_assert_num_queries):
    client = login(market["investor"])
    first, second = assert_constant(
        django_assert_num_queries,
        client,
        reverse("marketplace") + "?sort=amount",
        MARKETPLACE_QUERIES,
        lambda: listed_invoice(market["seller"], variant="more", invoice_number="RE-more"),
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
