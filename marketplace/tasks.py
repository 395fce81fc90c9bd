"""Marketplace tasks (beat): close expired listings."""

from celery import shared_task

from paymint.core import clock

from . import services
from .models import Listing


@shared_task(acks_late=True)
def listings_expire_task() -> int:
    """Close every listing past its expiry (cancel and refund, or partial disbursement).

    Each listing is closed by its own durable transaction; running twice is harmless.
    Returns how many listings were looked at.
    """
    ids = list(
        Listing.objects.filter(invoice__status="LISTED", expires_at__lte=clock.now())
        .values_list("pk", flat=True)
    )
    for listing_id in ids:
        services.listing_expire(listing_id=listing_id)
    return len(ids)
