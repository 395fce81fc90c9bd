"""``manage.py seed_scale``: the scale-test data set has the shape it promises, balanced books,
and the API reads it like real data."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import User
from invoices.models import Invoice
from marketplace.models import Investment, Listing
from settlements.ledger.models import LedgerAccount, Posting
from settlements.ledger.posting import balances, trial_balance, unbalanced_entries
from settlements.ledger.totals import ledger_day_totals_differences
from tests.helpers import api_client_for

pytestmark = pytest.mark.django_db


def test_seed_scale_writes_the_promised_shape(capsys, staff, make_investor):
    call_command("seed_scale", invoices=500)
    assert "500 invoices" in capsys.readouterr().out
    assert Invoice.objects.count() == 500
    assert Listing.objects.count() == 100
    assert Investment.objects.count() == 1000
    assert User.objects.filter(email__startswith="scale-", role="INVESTOR").count() == 50
    # Every entry balances and no investor's cash is negative.
    assert all(total == 0 for total in trial_balance().values())
    assert unbalanced_entries() == []
    cash = list(LedgerAccount.objects.filter(kind="INVESTOR_CASH"))
    assert all(balance >= 0 for balance in balances(cash).values())
    assert Posting.objects.count() == 2 * 1000 + 2 * 50
    # What the database keeps beside the rows is kept for seeded rows too: the ledger's day
    # totals equal the postings, and a listing is open exactly when its invoice is LISTED.
    assert ledger_day_totals_differences() == []
    assert Listing.objects.filter(is_open=True).count() == 10
    assert set(Listing.objects.filter(is_open=True).values_list("invoice__status", flat=True)) == {
        "LISTED"}

    # The marketplace shows the open listings (N / 50) to an approved investor.
    reader = make_investor()
    response = api_client_for(reader).get("/api/v1/marketplace?page_size=100")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 10

    # A second run adds to the first (new ids past the sequences, new unique keys).
    call_command("seed_scale", invoices=50)
    assert Invoice.objects.count() == 550
