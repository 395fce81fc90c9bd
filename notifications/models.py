"""Notifications: what each user was told, and (per channel) how it was delivered."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from paymint.core.models import DomainEvent, PublicModel

from .enums import Category


class Notification(PublicModel):
    """One domain event told to one recipient, in the recipient's language.

    Written by :func:`notifications.services.notifications_from_event` when the event is
    dispatched; unique per (event, recipient), so a replayed dispatch writes nothing more.
    ``title``/``body`` are rendered once from ``templates/notifications/events/<language>/``
    with what *this* recipient may see (never another recipient's share). ``read_at`` is set
    by :func:`notifications.services.notification_mark_read` only.
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.ForeignKey(DomainEvent, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=64, help_text="The event's name, e.g. kyc.approved.")
    category = models.CharField(max_length=16, choices=Category.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=300, blank=True, help_text="Where the page links to.")
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["event", "recipient"], name="notification_one_per_event_recipient"
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_inbox"),
            models.Index(
                fields=["recipient"],
                name="notification_unread",
                condition=models.Q(read_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} -> {self.recipient_id}"
