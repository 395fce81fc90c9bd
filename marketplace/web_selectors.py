"""Reads for the marketplace and investor dashboards (each a fixed number of queries)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, F, Sum

from invoices.pricing import InvestmentQuote, investment_quote
from paymint.core import clock
from settlements.ledger import investor_invoice_cashflows

from .enums import InvestmentStatus
from .models import Investment, Listing
from .portfolio import xirr


def listing_quote(*, listing: Listing, amount: Decimal) -> InvestmentQuote:
    """What funding ``amount`` of ``listing`` today is expected to return, and when."""
    return investment_quote(
        principal=amount,
        currency=listing.currency,
        discount_rate=listing.discount_rate,
        start=clock.today(),
        due_date=listing.due_date,
    )


def investor_portfolio_totals(*, investor) -> list[dict]:
    """Per currency: amount invested, expected return, amount repaid so far (one query)."""
    return list(
        Investment.objects.filter(investor=investor)
        .values("currency")
        .annotate(
            count=Count("id"),
            invested=Sum("amount"),
            expected_return=Sum("expected_return"),
            expected_fee=Sum("expected_discount_fee"),
            repaid=Sum("repaid_amount"),
        )
        .order_by("currency")
    )


def investor_allocation_by_grade(*, investor) -> list[dict]:
    """Active amount invested per (risk grade, currency), for the allocation chart (one query)."""
    return list(
        Investment.objects.filter(investor=investor, status=InvestmentStatus.ACTIVE)
        .values("currency", grade=F("listing__invoice__risk_grade"))
        .annotate(total=Sum("amount"))
        .order_by("grade", "currency")
    )


#: Invoice statuses of a position whose repayment is late.
LATE_STATUSES = ("OVERDUE", "DEFAULTED")


def investor_allocation_by_debtor(*, investor, limit: int = 8) -> list[dict]:
    """Active amount invested per (debtor, currency), largest first, for the allocation chart
    (one query; the rest beyond ``limit`` rows is summed as "Other")."""
    rows = list(
        Investment.objects.filter(investor=investor, status=InvestmentStatus.ACTIVE)
        .values("currency", debtor=F("listing__invoice__debtor_name"))
        .annotate(total=Sum("amount"))
        .order_by("-total", "debtor", "currency")
    )
    if len(rows) <= limit:
        return rows
    head, tail = rows[: limit - 1], rows[limit - 1 :]
    other: dict[str, Decimal] = {}
    for row in tail:
        other[row["currency"]] = other.get(row["currency"], Decimal(0)) + row["total"]
    return head + [
        {"currency": currency, "debtor": "Other", "total": total}
        for currency, total in sorted(other.items())
    ]


def investor_open_positions(*, investor) -> list[Investment]:
    """The investor's active investments with listing and invoice, nearest due date first
    (one query): the source of upcoming repayments, overdue positions and expected flows."""
    return list(
        Investment.objects.filter(investor=investor, status=InvestmentStatus.ACTIVE)
        .select_related("listing", "listing__invoice")
        .order_by("listing__due_date", "id")
    )


def investor_cashflows(*, investor) -> dict[str, list[tuple[dt.date, Decimal]]]:
    """Realised investment cash flows per currency: every posting on the investor's cash
    accounts that belongs to an invoice (funding out, repayments and refunds in), summed per
    day (one query)."""
    return investor_invoice_cashflows(investor=investor)


def expected_remaining(investment: Investment) -> Decimal:
    """What the position is still expected to pay back (never negative)."""
    return max(investment.expected_return - investment.repaid_amount, Decimal(0))


def portfolio_xirr(
    *,
    cashflows: dict[str, list[tuple[dt.date, Decimal]]],
    open_positions: list[Investment],
    today: dt.date,
) -> dict[str, Decimal | None]:
    """Expected XIRR per currency: the realised flows plus, for each open position, what it is
    still expected to pay back on its due date (today, when it is already late)."""
    flows = {currency: list(rows) for currency, rows in cashflows.items()}
    for position in open_positions:
        remaining = expected_remaining(position)
        if remaining:
            when = max(position.listing.due_date, today)
            flows.setdefault(position.currency, []).append((when, remaining))
    return {currency: xirr(rows) for currency, rows in sorted(flows.items())}


def split_open_positions(
    open_positions: list[Investment], *, today: dt.date, upcoming_limit: int = 5
) -> tuple[list[Investment], list[Investment]]:
    """(upcoming repayments, overdue positions) from :func:`investor_open_positions`."""
    overdue = [
        p
        for p in open_positions
        if p.listing.invoice.status in LATE_STATUSES or p.listing.due_date < today
    ]
    late_ids = {p.pk for p in overdue}
    upcoming = [p for p in open_positions if p.pk not in late_ids][:upcoming_limit]
    return upcoming, overdue
