"""The wallet page and its CSV statement."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from settlements.services import withdrawal_request
from tests.helpers import deposit

pytestmark = pytest.mark.django_db


def test_wallet_shows_balances_entries_and_deposit_instructions(make_investor, login):
    investor = make_investor()
    deposit(investor, "250.00")
    deposit(investor, "1000.50")
    client = login(investor)
    page = client.get(reverse("wallet"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "1,250.50 EUR" in html
    assert "+1,000.50 EUR" in html
    reference = investor.deposit_reference
    assert f"Transfer to the PayMint account with reference <strong><code>{reference}" in html
    assert reverse("wallet-statement-csv") in html

    withdrawal, _ = withdrawal_request(user=investor, amount="50.00", currency="EUR")
    html = client.get(reverse("wallet")).content.decode()
    assert withdrawal.reference in html
    assert "1,200.50 EUR" in html  # the withdrawal is on hold


def test_statement_csv_has_running_balance(make_investor, login):
    investor = make_investor()
    deposit(investor, "250.00", event_id="evt_one")
    deposit(investor, "1000.50", event_id="evt_two")
    response = login(investor).get(reverse("wallet-statement-csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["date", "booked_at", "entry_id", "kind"]
    assert [(r[3], r[7], r[8]) for r in rows[1:]] == [
        ("DEPOSIT", "250.00", "250.00"),
        ("DEPOSIT", "1000.50", "1250.50"),
    ]


def test_statement_is_the_users_own(make_investor, login):
    rich, other = make_investor(), make_investor()
    deposit(rich, "999.00")
    response = login(other).get(reverse("wallet-statement-csv"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    assert "999" not in login(other).get(reverse("wallet")).content.decode()
