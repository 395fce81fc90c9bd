"""What one funding costs the database (issue #19: at most 12 statements per investment;
9 now), and that it takes the listing last.

``investment_create`` for an investor whose cash account exists, on a listing it does not fill,
without an idempotency key: the checks before the transaction (KYC and hold in one query), the
investor's cash locked and the escrow read in one statement, the two sums (concentration,
balance) in one after that lock, the entry, its postings, the investment, their two audit rows
in one ``INSERT`` (``compliance.public.audit_rows_batched``), the domain event (one ``INSERT
... ON CONFLICT DO NOTHING``), and last the listing's conditional update - its only lock on
the listing, held from there to the commit.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.models import Listing
from marketplace.services import investment_create
from paymint.core import clock
from tests.factories import mustang_listing
from tests.helpers import LISTING_DAY, deposit

pytestmark = pytest.mark.django_db

#: investment_create's statements (BEGIN/COMMIT not counted: Django does not run them as
#: queries), the after-commit work (AML monitoring, the event's dispatch) left out.
FUNDING_STATEMENTS = 9


def funding_statements(investor, listing, amount: str) -> list[str]:
    with clock.frozen_at(LISTING_DAY), CaptureQueriesContext(connection) as captured:
        investment_create(investor=investor, listing=listing, amount=amount)
    # The test's own transaction turns the durable block into a savepoint: not counted.
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_a_funding_takes_nine_statements_and_the_listing_last(seller, make_investor):
    first, second = make_investor(), make_investor()
    for investor in (first, second):
        deposit(investor, "1000.00")
    listing = mustang_listing(seller)
    funding_statements(first, listing, "60.00")  # the escrow account is created here

    # As the API's selectors load it: with its invoice.
    loaded = Listing.objects.select_related("invoice").get(pk=listing.pk)
    statements = funding_statements(second, loaded, "60.00")

    assert len(statements) == FUNDING_STATEMENTS, "\n".join(statements)
    locks = [sql for sql in statements if "FOR UPDATE" in sql or "FOR NO KEY UPDATE" in sql]
    # One explicit lock: the investor's cash (the escrow's id read in the same statement).
    assert len(locks) == 1 and statements.index(locks[0]) == 1, locks
    assert '"settlements_ledgeraccount"' in locks[0] and "FOR NO KEY UPDATE" in locks[0]
    assert "INVESTOR_CASH" in locks[0].split(" WHERE ")[-1], locks[0]
    # The listing is written once, by the last statement, and read by none before it.
    listing_sql = [sql for sql in statements if '"marketplace_listing"' in sql
                   and "marketplace_investment" not in sql]
    assert listing_sql == [statements[-1]], listing_sql
    assert statements[-1].startswith('UPDATE "marketplace_listing"'), statements[-1]
    # The exposure and the cash balance: one statement, after the account lock.
    sums = [sql for sql in statements if '"settlements_posting"' in sql and "SUM(" in sql]
    assert len(sums) == 1 and '"marketplace_investment"' in sums[0], sums
    assert statements.index(sums[0]) > statements.index(locks[0])
    loaded.refresh_from_db()
    assert (loaded.funded_amount, loaded.investor_count) == (D("120.00"), 2)
