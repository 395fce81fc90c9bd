"""Reads of passive investing, with their ownership checks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import F, Q, QuerySet, Sum

from invoices.enums import InvoiceStatus
from marketplace.enums import InvestmentStatus
from marketplace.models import Investment, Listing
from paymint.core import clock
from paymint.core.errors import NotFound
from settlements.ledger import exact_sum, wallet_balances

from .error_codes import PoolsError
from .models import AutoInvestLog, AutoInvestRule


def auto_invest_rule_get_for_investor(*, investor) -> AutoInvestRule:
    """The investor's own auto-invest rule.

    Raises:
        NotFound: ``AUTO_INVEST_RULE_NOT_FOUND`` (none set yet).
    """
    rule = AutoInvestRule.objects.filter(investor=investor).first()
    if rule is None:
        raise NotFound(
            "You have no auto-invest rule yet.", code=PoolsError.AUTO_INVEST_RULE_NOT_FOUND
        )
    return rule


def auto_invest_log_for_investor(*, investor) -> QuerySet[AutoInvestLog]:
    """What the investor's rule did, newest first, with the listing, its invoice and the
    investment (its stored quote) joined: a constant number of queries per page."""
    return (
        AutoInvestLog.objects.filter(investor=investor)
        .select_related("listing__invoice", "investment")
        .order_by("-created_at", "-id")
    )


def auto_invest_rules_for_listing(
    *, listing: Listing, grade: str, today: dt.date
) -> QuerySet[AutoInvestRule]:
    """The active rules a listing matches (currency, grade, tenor in days from ``today`` to
    the due date, discount rate at least the rule's minimum), the seller's own excluded, in
    the fair order: the rule that invested least recently first (never-served first), then
    the oldest rule. Serving a rule moves it to the back, so the order rotates."""
    tenor = (listing.due_date - today).days
    return (
        AutoInvestRule.objects.filter(
            paused=False,
            currencies__contains=[listing.currency],
            grades__contains=[grade],
            min_tenor_days__lte=tenor,
            max_tenor_days__gte=tenor,
            min_discount_rate__lte=listing.discount_rate,
        )
        .exclude(investor_id=listing.invoice.seller_id)
        .select_related("investor")
        .order_by(F("last_invested_at").asc(nulls_first=True), "id")
    )


def investor_debtor_exposure(*, investor_id: int, currency: str, debtor_key: str) -> Decimal:
    """The investor's outstanding principal on one debtor (active investments, ``currency``),
    the sum the funding service's concentration check reads."""
    total = Investment.objects.filter(
        Q(listing__invoice__debtor_key=debtor_key),
        investor_id=investor_id,
        status=InvestmentStatus.ACTIVE,
        currency=currency,
    ).aggregate(total=Sum(F("amount") - F("principal_repaid")))["total"]
    return exact_sum(total)


def investor_cash(*, investor, currency: str) -> Decimal:
    """The investor's cash balance in ``currency`` (0 without an account)."""
    return next(
        (row["balance"] for row in wallet_balances(user=investor) if row["currency"] == currency),
        Decimal(0),
    )


def listing_ids_open() -> list[int]:
    """Ids of the listings open for funding now (listed, not expired), oldest first."""
    return list(
        Listing.objects.filter(invoice__status=InvoiceStatus.LISTED, expires_at__gt=clock.now())
        .order_by("listed_at", "id")
        .values_list("pk", flat=True)
    )
