"""Tasks of passive investing: auto-invest when a listing opens, and by beat for listings
still open. Each calls one service and is safe to run twice."""

from celery import shared_task

from . import services
from .models import Pool
from .selectors import listing_ids_open


@shared_task(acks_late=True)
def listing_opened_task(listing_id: int) -> int:
    """Run the auto-invest rules on a listing that just opened (enqueued after the listing
    commits, by name, by :func:`marketplace.services.listing_create`). Returns how many log
    rows were written."""
    return len(services.auto_invest_listing(listing_id=listing_id))


@shared_task(acks_late=True)
def open_listings_auto_invest_task() -> int:
    """Beat: run the auto-invest rules on every listing still open (a rule created or
    unpaused later, cash deposited later). Returns how many listings were looked at."""
    ids = listing_ids_open()
    for listing_id in ids:
        services.auto_invest_listing(listing_id=listing_id)
    return len(ids)


@shared_task(acks_late=True)
def pool_redemptions_pay_task(pool_id: int) -> int:
    """Pay the pool's queued redemptions FIFO from its cash (after a deposit or a request).
    Returns how many payments were made."""
    return len(services.pool_redemptions_pay(pool_id=pool_id))


@shared_task(acks_late=True)
def pools_redemptions_pay_task() -> int:
    """Beat: pay queued redemptions of every pool as repayments reach the pools' cash."""
    ids = list(Pool.objects.values_list("pk", flat=True))
    return sum(len(services.pool_redemptions_pay(pool_id=pool_id)) for pool_id in ids)


@shared_task(acks_late=True)
def pools_nav_daily_task() -> int:
    """Beat: store each pool's NAV of the day (a second run the same day refreshes it).
    Returns how many pools were valued."""
    ids = list(Pool.objects.values_list("pk", flat=True))
    for pool_id in ids:
        services.pool_nav_snapshot(pool_id=pool_id)
    return len(ids)
