"""Tasks for shared pieces (the outbox)."""

from celery import shared_task

from . import events, outbox, queue, tallies


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=8)
def outbox_deliver_task(message_id: int) -> str:
    """Deliver one outbox message; retried with backoff on transient errors."""
    return outbox.outbox_deliver(message_id=message_id).status


@shared_task(acks_late=True)
def outbox_pending_sweep_task() -> int:
    """Beat: re-enqueue outbox messages left pending after their task gave up (a long SMTP
    outage) or was lost; a sent message is never sent again."""
    return outbox.outbox_pending_sweep()


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=8)
def domain_event_dispatch_task(event_id: int) -> str:
    """Dispatch one domain event to the registered handlers; retried with backoff (handlers
    are idempotent, and a dispatched event is never dispatched again)."""
    event = events.event_dispatch(event_id=event_id)
    return "missing" if event is None else event.key


@shared_task(acks_late=True)
def domain_events_redispatch_task() -> int:
    """Beat: re-enqueue events whose dispatch task was lost or keeps failing."""
    return events.domain_events_redispatch()


@shared_task(acks_late=True)
def deferred_tasks_publish_task() -> int:
    """Beat: publish the tasks deferred while the broker was down (paymint.core.queue)."""
    return queue.deferred_tasks_publish()


@shared_task(acks_late=True)
def tallies_compact_task() -> dict[str, int]:
    """Fold every registered tally (beat, every 5 minutes; :mod:`paymint.core.tallies`): keeps
    the back office's figures a few rows per key. Safe to run twice."""
    return tallies.tallies_compact()
