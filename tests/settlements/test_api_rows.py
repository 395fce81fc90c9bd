"""The wallet's plain entry rows answer exactly what ``WalletEntrySerializer`` documents."""

from __future__ import annotations

import pytest

from settlements.api import WALLET_ENTRY_VALUES, WalletEntrySerializer, wallet_entry_row
from settlements.ledger import wallet_entries
from tests.helpers import deposit

pytestmark = pytest.mark.django_db


def test_wallet_entry_rows_match_the_serializer(make_investor):
    investor = make_investor()
    deposit(investor, "1000.00")
    deposit(investor, "0.01")
    deposit(investor, "12.34")
    entries = wallet_entries(user=investor)
    rows = [wallet_entry_row(values) for values in entries.values(*WALLET_ENTRY_VALUES)]
    expected = WalletEntrySerializer(list(entries), many=True).data
    assert len(rows) == 3
    assert rows == [dict(item) for item in expected]
