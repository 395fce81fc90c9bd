"""The outbox: queue messages with the business change, deliver them after commit."""

from __future__ import annotations

import datetime as dt

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from .models import OutboundMessage
from .queue import enqueue, enqueue_on_commit

DELIVER_TASK = "paymint.core.tasks.outbox_deliver_task"


def outbox_enqueue_email(*, dedupe_key: str, recipient: str, subject: str, body: str,
                         html_body: str = "") -> OutboundMessage:
    """Write an email to the outbox (inside the caller's transaction) and schedule its
    delivery after commit. Idempotent by ``dedupe_key``.

    Args:
        body: the plain-text part, always sent.
        html_body: an HTML alternative of the same content (``multipart/alternative``), or
            "" for a plain-text email.
    """
    message, created = OutboundMessage.objects.get_or_create(
        dedupe_key=dedupe_key,
        defaults={"recipient": recipient, "subject": subject[:200], "body": body,
                  "html_body": html_body},
    )
    if created:
        enqueue_on_commit(DELIVER_TASK, message.pk)
    return message


def email_send(message: OutboundMessage) -> None:
    """Hand ``message`` to Django's email backend (whichever provider the settings name): the
    plain-text body, with its HTML alternative when it has one (``multipart/alternative``).

    Raises:
        OSError: the mail server could not be reached.
    """
    email = EmailMultiAlternatives(message.subject, message.body, None, [message.recipient])
    if message.html_body:
        email.attach_alternative(message.html_body, "text/html")
    email.send()


def outbox_deliver(*, message_id: int) -> OutboundMessage:
    """Send one pending message (the delivery task's body). Safe to run twice: a sent message
    is not sent again (the row is locked while sending).

    Raises:
        OSError: the mail server could not be reached; the message stays pending with its
            ``attempts`` and ``last_error`` saved (committed before the error is raised, so the
            task's retry sees them).
    """
    failure: OSError | None = None
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().get(pk=message_id)
        if message.status == OutboundMessage.Status.SENT:
            return message
        message.attempts += 1
        try:
            email_send(message)
        except OSError as exc:  # SMTP/network: keep pending for a retry
            message.last_error = str(exc)[:300]
            message.save(update_fields=["attempts", "last_error", "updated_at"])
            failure = exc
        else:
            message.status = OutboundMessage.Status.SENT
            message.sent_at = timezone.now()
            message.save(update_fields=["status", "attempts", "sent_at", "updated_at"])
    if failure is not None:
        raise failure
    return message


def outbox_pending_sweep(*, idle_for: dt.timedelta = dt.timedelta(minutes=15),
                         limit: int = 1000) -> int:
    """Enqueue the delivery of messages still PENDING and untouched for ``idle_for`` (the beat
    sweep's body): their task gave up its retries during a long mail-server outage, or was
    lost. Returns how many were enqueued.

    Safe beside a retry still scheduled: :func:`outbox_deliver` locks the row and a sent
    message is never sent again. ``idle_for`` stays above the longest backoff between two
    attempts of the delivery task (2**8 s = 256 s at its last retry), so a message whose task
    is still retrying is normally left to it.
    """
    cutoff = timezone.now() - idle_for
    ids = list(
        OutboundMessage.objects.filter(status=OutboundMessage.Status.PENDING,
                                       updated_at__lte=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
    for message_id in ids:
        enqueue(DELIVER_TASK, message_id)
    return len(ids)
