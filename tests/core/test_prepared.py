"""PreparedValues (paymint.core.prepared): the same statement, parameters and rows as the
queryset it stands for, through DRF's cursor pages too."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.models import User
from invoices.models import Invoice
from marketplace.api import INVESTMENT_ROW_VALUES, LISTING_ROW_VALUES, listing_row
from marketplace.models import Listing
from marketplace.selectors import (
    InvestorChecks,
    investment_list_for_investor,
    investment_list_values_for_investor,
    listing_search,
    listing_search_values,
)
from marketplace.services import investment_create
from paymint.core import clock
from paymint.core.api import NewestFirstCursorPagination
from paymint.core.prepared import PreparedValues
from settlements.api import WALLET_ENTRY_VALUES
from settlements.ledger import wallet_balances, wallet_entries, wallet_entries_values
from tests.factories import mustang_listing
from tests.helpers import LISTING_DAY, deposit


@pytest.fixture
def book(seller, make_investor):
    listings = [mustang_listing(seller, invoice_number=f"PREP-{n}") for n in range(5)]
    investor = make_investor()
    deposit(investor, "5000.00")
    with clock.frozen_at(LISTING_DAY):
        for listing, amount in zip(listings[:4], ("60.00", "123.45", "50.05", "75.00"),
                                   strict=True):
            investment_create(investor=investor, listing=listing, amount=Decimal(amount))
    # Two listings created at the same instant: the cursor needs an offset between them.
    Listing.objects.filter(pk=listings[2].pk).update(created_at=listings[1].created_at)
    return {"listings": listings, "investor": investor}


def run(rows) -> tuple[list, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        out = list(rows)
    return out, [q["sql"] for q in queries.captured_queries]


@pytest.mark.django_db
def test_same_statement_and_rows_as_the_queryset(book):
    investor = book["investor"]
    with clock.frozen_at(LISTING_DAY):
        cases = [
            (lambda: listing_search(user=investor).values(*LISTING_ROW_VALUES),
             lambda: listing_search_values(user=investor, fields=LISTING_ROW_VALUES)),
            (lambda: investment_list_for_investor(investor=investor)
             .values(*INVESTMENT_ROW_VALUES),
             lambda: investment_list_values_for_investor(investor=investor,
                                                         fields=INVESTMENT_ROW_VALUES)),
            (lambda: wallet_entries(user=investor).values(*WALLET_ENTRY_VALUES)[:3],
             lambda: wallet_entries_values(user=investor, fields=WALLET_ENTRY_VALUES,
                                           limit=3)),
        ]
        for queryset, prepared in cases:
            assert isinstance(prepared(), PreparedValues)
            for _ in range(2):  # compiled, then from the cache
                expected, expected_sql = run(queryset())
                rows, sql = run(prepared())
                assert rows == expected and len(rows) >= 3
                assert all(isinstance(v, type(e))  # InvestorChecks is a list
                           for v, e in zip(rows[0].values(), expected[0].values(), strict=True))
                assert sql == expected_sql and len(sql) == 1
        assert wallet_balances(user=investor) == [{"currency": "EUR",
                                                   "balance": Decimal("4691.5000000")}]


def walk(rows_source, page_size: int) -> list[tuple[list, str | None, str | None]]:
    """Every page forwards by ``next``, then backwards by ``previous`` from the last."""
    factory = APIRequestFactory()
    pages = []
    url = f"/api/v1/marketplace?page_size={page_size}"
    for direction in ("next", "previous"):
        while url:
            request = Request(factory.get(url))
            paginator = NewestFirstCursorPagination()
            page = paginator.paginate_queryset(rows_source(), request)
            links = (paginator.get_next_link(), paginator.get_previous_link())
            pages.append(([row["id"] for row in page], *links))
            url = links[0] if direction == "next" else links[1]
        url = pages[-1][2]
    return pages


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_cursor_pages_are_the_querysets(book, page_size):
    investor = book["investor"]
    with clock.frozen_at(LISTING_DAY):
        expected = walk(lambda: listing_search(user=investor).values(*LISTING_ROW_VALUES),
                        page_size)
        pages = walk(lambda: listing_search_values(user=investor, fields=LISTING_ROW_VALUES),
                     page_size)
    assert pages == expected
    assert len({row for page in pages for row in page[0]}) == 5


@pytest.mark.django_db
def test_marketplace_rows_from_shared_documents(book, settings):
    """The prepared marketplace page decodes each invoice's documents once per process
    (InvestorChecks with its investor wording): the rows are the queryset's, read after read."""
    investor = book["investor"]
    Invoice.objects.filter(pk__in=[listing.invoice_id for listing in book["listings"]]).update(
        risk_factors=[{"code": "TENOR", "label": "Tenor", "detail": "20 days", "points": 10,
                       "weight": 0.25}],
        verification=[
            {"code": "INVALID_TAX_ID", "passed": True, "blocking": False, "field": None,
             "message": "No tax id on the invoice."},
            {"code": "DUE_DATE", "passed": False, "blocking": True, "field": "due_date",
             "message": "Due in 2 days."}])
    with clock.frozen_at(LISTING_DAY):
        expected = [listing_row(v) for v in
                    listing_search(user=investor).values(*LISTING_ROW_VALUES)]
        for _ in range(2):
            values = list(listing_search_values(user=investor, fields=LISTING_ROW_VALUES))
            assert type(values[0]["invoice__verification"]) is InvestorChecks
            assert [listing_row(v) for v in values] == expected
        again = list(listing_search_values(user=investor, fields=LISTING_ROW_VALUES))
    assert again[0]["invoice__risk_factors"] is values[0]["invoice__risk_factors"]
    assert expected[0]["risk_factors"]
    assert [check["message"] for check in expected[0]["verification"]] == [
        "No issuer tax id on the invoice.", "The due date is outside the financed range."]


@pytest.mark.django_db
def test_filtered_search_stays_a_queryset(book):
    investor = book["investor"]
    with clock.frozen_at(LISTING_DAY):
        rows = listing_search_values(user=investor, filters={"currency": "EUR"},
                                     fields=("public_id",))
        assert not isinstance(rows, PreparedValues)
        assert len(list(rows)) == 5


@pytest.mark.django_db
def test_refuses_values_it_cannot_place(book):
    def build(**values):
        return User.objects.filter(pk__gt=0).values("pk")

    with pytest.raises(TypeError, match="bool"):
        list(PreparedValues("test.bool", User, lambda flag: build(), {"flag": True}))
    with pytest.raises(ValueError, match="exactly one parameter"):
        list(PreparedValues("test.unused", User, lambda n: build(), {"n": 7}))
    with pytest.raises(TypeError):
        PreparedValues("test.slice", User, lambda n: build(), {"n": 7})[:2].filter(pk=1)


@pytest.mark.django_db
def test_a_statement_that_matches_nothing_runs_no_query(book):
    rows = PreparedValues("test.empty", User,
                          lambda n: User.objects.filter(pk__in=[]).filter(pk=n).values("pk"),
                          {"n": 1})
    assert run(rows) == ([], [])
