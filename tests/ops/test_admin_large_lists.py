"""Admin lists of tables that grow without bound: no full COUNT(*) of a large table, and a
constant number of queries per page (list_select_related)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.models import Investment
from marketplace.services import investment_create
from paymint.core import admin as core_admin
from paymint.core import clock
from paymint.core.admin import EstimatedCountPaginator
from tests.factories import mustang_listing
from tests.helpers import LISTING_DAY, deposit

pytestmark = pytest.mark.django_db


@pytest.fixture
def investments(seller, make_investor):
    investor = make_investor()
    deposit(investor, "1000.00")
    made = []
    for n in range(3):
        listing = mustang_listing(seller, invoice_number=f"ADM-{n}")
        with clock.frozen_at(LISTING_DAY):
            made.append(investment_create(investor=investor, listing=listing, amount="60.00")[0])
    return made


def test_large_unfiltered_list_uses_the_planner_estimate(investments, monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE marketplace_investment")  # reltuples = 3
    monkeypatch.setattr(core_admin, "ESTIMATE_COUNT_ABOVE", 2)
    qs = Investment.objects.order_by("-id")
    assert EstimatedCountPaginator(qs, 100).count == 3
    # The estimate is the statistics', not a count: rows added since ANALYZE are not in it.
    monkeypatch.setattr(core_admin, "ESTIMATE_COUNT_ABOVE", 0)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pg_class SET reltuples = 1000000 WHERE oid = 'marketplace_investment'::regclass"
        )
    assert EstimatedCountPaginator(qs, 100).count == 1_000_000
    # A filtered list is counted exactly.
    assert EstimatedCountPaginator(qs.filter(amount__gt=0), 100).count == 3


def test_small_tables_are_counted_exactly(investments):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE marketplace_investment")
    assert EstimatedCountPaginator(Investment.objects.order_by("-id"), 100).count == 3


def test_investment_changelist_queries_do_not_grow_with_rows(investments, superuser_client, seller):
    url = "/admin/marketplace/investment/"
    superuser_client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert superuser_client.get(url).status_code == 200
    investor = investments[0].investor
    for n in range(3, 6):
        listing = mustang_listing(seller, invoice_number=f"ADM-{n}")
        with clock.frozen_at(LISTING_DAY):
            investment_create(investor=investor, listing=listing, amount="60.00")
    with CaptureQueriesContext(connection) as more:
        response = superuser_client.get(url)
    assert response.status_code == 200
    assert len(more) == len(few)
    # show_full_result_count = False: one count (the paginator's), not a second of the table.
    assert sum("COUNT(*)" in q["sql"] for q in more.captured_queries) == 1
