"""Domain events: written with the change they report, dispatched once after commit, never
for a rolled-back change (paymint.core.events)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from paymint.core import registries
from paymint.core.events import (
    EventName,
    domain_events_redispatch,
    event_dispatch,
    event_emit,
)
from paymint.core.models import DomainEvent

pytestmark = pytest.mark.django_db(transaction=True)

CALLS: list[tuple[str, str]] = []


def recording_handler(event: DomainEvent) -> None:
    CALLS.append((event.key, event.name))


def failing_handler(event: DomainEvent) -> None:
    DomainEvent.objects.filter(pk=event.pk).update(last_error="written by a failing handler")
    raise RuntimeError("provider down")


@pytest.fixture(autouse=True)
def handlers(monkeypatch):
    CALLS.clear()
    monkeypatch.setattr(registries, "EVENT_HANDLERS", [f"{__name__}.recording_handler"])
    monkeypatch.setattr("paymint.core.events.EVENT_HANDLERS", registries.EVENT_HANDLERS)
    return registries.EVENT_HANDLERS


def emit(key: str = "investment.confirmed:abc", **kwargs):
    with transaction.atomic():
        return event_emit(
            name=EventName.INVESTMENT_CONFIRMED,
            key=key,
            recipients={7: {"amount": "100.00 EUR"}},
            **kwargs,
        )


def test_an_event_is_dispatched_once_after_commit():
    event = emit()
    event.refresh_from_db()
    assert CALLS == [("investment.confirmed:abc", "investment.confirmed")]
    assert event.dispatched_at is not None and event.recipients == {"7": {"amount": "100.00 EUR"}}
    # Emitting it again (a retried task, a replayed webhook) writes and dispatches nothing.
    again = emit()
    assert again.pk == event.pk and DomainEvent.objects.count() == 1
    assert len(CALLS) == 1
    # So does dispatching it again.
    event_dispatch(event_id=event.pk)
    assert len(CALLS) == 1


def test_a_rolled_back_change_tells_nobody():
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        event_emit(name="kyc.approved", key="kyc.approved:1", recipients={1: {}})
        1 / 0  # noqa: B018 - the business change fails after the event was written
    assert not DomainEvent.objects.exists()
    assert CALLS == []


def test_events_must_be_emitted_inside_the_change_transaction_and_be_known():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        event_emit(name="kyc.approved", key="kyc.approved:2", recipients={})
    with pytest.raises(ValueError), transaction.atomic():
        event_emit(name="kyc.maybe", key="kyc.maybe:2", recipients={})
    assert not DomainEvent.objects.exists()


def test_a_failing_handler_rolls_the_dispatch_back_and_it_is_retried(handlers, settings):
    handlers.append(f"{__name__}.failing_handler")
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    with transaction.atomic():
        event = event_emit(
            name="deposit.received",
            key="deposit.received:9",
            recipients={3: {"amount": "5.00 EUR"}},
        )
    event.refresh_from_db()
    assert event.dispatched_at is None
    assert event.dispatch_attempts >= 1 and "provider down" in event.last_error
    assert CALLS  # the first handler ran, but its dispatch did not commit

    handlers.remove(f"{__name__}.failing_handler")
    CALLS.clear()
    event_dispatch(event_id=event.pk)
    event.refresh_from_db()
    assert event.dispatched_at is not None and CALLS == [("deposit.received:9", "deposit.received")]


def test_the_sweep_redispatches_events_whose_task_was_lost(monkeypatch):
    enqueued: list[int] = []
    monkeypatch.setattr("paymint.core.events.enqueue_on_commit", lambda *a, **k: None)
    event = emit(key="repayment.received:lost")
    assert CALLS == []  # its task never ran
    monkeypatch.setattr(
        "paymint.core.events.enqueue", lambda name, event_id: enqueued.append(event_id)
    )
    assert domain_events_redispatch() == 0  # too recent: its task may still be on its way
    DomainEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=5)
    )
    assert domain_events_redispatch() == 1 and enqueued == [event.pk]
