"""Reads for the marketplace and investor dashboards (each a fixed number of queries)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Sum

from accounts.enums import Role
from invoices.enums import InvoiceStatus
from invoices.pricing import InvestmentQuote, investment_quote
from paymint.core import clock
from paymint.core.errors import PermissionDenied
from paymint.core.money import parse_money_amount
from settlements.ledger import investor_invoice_cashflows, wallet_balances

from .enums import InvestmentStatus
from .error_codes import MarketplaceError
from .models import Investment, Listing
from .portfolio import xirr
from .selectors import listing_search


def listing_quote(*, listing: Listing, amount) -> InvestmentQuote:
    """What funding ``amount`` (listing currency; a string, number or ``Decimal`` as a client
    sent it) of ``listing`` today is expected to return, and when: the investment calculator of
    the listing page and of ``GET /api/v1/marketplace/{id}/quote``, the quote
    :func:`marketplace.services.investment_create` stores, and - when the listing is disbursed
    today and the debtor pays in full on time - exactly what the investor is paid
    (:func:`invoices.pricing.investment_discount_fee`). The caller reads ``listing`` with
    :func:`marketplace.selectors.listing_get_visible` (the marketplace's access rule).

    Raises:
        InvalidAmount: ``INVALID_AMOUNT`` (400) for anything but a positive amount in the
            currency's minor units.
    """
    return investment_quote(
        principal=parse_money_amount(amount, listing.currency),
        currency=listing.currency,
        discount_rate=listing.discount_rate,
        start=clock.today(),
        due_date=listing.due_date,
    )


def investor_portfolio_totals(*, investor) -> list[dict]:
    """Per currency: amount invested, expected return, amount repaid so far and realised
    loss (one query)."""
    return list(
        Investment.objects.filter(investor=investor)
        .values("currency")
        .annotate(
            count=Count("id"),
            invested=Sum("amount"),
            expected_return=Sum("expected_return"),
            expected_fee=Sum("expected_discount_fee"),
            repaid=Sum("repaid_amount"),
            loss=Sum("loss"),
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


@dataclass
class Portfolio:
    """An investor's portfolio, the one read of the investor dashboard and of
    ``GET /api/v1/portfolio`` (:func:`investor_portfolio`). Amounts in their row's currency.

    ``balances``: cash per currency (:func:`settlements.ledger.wallet_balances`); ``totals``:
    per currency, every investment's amount, expected return and fee, repaid and realised
    ``loss`` (:func:`investor_portfolio_totals`); ``xirr``: expected XIRR per currency
    (annual, fraction, ACT/365; ``None`` when there is none to find); ``allocation`` /
    ``by_debtor``: active amount per risk grade / debtor; ``upcoming``: ``(investment, still
    expected)`` of the next positions to repay; ``overdue``: ``(investment, still expected,
    days past due)``; ``open_positions``: every active investment."""

    balances: list[dict]
    totals: list[dict]
    xirr: dict[str, Decimal | None]
    allocation: list[dict]
    by_debtor: list[dict]
    open_positions: list[Investment]
    upcoming: list[tuple[Investment, Decimal]]
    overdue: list[tuple[Investment, Decimal, int]]

    def currencies(self) -> list[str]:
        """Every currency the investor holds cash or investments in, sorted."""
        return sorted({b["currency"] for b in self.balances}
                      | {t["currency"] for t in self.totals})

    def by_currency(self) -> list[dict]:
        """The portfolio per currency, as ``GET /api/v1/portfolio`` answers it: ``cash``,
        ``invested`` (principal still out in active positions), ``expected_back`` (what they
        are still expected to repay), ``repaid`` (everything paid back so far),
        ``realised_loss``, ``xirr``, ``allocation_by_grade``, ``allocation_by_debtor`` and
        ``upcoming_repayments`` (by due date)."""
        cash = {b["currency"]: b["balance"] for b in self.balances}
        totals = {t["currency"]: t for t in self.totals}
        rows = []
        for currency in self.currencies():
            active = [p for p in self.open_positions if p.currency == currency]
            total = totals.get(currency, {})
            rows.append({
                "currency": currency,
                "cash": cash.get(currency, Decimal(0)),
                "invested": sum((p.amount - p.principal_repaid for p in active), Decimal(0)),
                "expected_back": sum((expected_remaining(p) for p in active), Decimal(0)),
                "repaid": total.get("repaid") or Decimal(0),
                "realised_loss": total.get("loss") or Decimal(0),
                "xirr": self.xirr.get(currency),
                "allocation_by_grade": [
                    {"grade": r["grade"], "amount": r["total"]}
                    for r in self.allocation if r["currency"] == currency],
                "allocation_by_debtor": [
                    {"debtor": r["debtor"] or "", "amount": r["total"]}
                    for r in self.by_debtor if r["currency"] == currency],
                "upcoming_repayments": [
                    {"investment_id": p.public_id,
                     "invoice_number": p.listing.invoice.invoice_number,
                     "debtor": p.listing.invoice.debtor_name, "due_date": p.listing.due_date,
                     "expected_amount": remaining}
                    for p, remaining in self.upcoming if p.currency == currency],
            })
        return rows


def investor_portfolio(*, investor, today: dt.date | None = None,
                       upcoming_limit: int = 5) -> Portfolio:
    """The investor's :class:`Portfolio` on ``today`` (the business clock's by default), in a
    fixed number of queries (eight, whatever the number of positions).

    Raises:
        PermissionDenied: ``NOT_AN_INVESTOR`` for any other account.
    """
    if investor.role != Role.INVESTOR:
        raise PermissionDenied("The portfolio is for investors.",
                               code=MarketplaceError.NOT_AN_INVESTOR)
    today = today or clock.today()
    open_positions = investor_open_positions(investor=investor)
    upcoming, overdue = split_open_positions(open_positions, today=today,
                                             upcoming_limit=upcoming_limit)
    return Portfolio(
        balances=wallet_balances(user=investor),
        totals=investor_portfolio_totals(investor=investor),
        xirr=portfolio_xirr(cashflows=investor_cashflows(investor=investor),
                            open_positions=open_positions, today=today),
        allocation=investor_allocation_by_grade(investor=investor),
        by_debtor=investor_allocation_by_debtor(investor=investor),
        open_positions=open_positions,
        upcoming=[(p, expected_remaining(p)) for p in upcoming],
        overdue=[(p, expected_remaining(p), (today - p.listing.due_date).days)
                 for p in overdue],
    )


#: The window of "funded recently" in :func:`marketplace_stats`, in days.
STATS_FUNDED_WINDOW_DAYS = 30


def marketplace_stats(*, user) -> dict:
    """The marketplace at a glance (``GET /api/v1/marketplace/stats``), for the readers of the
    marketplace (:func:`marketplace.selectors.marketplace_access_check`):

    - ``open_listings``: listings open for funding and not expired;
    - ``open_by_grade``: per (risk grade, currency), the count and the amount still to fund;
    - ``average_yield``: per currency, the annual discount rate of the open listings (fraction,
      ACT/365) weighted by the amount still to fund (``None`` when nothing is open);
    - ``funded_last_30_days``: per currency, the count and the amount of listings fully or
      partially funded (``funded_at``) in the last :data:`STATS_FUNDED_WINDOW_DAYS` days.

    Three queries. Raises ``PermissionDenied`` as the access check does.
    """
    open_listings = listing_search(user=user)  # the access check, and the page's search
    rows = list(
        open_listings.order_by()
        .values("currency", grade=F("invoice__risk_grade"))
        .annotate(count=Count("id"), amount=Sum("remaining"),
                  weighted=Sum(F("remaining") * F("discount_rate")))
        .order_by("grade", "currency")
    )
    by_currency: dict[str, list[Decimal]] = {}
    for row in rows:
        totals = by_currency.setdefault(row["currency"], [Decimal(0), Decimal(0)])
        totals[0] += row["amount"] or 0
        totals[1] += row["weighted"] or 0
    since = clock.now() - dt.timedelta(days=STATS_FUNDED_WINDOW_DAYS)
    funded = list(
        Listing.objects.filter(funded_at__gte=since)
        .exclude(invoice__status=InvoiceStatus.CANCELLED)
        .values("currency").annotate(count=Count("id"), amount=Sum("funded_amount"))
        .order_by("currency")
    )
    return {
        "open_listings": sum(row["count"] for row in rows),
        "open_by_grade": [
            {"grade": r["grade"], "currency": r["currency"], "count": r["count"],
             "amount": r["amount"]} for r in rows],
        "average_yield": [
            {"currency": currency,
             "rate": (weighted / amount).quantize(Decimal("0.000001")) if amount else None}
            for currency, (amount, weighted) in sorted(by_currency.items())],
        "funded_last_30_days": [
            {"currency": r["currency"], "count": r["count"], "amount": r["amount"]}
            for r in funded],
    }
