"""Reads of notifications, always the requesting user's own (the web pages and the API)."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from paymint.core.errors import NotFound

from .enums import MANDATORY_EMAIL, Category, Channel
from .error_codes import NotificationsError
from .models import Notification, NotificationPreference, PushDevice


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


def channel_allowed(prefs: dict[tuple[str, str], bool], category: str, channel: str) -> bool:
    """Whether a user whose preferences are ``prefs`` ((category, channel) -> enabled; absent:
    on) gets ``category`` notifications by ``channel``. Security emails always go."""
    if channel == Channel.EMAIL and category in MANDATORY_EMAIL:
        return True
    return prefs.get((category, channel), True)


def notification_preferences_of(*, user) -> list[dict]:
    """Every (category, channel) of ``user`` with ``enabled`` and ``locked`` (cannot be turned
    off), in the order of the enums."""
    prefs = {
        (p.category, p.channel): p.enabled for p in NotificationPreference.objects.filter(user=user)
    }
    return [
        {
            "category": category.value,
            "channel": channel.value,
            "enabled": channel_allowed(prefs, category, channel),
            "locked": channel == Channel.EMAIL and category in MANDATORY_EMAIL,
        }
        for category in Category
        for channel in Channel
    ]


def push_device_list(*, user) -> QuerySet[PushDevice]:
    """``user``'s registered push devices (active and dropped), newest first."""
    return PushDevice.objects.filter(user=user).order_by("-created_at", "-id")


def push_device_get_for_user(*, user, device_id) -> PushDevice:
    """``user``'s push device ``device_id`` (public UUID).

    Raises:
        NotFound: ``DEVICE_NOT_FOUND`` - unknown, or another user's.
    """
    try:
        public_id = uuid.UUID(str(device_id))
    except ValueError:
        public_id = None
    device = (
        PushDevice.objects.filter(user=user, public_id=public_id).first() if public_id else None
    )
    if device is None:
        raise NotFound("Device not found.", code=NotificationsError.DEVICE_NOT_FOUND)
    return device
