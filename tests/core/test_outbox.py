"""The outbox keeps its retry bookkeeping when the mail server is down, and its sweep picks up
what a task gave up on."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from paymint.core import outbox
from paymint.core.models import OutboundMessage

pytestmark = pytest.mark.django_db


def test_a_failed_send_keeps_the_attempt_and_the_error_then_a_retry_sends(monkeypatch, mailoutbox):
    message = outbox.outbox_enqueue_email(dedupe_key="outbox-test", recipient="a@example.com",
                                          subject="Hello", body="Body")

    def smtp_down(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(outbox, "email_send", smtp_down)
    with pytest.raises(OSError):
        outbox.outbox_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboundMessage.Status.PENDING, 1)
    assert message.last_error == "mail server down"

    monkeypatch.undo()
    outbox.outbox_deliver(message_id=message.pk)
    outbox.outbox_deliver(message_id=message.pk)  # twice: sent once
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboundMessage.Status.SENT, 2)
    assert [m.subject for m in mailoutbox] == ["Hello"]


def test_an_email_with_an_html_alternative_is_sent_as_both_parts(mailoutbox):
    message = outbox.outbox_enqueue_email(
        dedupe_key="outbox-html", recipient="a@example.com", subject="Hello",
        body="Plain words", html_body="<p>Rich words</p>")
    outbox.outbox_deliver(message_id=message.pk)
    [sent] = mailoutbox
    assert sent.body == "Plain words"
    assert sent.alternatives == [("<p>Rich words</p>", "text/html")]
    plain = outbox.outbox_enqueue_email(dedupe_key="outbox-plain", recipient="a@example.com",
                                        subject="Hi", body="Only text")
    outbox.outbox_deliver(message_id=plain.pk)
    assert mailoutbox[1].alternatives == []


def test_the_sweep_resends_messages_whose_task_gave_up_and_never_sends_twice(mailoutbox):
    stale = outbox.outbox_enqueue_email(dedupe_key="outbox-stale", recipient="a@example.com",
                                        subject="Stale", body="Body")
    fresh = outbox.outbox_enqueue_email(dedupe_key="outbox-fresh", recipient="b@example.com",
                                        subject="Fresh", body="Body")
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    OutboundMessage.objects.filter(pk=stale.pk).update(attempts=9, updated_at=an_hour_ago)

    assert outbox.outbox_pending_sweep() == 1  # the fresh one is left to its own task
    stale.refresh_from_db()
    assert (stale.status, stale.attempts) == (OutboundMessage.Status.SENT, 10)
    assert OutboundMessage.objects.get(pk=fresh.pk).status == OutboundMessage.Status.PENDING
    OutboundMessage.objects.filter(pk=stale.pk).update(updated_at=an_hour_ago)
    assert outbox.outbox_pending_sweep() == 0  # sent: not swept again
    assert [m.subject for m in mailoutbox] == ["Stale"]
