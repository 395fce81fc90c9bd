"""Tasks for shared pieces (the outbox)."""

from celery import shared_task

from . import outbox


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=8)
def outbox_deliver_task(message_id: int) -> str:
    """Deliver one outbox message; retried with backoff on transient errors."""
    return outbox.outbox_deliver(message_id=message_id).status
