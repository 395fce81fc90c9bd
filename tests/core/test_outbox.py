"""The outbox keeps its retry bookkeeping when the mail server is down."""

from __future__ import annotations

import pytest

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
