"""Reads for the marketplace."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from invoices.enums import InvoiceStatus
from paymint.core.errors import NotFound

from .models import Investment, Listing


def _uuid(value, code: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise NotFound("Not found.", code=code) from None


def listing_open_list() -> QuerySet[Listing]:
    """Listings open for funding (invoice ``LISTED``), newest first, with the invoice joined."""
    return Listing.objects.filter(invoice__status=InvoiceStatus.LISTED).select_related("invoice")


def listing_get_open(*, listing_id) -> Listing:
    """An open listing by its public id.

    Raises:
        NotFound: ``LISTING_NOT_FOUND`` when missing or not open.
    """
    listing = (
        listing_open_list().filter(public_id=_uuid(listing_id, "LISTING_NOT_FOUND")).first()
    )
    if listing is None:
        raise NotFound("Listing not found.", code="LISTING_NOT_FOUND")
    return listing


def listing_get_visible(*, listing_id, user) -> Listing:
    """A listing the user may see: open ones, or ones the user invested in."""
    pk = _uuid(listing_id, "LISTING_NOT_FOUND")
    listing = (
        Listing.objects.select_related("invoice")
        .filter(public_id=pk)
        .first()
    )
    if listing is None or not (
        listing.invoice.status == InvoiceStatus.LISTED
        or listing.investments.filter(investor=user).exists()
        or listing.invoice.seller_id == user.pk
    ):
        raise NotFound("Listing not found.", code="LISTING_NOT_FOUND")
    return listing


def investment_list_for_investor(*, investor) -> QuerySet[Investment]:
    """The investor's own investments with their listing and invoice, newest first."""
    return (
        Investment.objects.filter(investor=investor)
        .select_related("listing", "listing__invoice")
        .order_by("-created_at", "-id")
    )


def investment_get_for_investor(*, investor, investment_id) -> Investment:
    """The investor's own investment (UUID), with listing and invoice.

    Raises:
        NotFound: ``INVESTMENT_NOT_FOUND`` for a missing id or someone else's investment.
    """
    investment = (
        investment_list_for_investor(investor=investor)
        .filter(public_id=_uuid(investment_id, "INVESTMENT_NOT_FOUND"))
        .first()
    )
    if investment is None:
        raise NotFound("Investment not found.", code="INVESTMENT_NOT_FOUND")
    return investment


def investment_statement_lines(*, investment: Investment) -> QuerySet:
    """Itemized cash movements of one investment: the postings on the investor's cash account
    that belong to the investment's invoice (funding, distributions, refunds), oldest first."""
    from settlements.enums import AccountKind
    from settlements.models import Posting

    return (
        Posting.objects.filter(
            account__owner_id=investment.investor_id,
            account__kind=AccountKind.INVESTOR_CASH,
            entry__invoice_id=investment.listing.invoice_id,
        )
        .select_related("entry")
        .order_by("entry__created_at", "leg")
    )
