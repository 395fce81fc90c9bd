"""Row locks of the marketplace, in the ledger's lock order (``settlements.ledger.posting``):
the ``Listing`` row, then its ``Invoice`` row; the ledger accounts come after, in one batch
(:func:`settlements.ledger.funding_accounts_lock`). Every service that moves money on a
listed invoice - funding, expiry, settlement, collections - takes these first."""

from __future__ import annotations

from invoices.models import Invoice

from .models import Listing


def listing_and_invoice_lock(*, listing_id: int) -> tuple[Listing, dict]:
    """Lock a listing row, then its invoice row; return the listing and the invoice's
    ``status`` and ``disputed_at`` as read by the locking statement (no second read under the
    lock)."""
    listing = Listing.objects.select_for_update().get(pk=listing_id)
    state = (
        Invoice.objects.select_for_update()
        .filter(pk=listing.invoice_id)
        .values("status", "disputed_at")
        .get()
    )
    return listing, state


def listing_lock(*, listing_id: int) -> Listing:
    """Lock a listing row, then its invoice row (the first two steps of the lock order)."""
    return listing_and_invoice_lock(listing_id=listing_id)[0]
