"""Notifications: what each user was told, and (per channel) how it was delivered."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from paymint.core.models import DomainEvent, OutboundMessage, PublicModel, TimeStampedModel

from .enums import Category, Channel, DeliveryStatus, DevicePlatform


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


class NotificationPreference(TimeStampedModel):
    """Whether ``user`` wants ``category`` notifications by ``channel`` (a row only where the
    user changed the default: every channel on). Security emails cannot be turned off
    (:data:`notifications.enums.MANDATORY_EMAIL`, refused by the service)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    category = models.CharField(max_length=16, choices=Category.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "category", "channel"], name="notification_preference_once"
            ),
            models.CheckConstraint(
                condition=~models.Q(
                    category=Category.SECURITY, channel=Channel.EMAIL, enabled=False
                ),
                name="notification_security_email_on",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.category}/{self.channel}: {self.enabled}"


class PushDevice(PublicModel):
    """A phone of ``user`` that receives push notifications (the mobile app registers its FCM
    registration token with ``POST /api/v1/me/devices``). ``token`` is unique: registering it
    again (another account signed in on the phone) moves it. ``disabled_at`` is set when the
    provider answers that the token is no longer registered; it then gets nothing more."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_devices"
    )
    platform = models.CharField(max_length=8, choices=DevicePlatform.choices)
    token = models.CharField(max_length=512, unique=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=120, blank=True)

    def __str__(self) -> str:
        return f"{self.platform} device of {self.user_id}"


class NotificationDelivery(TimeStampedModel):
    """One notification sent by one channel to one target (the user's address, or one push
    device): the intent, written in the dispatch transaction with the notification; the
    delivery task sends it (:func:`notifications.services.notification_deliver`), safe to run
    twice, retried with backoff on transient errors, then ``FAILED`` with the reason."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    target = models.CharField(max_length=64, help_text='"email" or "device:<id>".')
    device = models.ForeignKey(
        PushDevice, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(
        OutboundMessage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The email in the outbox (email deliveries).",
    )

    class Meta:
        verbose_name_plural = "notification deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel", "target"], name="notification_delivery_once"
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="delivery_by_status")]

    def __str__(self) -> str:
        return f"{self.channel} {self.target}: {self.status}"
