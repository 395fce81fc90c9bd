"""What one funding costs the database (issue #19: at most 12 statements per investment;
11 now).

``investment_create`` for an investor whose cash account exists, on a listing it does not fill,
without an idempotency key: the checks before the locks (KYC and hold in one query), the
listing and invoice locked in one statement, the accounts read and locked in one, the two sums
(concentration, balance) in one after those locks, the entry, its postings and the investment
with their audit rows, the listing's counters and the domain event (one ``INSERT ... ON
CONFLICT DO NOTHING``).
"""

from __future__ import annotations

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
FUNDING_STATEMENTS = 11


def funding_statements(investor, listing, amount: str) -> list[str]:
    with clock.frozen_at(LISTING_DAY), CaptureQueriesContext(connection) as captured:
        investment_create(investor=investor, listing=listing, amount=amount)
    # The test's own transaction turns the durable block into a savepoint: not counted.
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_a_funding_takes_eleven_statements(seller, make_investor):
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
    # The listing and its invoice in one statement, the accounts in one, nothing else locked.
    assert len(locks) == 2, locks
    assert '"invoices_invoice"' in locks[0] and locks[0].startswith(
        'SELECT "marketplace_listing"'), locks[0]
    assert '"settlements_ledgeraccount"' in locks[1] and "FOR NO KEY UPDATE" in locks[1]
    # The exposure and the cash balance: one statement, after the account lock.
    sums = [sql for sql in statements if '"settlements_posting"' in sql and "SUM(" in sql]
    assert len(sums) == 1 and '"marketplace_investment"' in sums[0], sums
    assert statements.index(sums[0]) > statements.index(locks[1])
