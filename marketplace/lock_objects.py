"""Row locks of the marketplace, in the ledger's lock order (``settlements.ledger.posting``):
the ``Listing`` row, then its ``Invoice`` row; the ledger accounts come after, in one batch
(:func:`settlements.ledger.funding_accounts_lock`). Every service that moves money on a
listed invoice - funding, expiry, settlement, collections - takes these first."""

from __future__ import annotations

from django.db.models import F

from .models import Listing


def listing_and_invoice_lock(*, listing_id: int) -> tuple[Listing, dict]:
    """Lock a listing row, then its invoice row; return the listing and the invoice's
    ``status`` and ``disputed_at`` as read by the locking statement (no second read under the
    lock).

    One statement: ``SELECT listing.*, invoice.status, invoice.disputed_at FROM listing JOIN
    invoice ... FOR UPDATE`` locks both rows (no ``OF``: every table of the join), the listing's
    first - PostgreSQL locks a joined row's tables in the query's range-table order, the
    listing being the query's base table - so the lock order is the same as two statements'.
    """
    listing = (
        Listing.objects.select_for_update()
        .annotate(locked_invoice_status=F("invoice__status"),
                  locked_invoice_disputed_at=F("invoice__disputed_at"))
        .get(pk=listing_id)
    )
    state = {"status": listing.locked_invoice_status,
             "disputed_at": listing.locked_invoice_disputed_at}
    return listing, state


def listing_lock(*, listing_id: int) -> Listing:
    """Lock a listing row, then its invoice row (the first two steps of the lock order)."""
    return listing_and_invoice_lock(listing_id=listing_id)[0]
