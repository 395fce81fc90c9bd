"""Reads for the marketplace and investor dashboards (each a fixed number of queries)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, DecimalField, ExpressionWrapper, F, QuerySet, Sum

from invoices.pricing import InvestmentQuote, investment_quote
from paymint.core import clock

from .enums import InvestmentStatus
from .models import Investment, Listing
from .selectors import listing_open_list

#: Sort keys offered on the marketplace page -> ORDER BY (ties broken newest first).
LISTING_SORTS: dict[str, tuple[str, ...]] = {
    "yield": ("-discount_rate", "due_date"),
    "tenor": ("due_date", "-discount_rate"),
    "-tenor": ("-due_date", "-discount_rate"),
    "amount": ("remaining", "due_date"),
    "-amount": ("-remaining", "due_date"),
    "newest": ("-listed_at", "-id"),
}

_REMAINING = ExpressionWrapper(
    F("advance_amount") - F("funded_amount"),
    output_field=DecimalField(max_digits=20, decimal_places=7),
)


def listing_search(
    *,
    grades: list[str] | None = None,
    currency: str = "",
    tenor_min: int | None = None,
    tenor_max: int | None = None,
    amount_min: Decimal | None = None,
    amount_max: Decimal | None = None,
    sort: str = "yield",
) -> QuerySet[Listing]:
    """Open, unexpired listings matching the filters, with the invoice joined (one query).

    Tenor is counted in days from today's business date to the due date; amounts filter the
    amount still to be funded (annotated as ``remaining``).
    """
    today = clock.today()
    qs = listing_open_list().filter(expires_at__gt=clock.now()).annotate(remaining=_REMAINING)
    if grades:
        qs = qs.filter(invoice__risk_grade__in=grades)
    if currency:
        qs = qs.filter(currency=currency.upper())
    if tenor_min is not None:
        qs = qs.filter(due_date__gte=today + dt.timedelta(days=tenor_min))
    if tenor_max is not None:
        qs = qs.filter(due_date__lte=today + dt.timedelta(days=tenor_max))
    if amount_min is not None:
        qs = qs.filter(remaining__gte=amount_min)
    if amount_max is not None:
        qs = qs.filter(remaining__lte=amount_max)
    return qs.order_by(*LISTING_SORTS.get(sort, LISTING_SORTS["yield"]))


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
