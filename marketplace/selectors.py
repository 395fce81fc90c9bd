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
