"""Row locks of the marketplace, in the ledger's lock order (``settlements.ledger.posting``):
the ``Listing`` row, then its ``Invoice`` row; the ledger accounts come after, in one batch.
Every service that moves money on a listed invoice - expiry, cancel, settlement, collections -
takes these first. A funding is the exception: it locks the investor's cash first and the
listing last, with its conditional update (:func:`marketplace.services.investment_create`).

Both rows are locked ``FOR NO KEY UPDATE`` (what an ``UPDATE`` of their non-key columns takes):
it excludes every other writer as ``FOR UPDATE`` would, but not the ``FOR KEY SHARE`` that
PostgreSQL's (deferred) foreign-key checks take at commit on the rows a new investment, entry
or status event references. With ``FOR UPDATE`` a funding that holds the listing and commits
would wait for an invoice lock outside the lock order."""

from __future__ import annotations

from django.db import connection
from django.db.models import F

from invoices.models import Invoice

from .models import Listing

_LISTING = Listing._meta.db_table
_INVOICE = Invoice._meta.db_table
#: The locking statement written out (the ORM's compile of the join and its annotations cost
#: about 0.5 ms of CPU per funding, issue #19); the listing is the base table, so its row is
#: locked first.
#: The listing's columns named (not ``*``: a prepared statement's result may not change when
#: a migration adds a column).
_LISTING_COLUMNS = ", ".join(f'"{_LISTING}"."{field.column}"'
                             for field in Listing._meta.concrete_fields)
_LISTING_AND_INVOICE_LOCK_SQL = (
    f'SELECT {_LISTING_COLUMNS}, "{_INVOICE}"."status" AS "locked_invoice_status", '  # noqa: S608  # nosec B608 - names from code, values bound
    f'"{_INVOICE}"."disputed_at" AS "locked_invoice_disputed_at" '
    f'FROM "{_LISTING}" INNER JOIN "{_INVOICE}" ON ("{_LISTING}"."invoice_id" = "{_INVOICE}"."id") '
    f'WHERE "{_LISTING}"."id" = %s FOR NO KEY UPDATE'
)


def listing_and_invoice_lock(*, listing_id: int) -> tuple[Listing, dict]:
    """Lock a listing row, then its invoice row; return the listing and the invoice's
    ``status`` and ``disputed_at`` as read by the locking statement (no second read under the
    lock).

    One statement: ``SELECT listing.<columns>, invoice.status, invoice.disputed_at FROM listing JOIN
    invoice ... FOR NO KEY UPDATE`` locks both rows (no ``OF``: every table of the join), the
    listing's first - PostgreSQL locks a joined row's tables in the query's range-table order, the
    listing being the query's base table - so the lock order is the same as two statements'.

    Raises:
        Listing.DoesNotExist: no listing ``listing_id``.
    """
    if not connection.features.has_select_for_update:  # SQLite: no row locks to take
        listing = (Listing.objects
                   .annotate(locked_invoice_status=F("invoice__status"),
                             locked_invoice_disputed_at=F("invoice__disputed_at"))
                   .get(pk=listing_id))
    else:
        found = list(Listing.objects.raw(_LISTING_AND_INVOICE_LOCK_SQL, [listing_id]))
        if not found:
            raise Listing.DoesNotExist(f"Listing {listing_id} does not exist.")
        listing = found[0]
    state = {"status": listing.locked_invoice_status,
             "disputed_at": listing.locked_invoice_disputed_at}
    return listing, state


def listing_lock(*, listing_id: int) -> Listing:
    """Lock a listing row, then its invoice row (the first two steps of the lock order)."""
    return listing_and_invoice_lock(listing_id=listing_id)[0]
