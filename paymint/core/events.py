"""Domain events: what happened, to whom it matters, told once and only if it committed.

A service that changes something people should hear about (an investment confirmed, a
repayment received, a password changed) calls :func:`event_emit` inside its own transaction.
The :class:`~paymint.core.models.DomainEvent` row commits with the change or not at all, so a
rolled-back transaction tells nobody anything (the transactional outbox pattern). After commit
a task dispatches the event to the handlers the apps register
(:func:`paymint.core.registries.register_event_handler`), e.g. the notifications app, which
turns it into one notification per recipient and channel.

Once and only once:

* ``key`` is unique: emitting the same event again (a retried task, a replayed webhook) writes
  nothing and dispatches nothing;
* dispatch locks the row and stops when ``dispatched_at`` is set; a handler that fails rolls
  the whole dispatch back and the task retries, so handlers must be idempotent (unique per
  event, recipient and channel);
* a beat sweep (:func:`domain_events_redispatch`) re-dispatches events whose task was lost
  (broker down at commit, worker killed).

Privacy: ``recipients`` maps each concerned user to what *that* user may be told (an investor's
own share of a repayment); ``data`` is what every recipient may see. A handler never shows one
recipient another's entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from django.db import connections, router, transaction
from django.db.models import F
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import DomainEvent
from .queue import enqueue, enqueue_on_commit
from .registries import EVENT_HANDLERS

DISPATCH_TASK = "paymint.core.tasks.domain_event_dispatch_task"


class EventName(StrEnum):
    """Every domain event PayMint emits (the names clients and templates switch on)."""

    KYC_APPROVED = "kyc.approved"
    KYC_REJECTED = "kyc.rejected"
    INVOICE_EXTRACTED = "invoice.extracted"
    INVOICE_PRICED = "invoice.priced"
    INVOICE_REJECTED = "invoice.rejected"
    INVOICE_CANCELLED = "invoice.cancelled"
    LISTING_FUNDED = "listing.funded"
    INVOICE_DISBURSED = "invoice.disbursed"
    INVOICE_OVERDUE = "invoice.overdue"
    INVOICE_DEFAULTED = "invoice.defaulted"
    INVOICE_WRITTEN_OFF = "invoice.written_off"
    INVOICE_SETTLED = "invoice.settled"
    INVESTMENT_CONFIRMED = "investment.confirmed"
    REPAYMENT_RECEIVED = "repayment.received"
    DEPOSIT_RECEIVED = "deposit.received"
    WITHDRAWAL_PAID = "withdrawal.paid"
    WITHDRAWAL_FAILED = "withdrawal.failed"
    DEBTOR_CONFIRMED = "debtor.confirmed"
    DEBTOR_DISPUTED = "debtor.disputed"
    SECURITY_NEW_SIGN_IN = "security.new_sign_in"
    SECURITY_PASSWORD_CHANGED = "security.password_changed"
    SECURITY_TWO_FACTOR_CHANGED = "security.two_factor_changed"


def _recipient_key(user: Any) -> str:
    return str(getattr(user, "pk", user))


def event_emit(
    *,
    name: EventName | str,
    key: str,
    recipients: Mapping[Any, Mapping[str, Any]],
    data: Mapping[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
) -> DomainEvent:
    """Record event ``name`` inside the caller's transaction and dispatch it after commit.

    Args:
        name: an :class:`EventName`.
        key: unique per event, e.g. ``f"investment.confirmed:{investment.public_id}"``; a
            second call with the same key returns the first event and dispatches nothing.
        recipients: user (or user pk) -> what that user may be told (JSON-serialisable; money
            as strings with their currency).
        data: what every recipient may see (JSON-serialisable).
        occurred_at: when it happened (default now).

    Raises:
        ValueError: an unknown event name.
        RuntimeError: called outside a transaction (the event must commit with its change).
    """
    name = EventName(name)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction of the change it reports")
    event = DomainEvent(
        key=key[:200],
        name=name,
        data=dict(data or {}),
        recipients={_recipient_key(u): dict(v) for u, v in recipients.items()},
        occurred_at=occurred_at or timezone.now(),
    )
    event.pk = _insert_unless_exists(event)
    if event.pk is None:
        return DomainEvent.objects.get(key=event.key)
    event._state.adding, event._state.db = False, router.db_for_write(DomainEvent)
    enqueue_on_commit(DISPATCH_TASK, event.pk)
    return event


def _insert_unless_exists(event: DomainEvent) -> int | None:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: the new row's id, or None when an
    event with the same key exists (one statement, where ``get_or_create`` takes a read, a
    savepoint, the insert and the savepoint's release)."""
    query = InsertQuery(DomainEvent, on_conflict=OnConflict.IGNORE)
    query.insert_values(
        [f for f in DomainEvent._meta.concrete_fields if not f.primary_key], [event]
    )
    using = router.db_for_write(DomainEvent)
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = [DomainEvent._meta.pk]
    [(sql, params)] = compiler.as_sql()
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else row[0]


def event_dispatch(*, event_id: int) -> DomainEvent | None:
    """Give event ``event_id`` to every registered handler, once (the dispatch task's body).

    Runs in one transaction holding the event's row lock: a failing handler rolls back what
    every handler wrote, the attempt is recorded and the error re-raised for the task to retry.
    Returns the event (None when it no longer exists).
    """
    try:
        with transaction.atomic():
            event = DomainEvent.objects.select_for_update().filter(pk=event_id).first()
            if event is None or event.dispatched_at is not None:
                return event
            for path in EVENT_HANDLERS:
                import_string(path)(event)
            event.dispatched_at = timezone.now()
            event.dispatch_attempts += 1
            event.save(update_fields=["dispatched_at", "dispatch_attempts", "updated_at"])
            return event
    except Exception as exc:
        DomainEvent.objects.filter(pk=event_id, dispatched_at__isnull=True).update(
            dispatch_attempts=F("dispatch_attempts") + 1,
            last_error=f"{type(exc).__name__}: {exc}"[:300],
            updated_at=timezone.now(),
        )
        raise


def domain_events_redispatch(*, older_than: dt.timedelta = dt.timedelta(minutes=2)) -> int:
    """Enqueue the dispatch of events still undispatched ``older_than`` after they were
    written (their task was lost, or keeps failing). Returns how many were enqueued."""
    cutoff = timezone.now() - older_than
    ids = list(
        DomainEvent.objects.filter(dispatched_at__isnull=True, created_at__lte=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)[:1000]
    )
    for event_id in ids:
        enqueue(DISPATCH_TASK, event_id)
    return len(ids)
