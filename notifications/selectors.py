"""Reads of notifications, always the requesting user's own (the web pages and the API)."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from paymint.core.errors import NotFound

from .error_codes import NotificationsError
from .models import Notification


def notification_list(*, user, unread: bool = False) -> QuerySet[Notification]:
    """``user``'s notifications, newest first (``-created_at, -id``: the cursor order);
    with ``unread`` only those not read yet."""
    qs = Notification.objects.filter(recipient=user)
    if unread:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")


def notification_unread_count(*, user) -> int:
    """How many of ``user``'s notifications are unread (the bell's number): one query."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notification_get_for_recipient(*, user, notification_id) -> Notification:
    """``user``'s notification ``notification_id`` (its public UUID).

    Raises:
        NotFound: ``NOTIFICATION_NOT_FOUND`` - no such notification, or someone else's (the
            two answers are the same, so ids of others' notifications cannot be probed).
    """
    try:
        public_id = uuid.UUID(str(notification_id))
    except ValueError:
        public_id = None
    notification = (
        Notification.objects.filter(recipient=user, public_id=public_id).first()
        if public_id
        else None
    )
    if notification is None:
        raise NotFound("Notification not found.", code=NotificationsError.NOTIFICATION_NOT_FOUND)
    return notification
