"""The wallet page (balances, deposit instructions, ledger entries) and its CSV statement."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.enums import Role
from accounts.views import role_required
from paymint.core import clock
from paymint.core.money import MINOR_UNITS

from .ledger import wallet_balances, wallet_entries, withdrawal_list_for_user

ENTRIES_PER_PAGE = 50
RECENT_WITHDRAWALS = 10
STATEMENT_HEADER = [
    "date",
    "booked_at",
    "entry_id",
    "kind",
    "description",
    "memo",
    "currency",
    "amount",
    "balance",
]


@role_required(Role.SELLER, Role.INVESTOR)
@require_GET
def wallet(request: HttpRequest) -> HttpResponse:
    """Cash balances per currency, recent withdrawals and every movement on the user's cash
    accounts."""
    page = Paginator(wallet_entries(user=request.user), ENTRIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "settlements/wallet.html",
        {
            "balances": wallet_balances(user=request.user),
            "withdrawals": withdrawal_list_for_user(user=request.user)[:RECENT_WITHDRAWALS],
            "page": page,
        },
    )


class _Echo:
    """A file-like object whose ``write`` returns the line (for streaming csv.writer)."""

    def write(self, value: str) -> str:
        return value


def _text_cell(value: str) -> str:
    """Neutralise spreadsheet formulas in free-text cells (CSV injection)."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def _statement_rows(user) -> Iterator[list[str]]:
    yield STATEMENT_HEADER
    running: dict[str, Decimal] = {}
    postings = wallet_entries(user=user).order_by("entry__created_at", "id")
    for posting in postings.iterator(chunk_size=500):
        currency = posting.currency
        running[currency] = running.get(currency, Decimal(0)) + posting.amount
        places = MINOR_UNITS.get(currency, 2)
        entry = posting.entry
        yield [
            entry.effective_date.isoformat(),
            entry.created_at.isoformat(timespec="seconds"),
            str(entry.public_id),
            entry.kind,
            _text_cell(entry.description),
            _text_cell(posting.memo),
            currency,
            f"{posting.amount:.{places}f}",
            f"{running[currency]:.{places}f}",
        ]


@role_required(Role.SELLER, Role.INVESTOR)
@require_GET
def wallet_statement_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The full statement, oldest first, with the running balance per currency."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in _statement_rows(request.user)),
        content_type="text/csv; charset=utf-8",
    )
    filename = f"paymint-statement-{clock.today():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
