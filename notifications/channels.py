"""The delivery channels behind one interface: where a notification goes besides the in-app
list (which is the :class:`~notifications.models.Notification` row itself).

A channel says which targets a user has (:meth:`ChannelBackend.targets`: the email address;
each active push device) and delivers one :class:`~notifications.models.NotificationDelivery`
(:meth:`ChannelBackend.deliver`) with an :class:`Outcome`. The planning and the retries are
the service's (:mod:`notifications.services`), the same for every channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from paymint.core.models import OutboundMessage
from paymint.core.outbox import outbox_enqueue_email

from .emails import notification_email_render
from .enums import Channel, DeliveryStatus
from .models import NotificationDelivery, PushDevice
from .push import push_backend


def email_deliverable(address: str) -> bool:
    """False for no address or one in the reserved ``invalid`` top-level domain (RFC 2606,
    RFC 6761): erased accounts (``erased-<uuid>@invalid``) and platform-owned ones such as a
    liquidity pool's (``pool-eur@pools.paymint.invalid``), which no mailbox reads."""
    domain = (address or "").rpartition("@")[2].lower()
    return bool(address) and domain != "invalid" and not domain.endswith(".invalid")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a delivery attempt came to: ``status`` SENT, FAILED or SKIPPED (final), or
    ``retry`` (a transient error: try again later)."""

    status: str = DeliveryStatus.SENT
    retry: bool = False
    error: str = ""
    message: OutboundMessage | None = None
    device_unregistered: bool = False


class ChannelBackend(Protocol):
    channel: Channel

    def enabled(self) -> bool: ...

    def targets(self, *, user, devices: list[PushDevice]) -> list[tuple[str, PushDevice | None]]:
        """``(target, device)`` pairs of ``user`` (``devices``: their active push devices)."""
        ...

    def deliver(self, delivery: NotificationDelivery) -> Outcome: ...


class EmailChannel:
    """Email through the outbox (:mod:`paymint.core.outbox`: written in the delivery's
    transaction, sent by its task after commit with retries, through Django's email API so
    that any provider's backend plugs in): plain text with an HTML alternative, in the
    recipient's language (:mod:`notifications.emails`)."""

    channel = Channel.EMAIL

    def enabled(self) -> bool:
        return True

    def targets(self, *, user, devices: list[PushDevice]) -> list[tuple[str, PushDevice | None]]:
        if not user.is_active or not email_deliverable(user.email):
            return []  # deactivated, erased and platform-owned accounts get no mail
        return [("email", None)]

    def deliver(self, delivery: NotificationDelivery) -> Outcome:
        notification = delivery.notification
        email = notification_email_render(notification)
        message = outbox_enqueue_email(
            dedupe_key=f"notification-delivery:{delivery.pk}",
            recipient=notification.recipient.email,
            subject=email.subject,
            body=email.text,
            html_body=email.html,
        )
        return Outcome(status=DeliveryStatus.SENT, message=message)


class PushChannel:
    """Push to each of the user's active devices through the configured provider backend
    (:mod:`notifications.push`); a token the provider no longer knows is dropped."""

    channel = Channel.PUSH

    def enabled(self) -> bool:
        return push_backend().enabled

    def targets(self, *, user, devices: list[PushDevice]) -> list[tuple[str, PushDevice | None]]:
        return [(f"device:{d.pk}", d) for d in devices]

    def deliver(self, delivery: NotificationDelivery) -> Outcome:
        device = delivery.device
        if device is None or device.disabled_at is not None:
            return Outcome(status=DeliveryStatus.SKIPPED, error="the device was removed")
        notification = delivery.notification
        result = push_backend().send(
            token=device.token,
            title=notification.title,
            body=notification.body,
            data={
                "event": notification.name,
                "notification_id": str(notification.public_id),
                "link": notification.link,
            },
        )
        if result.ok:
            return Outcome(status=DeliveryStatus.SENT)
        if result.unregistered:
            return Outcome(
                status=DeliveryStatus.FAILED, error=result.error, device_unregistered=True
            )
        if result.transient:
            return Outcome(status=DeliveryStatus.PENDING, retry=True, error=result.error)
        return Outcome(status=DeliveryStatus.FAILED, error=result.error)


CHANNELS: dict[str, ChannelBackend] = {
    Channel.EMAIL: EmailChannel(),
    Channel.PUSH: PushChannel(),
}
