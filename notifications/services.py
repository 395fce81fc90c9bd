"""Writes of notifications: turning domain events into notifications, marking them read.

The handler :func:`notifications_from_event` is registered with core
(``paymint.core.registries.register_event_handler``, in ``apps.py``) and runs inside the
event's dispatch transaction: what it writes commits with ``dispatched_at`` or not at all, and
a retried dispatch writes nothing twice (one row per event and recipient).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import User
from marketplace.selectors import listing_progress
from paymint.core.errors import ValidationFailed
from paymint.core.events import EventName
from paymint.core.models import DomainEvent
from paymint.core.queue import enqueue_on_commit
from settlements.ledger import wallet_balances

from .channels import CHANNELS
from .enums import EVENT_CATEGORY, MANDATORY_EMAIL, QUIET_EVENTS, Category, Channel, DeliveryStatus
from .error_codes import NotificationsError
from .live import (
    LISTINGS,
    channel_name,
    live_publish,
    notification_data,
    user_channel,
    users_online,
)
from .models import (
    Notification,
    NotificationDelivery,
    NotificationPreference,
    PushDevice,
)
from .rendering import notification_link, notification_render
from .selectors import (
    channel_allowed,
    notification_get_for_recipient,
    notification_unread_count,
    push_device_get_for_user,
)

DELIVER_TASK = "notifications.tasks.notification_deliver_task"


class DeliveryRetry(Exception):
    """A transient delivery failure (provider down, rate limited): the task retries."""


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
    notifications = list(
        Notification.objects.filter(event=event)
        .select_related("recipient")
        .order_by("recipient_id")
    )
    if name not in QUIET_EVENTS:
        deliveries_plan(notifications=notifications, category=category)
    note_ids = [n.pk for n in notifications]
    transaction.on_commit(lambda: live_updates_publish(event=event, notification_ids=note_ids))
    return notifications


#: Events after which the recipients' wallet balances changed.
BALANCE_EVENTS = frozenset(
    {
        EventName.DEPOSIT_RECEIVED,
        EventName.WITHDRAWAL_PAID,
        EventName.WITHDRAWAL_FAILED,
        EventName.INVESTMENT_CONFIRMED,
        EventName.REPAYMENT_RECEIVED,
        EventName.INVOICE_DISBURSED,
        EventName.INVOICE_CANCELLED,
    }
)
#: Events after which a listing's funding progress changed.
PROGRESS_EVENTS = frozenset(
    {
        EventName.INVESTMENT_CONFIRMED,
        EventName.LISTING_FUNDED,
        EventName.INVOICE_CANCELLED,
    }
)


def live_updates_publish(*, event: DomainEvent, notification_ids: list[int]) -> int:
    """After the dispatch committed: publish to the open event streams (:mod:`.live`) each
    recipient's notification with their unread count, the funding progress of the listing
    concerned (to readers of the marketplace and its seller) and the new wallet balances of
    the recipients who are watching. Best effort; returns how many messages were sent."""
    notifications = list(Notification.objects.filter(pk__in=notification_ids))
    user_ids = [n.recipient_id for n in notifications]
    unread = dict(
        Notification.objects.filter(recipient_id__in=user_ids, read_at__isnull=True)
        .values("recipient_id")
        .annotate(n=Count("id"))
        .values_list("recipient_id", "n")
    )
    messages = [
        (
            user_channel(n.recipient_id),
            "notification",
            notification_data(n, unread.get(n.recipient_id, 0)),
            n.pk,
        )
        for n in notifications
    ]
    if event.name in PROGRESS_EVENTS:
        listing_ids = {e.get("listing_id") for e in (event.recipients or {}).values()} - {None}
        for progress in listing_progress(listing_ids=listing_ids):
            seller_id = progress.pop("seller_id")
            # An open listing is the marketplace's; once closed, only its seller and the
            # investors the event names (they hold a share) may still see it.
            if progress["status"] == "LISTED":
                readers = [channel_name(LISTINGS)]
            else:
                readers = [user_channel(int(pk)) for pk in (event.recipients or {})]
            for channel in dict.fromkeys([*readers, user_channel(seller_id)]):
                messages.append((channel, "listing.progress", progress, None))
    if event.name in BALANCE_EVENTS:
        for user in User.objects.filter(pk__in=users_online(user_ids)):
            balances = [
                {"currency": b["currency"], "balance": str(b["balance"])}
                for b in wallet_balances(user=user)
            ]
            messages.append((user_channel(user.pk), "wallet.balance", {"balances": balances}, None))
    return live_publish(messages)


def _publish_unread(user) -> None:
    count = notification_unread_count(user=user)
    transaction.on_commit(
        lambda: live_publish([(user_channel(user.pk), "unread", {"count": count}, None)])
    )


def deliveries_plan(*, notifications: list[Notification], category: str) -> int:
    """Write the deliveries of ``notifications`` (one ``category``) by every enabled channel
    each recipient allows (:func:`notifications.selectors.channel_allowed`), one per target,
    and enqueue their sending after commit. Idempotent: existing deliveries are kept (unique
    per notification, channel and target). Three queries whatever the number of recipients
    (preferences, devices, the rows). Returns how many deliveries were enqueued."""
    user_ids = [n.recipient_id for n in notifications]
    prefs: dict[int, dict[tuple[str, str], bool]] = defaultdict(dict)
    for p in NotificationPreference.objects.filter(user_id__in=user_ids, category=category):
        prefs[p.user_id][(p.category, p.channel)] = p.enabled
    devices: dict[int, list[PushDevice]] = defaultdict(list)
    channels = [c for c in CHANNELS.values() if c.enabled()]
    if any(c.channel == Channel.PUSH for c in channels):
        for device in PushDevice.objects.filter(
            user_id__in=user_ids, disabled_at__isnull=True
        ).order_by("pk"):
            devices[device.user_id].append(device)
    rows = []
    for notification in notifications:
        user = notification.recipient
        for backend in channels:
            if not channel_allowed(prefs[user.pk], category, backend.channel):
                continue
            for target, device in backend.targets(user=user, devices=devices[user.pk]):
                rows.append(
                    NotificationDelivery(
                        notification=notification,
                        channel=backend.channel,
                        target=target,
                        device=device,
                    )
                )
    if not rows:
        return 0
    NotificationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    pending = list(
        NotificationDelivery.objects.filter(
            notification__in=notifications, status=DeliveryStatus.PENDING
        ).values_list("pk", flat=True)
    )
    for delivery_id in pending:
        enqueue_on_commit(DELIVER_TASK, delivery_id)
    return len(pending)


def notification_deliver(*, delivery_id: int) -> NotificationDelivery | None:
    """Send one delivery by its channel (the delivery task's body). Safe to run twice: the row
    is locked and a final delivery (sent, failed, skipped) is left alone.

    A transient failure is recorded (``attempts``, ``last_error``) and raised as
    :class:`DeliveryRetry` for the task to retry with backoff, until
    ``NOTIFICATION_DELIVERY_MAX_ATTEMPTS``; then the delivery is ``FAILED`` with the reason.
    A push token the provider no longer knows fails the delivery and drops the device.
    """
    retry_error = ""
    with transaction.atomic():
        delivery = (
            NotificationDelivery.objects.select_for_update(of=("self",))
            .select_related("notification__recipient", "notification__event", "device")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return delivery
        delivery.attempts += 1
        outcome = CHANNELS[delivery.channel].deliver(delivery)
        now = timezone.now()
        delivery.last_error = outcome.error[:300]
        delivery.message = outcome.message or delivery.message
        if outcome.retry and delivery.attempts < settings.NOTIFICATION_DELIVERY_MAX_ATTEMPTS:
            retry_error = outcome.error or "transient failure"
        elif outcome.retry:
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.status = outcome.status
            if outcome.status == DeliveryStatus.SENT:
                delivery.sent_at = now
        if outcome.device_unregistered and delivery.device_id:
            PushDevice.objects.filter(pk=delivery.device_id, disabled_at__isnull=True).update(
                disabled_at=now, disabled_reason=outcome.error[:120], updated_at=now
            )
        delivery.save(
            update_fields=["attempts", "last_error", "message", "status", "sent_at", "updated_at"]
        )
    if retry_error:
        raise DeliveryRetry(retry_error)
    return delivery


def notification_preferences_set(*, user, changes: Iterable[tuple[str, str, bool]]) -> None:
    """Set ``user``'s preferences: ``(category, channel, enabled)`` each. All or nothing.

    Raises:
        ValidationFailed: ``VALIDATION_ERROR`` for an unknown category or channel;
            ``PREFERENCE_LOCKED`` for turning security emails off. Nothing is written then.
    """
    changes = list(changes)
    for category, channel, enabled in changes:
        if category not in Category.values or channel not in Channel.values:
            raise ValidationFailed(
                f"Unknown category or channel: {category}/{channel}.",
                fields={"preferences": [f"Unknown: {category}/{channel}."]},
            )
        if channel == Channel.EMAIL and category in MANDATORY_EMAIL and not enabled:
            raise ValidationFailed(
                "Security notifications are always sent by email.",
                code=NotificationsError.PREFERENCE_LOCKED,
                fields={"preferences": [f"{category}/{channel} cannot be turned off."]},
            )
    with transaction.atomic():
        for category, channel, enabled in changes:
            NotificationPreference.objects.update_or_create(
                user=user, category=category, channel=channel, defaults={"enabled": enabled}
            )


def push_device_register(*, user, platform: str, token: str) -> tuple[PushDevice, bool]:
    """Register the push ``token`` of ``user``'s phone (the mobile app at sign-in). A token
    already known is moved to ``user`` and enabled again (one phone, one current account).

    Returns:
        ``(device, created)``.
    """
    with transaction.atomic():
        device = PushDevice.objects.select_for_update().filter(token=token).first()
        if device is None:
            return PushDevice.objects.create(user=user, platform=platform, token=token), True
        device.user, device.platform = user, platform
        device.disabled_at, device.disabled_reason = None, ""
        device.save(
            update_fields=["user", "platform", "disabled_at", "disabled_reason", "updated_at"]
        )
        return device, False


#: Why a device gets nothing more when its user removed it (sign-out in the app).
REMOVED_BY_USER = "removed by the user"


def push_device_remove(*, user, device_id) -> PushDevice:
    """Stop pushing to ``user``'s device ``device_id`` (sign-out in the app): the device is
    switched off (kept for the deliveries that name it); removing it again changes nothing.
    Registering its token again switches it back on.

    Raises:
        NotFound: ``DEVICE_NOT_FOUND`` (unknown, or another user's).
    """
    device = push_device_get_for_user(user=user, device_id=device_id)
    now = timezone.now()
    PushDevice.objects.filter(pk=device.pk, disabled_at__isnull=True).update(
        disabled_at=now, disabled_reason=REMOVED_BY_USER, updated_at=now
    )
    device.refresh_from_db()
    return device


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
            _publish_unread(user)
        notification.refresh_from_db(fields=["read_at", "updated_at"])
    return notification


def notifications_mark_all_read(*, user) -> int:
    """Mark every unread notification of ``user`` read. Returns how many were unread."""
    now = timezone.now()
    with transaction.atomic():
        marked = Notification.objects.filter(recipient=user, read_at__isnull=True).update(
            read_at=now, updated_at=now
        )
        if marked:
            _publish_unread(user)
    return marked


#: What an erased user's notifications say instead of their text.
ERASED_TEXT = "[erased]"


def notifications_personal_data_erase(*, user) -> dict[str, int]:
    """Erase what the notifications of ``user`` say about them (the data-subject erasure,
    GDPR Art. 17, called inside ``compliance.data_protection.erasure_execute``'s transaction;
    registered in ``apps.py``): every notification's title and body become ``[erased]`` and
    its link is dropped (they held amounts, invoice and debtor names, sign-in addresses and
    browsers), the delivery errors are blanked, and the push devices are deleted (their
    tokens identify the phone; the deliveries that named them keep their status). Rows stay,
    so delivery counts and read state remain. Safe to call twice.

    Returns:
        ``{"notifications_erased": n, "push_devices_deleted": n}``.
    """
    now = timezone.now()
    erased = (
        Notification.objects.filter(recipient=user)
        .exclude(title=ERASED_TEXT, body="", link="")
        .update(title=ERASED_TEXT, body="", link="", updated_at=now)
    )
    NotificationDelivery.objects.filter(notification__recipient=user).exclude(
        last_error=""
    ).update(last_error="", updated_at=now)
    _, deleted = PushDevice.objects.filter(user=user).delete()
    devices = deleted.get(PushDevice._meta.label, 0)
    return {"notifications_erased": erased, "push_devices_deleted": devices}
