"""Notification tasks: send one delivery (email into the outbox, push to the provider)."""

from celery import shared_task
from django.conf import settings

from . import services


@shared_task(
    acks_late=True,
    autoretry_for=(services.DeliveryRetry,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=getattr(settings, "NOTIFICATION_DELIVERY_MAX_ATTEMPTS", 6),
)
def notification_deliver_task(delivery_id: int) -> str:
    """Deliver one notification by one channel; retried with backoff on transient errors
    (the service marks it failed at the last attempt)."""
    delivery = services.notification_deliver(delivery_id=delivery_id)
    return "missing" if delivery is None else delivery.status
