"""Writes of notifications: turning domain events into notifications, marking them read.

The handler :func:`notifications_from_event` is registered with core
(``paymint.core.registries.register_event_handler``, in ``apps.py``) and runs inside the
event's dispatch transaction: what it writes commits with ``dispatched_at`` or not at all, and
a retried dispatch writes nothing twice (one row per event and recipient).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from paymint.core.events import EventName
from paymint.core.models import DomainEvent

from .enums import EVENT_CATEGORY
from .models import Notification
from .rendering import notification_link, notification_render
from .selectors import notification_get_for_recipient


def notifications_from_event(event: DomainEvent) -> list[Notification]:
    """Write one :class:`Notification` per recipient of ``event`` (the domain event handler).

    Each recipient's title and body are rendered in their language from the event's shared
    ``data`` and that recipient's own entry of ``recipients`` only, so an investor never sees
    another investor's amount. Recipients that no longer exist are skipped. Idempotent: rows
    that exist already (a replayed dispatch) are kept as they are.

    Returns the event's notifications (existing and new), ordered by recipient id.
    """
    name = EventName(event.name)
    category = EVENT_CATEGORY[name]
    private = {str(k): v for k, v in (event.recipients or {}).items()}
    user_ids = [int(k) for k in private if str(k).isdigit()]
    rows = []
    for user in User.objects.filter(pk__in=user_ids).order_by("pk"):
        context = {**(event.data or {}), **(private.get(str(user.pk)) or {})}
        rendered = notification_render(name=name, language=user.language, context=context)
        rows.append(
            Notification(
                recipient=user,
                event=event,
                name=name,
                category=category,
                title=rendered.title,
                body=rendered.body,
                link=notification_link(name=name, role=user.role, context=context),
            )
        )
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    return list(Notification.objects.filter(event=event).order_by("recipient_id"))


def notification_mark_read(*, user, notification_id) -> Notification:
    """Mark ``user``'s notification ``notification_id`` (public UUID) read; reading it again
    keeps the first ``read_at``.

    Raises:
        NotFound: ``NOTIFICATION_NOT_FOUND`` (unknown, or another user's).
    """
    notification = notification_get_for_recipient(user=user, notification_id=notification_id)
    if notification.read_at is None:
        now = timezone.now()
        with transaction.atomic():
            Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
                read_at=now, updated_at=now
            )
        notification.refresh_from_db(fields=["read_at", "updated_at"])
    return notification


def notifications_mark_all_read(*, user) -> int:
    """Mark every unread notification of ``user`` read. Returns how many were unread."""
    now = timezone.now()
    with transaction.atomic():
        return Notification.objects.filter(recipient=user, read_at__isnull=True).update(
            read_at=now, updated_at=now
        )
