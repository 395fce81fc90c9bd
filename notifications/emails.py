"""The email of a notification: subject, plain text and HTML, in the recipient's language.

Every event's email has the same two parts, sent together as ``multipart/alternative``
(:func:`paymint.core.outbox.outbox_enqueue_email`):

- the **plain text** ``notifications/email/<event>.txt``, falling back to the event group's
  ``notifications/email/<group>.txt`` (``security`` for ``security.new_sign_in``), then to
  ``notifications/email/event.txt``;
- the **HTML** ``notifications/email/<event>.html``, falling back the same way to
  ``<group>.html`` (``security.html`` shows the text as a warning) and ``event.html``; each
  extends the one layout
  ``notifications/email/base.html`` (tables and inline ``style`` attributes only, since mail
  clients drop ``<style>`` blocks and external sheets; no script, no remote image).

Both carry the notification's title and text (rendered per event and language,
:mod:`notifications.rendering`), the event's facts (:func:`email_facts`: amounts with their
currency in the recipient's number format, the invoice, the reason...) and the absolute link
to the page concerned. Everything from the event is escaped in the HTML part (Django's
autoescape): a debtor named ``<b>`` shows as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string, select_template
from django.utils import translation

from .models import Notification
from .rendering import FALLBACK_LANGUAGE

#: The facts an email lists, in this order, when the event carries them: context key ->
#: kind ("money": an amount in the event's ``currency``; "text"; "days").
FACT_KEYS: tuple[tuple[str, str], ...] = (
    ("invoice_number", "text"),
    ("debtor_name", "text"),
    ("amount", "money"),
    ("face_value", "money"),
    ("advance_amount", "money"),
    ("expected_return", "money"),
    ("grade", "text"),
    ("days_past_due", "days"),
    ("reason", "text"),
    ("ip", "text"),
    ("device", "text"),
)

#: The words of the layout and the facts' labels, per language (English for the others).
EMAIL_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "invoice_number": "Invoice",
        "debtor_name": "Debtor",
        "amount": "Amount",
        "face_value": "Face value",
        "advance_amount": "Advance",
        "expected_return": "Expected return",
        "grade": "Risk grade",
        "days_past_due": "Days past due",
        "reason": "Reason",
        "ip": "IP address",
        "device": "Device",
        "open": "Open in PayMint",
        "preferences": "Choose which notifications you get by email",
        "security_note": "Security notifications are always sent by email.",
        "not_you": "If this was not you, change your password now.",
    },
    "de": {
        "invoice_number": "Rechnung",
        "debtor_name": "Schuldner",
        "amount": "Betrag",
        "face_value": "Nennwert",
        "advance_amount": "Vorschuss",
        "expected_return": "Erwarteter Rückfluss",
        "grade": "Risikoklasse",
        "days_past_due": "Tage überfällig",
        "reason": "Grund",
        "ip": "IP-Adresse",
        "device": "Gerät",
        "open": "In PayMint öffnen",
        "preferences": "Wählen Sie, welche Benachrichtigungen Sie per E-Mail erhalten",
        "security_note": "Sicherheitsmeldungen werden immer per E-Mail verschickt.",
        "not_you": "Falls Sie das nicht waren, ändern Sie sofort Ihr Passwort.",
    },
}

#: Where users choose their channels (linked from every email's footer).
PREFERENCES_PATH = "/notifications/preferences/"


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """``subject`` (at most 200 characters), ``text`` (the plain part), ``html``."""

    subject: str
    text: str
    html: str


def email_words(language: str) -> dict[str, str]:
    """The layout's words in ``language`` (English where a word or the language is missing)."""
    return {**EMAIL_WORDS[FALLBACK_LANGUAGE], **EMAIL_WORDS.get(language, {})}


def email_facts(*, context: Mapping[str, Any], words: Mapping[str, str]) -> list[dict]:
    """The facts of an event worth listing: ``[{"key", "label", "value", "currency"}]`` in
    :data:`FACT_KEYS` order, for the keys ``context`` has a non-empty value for. Money facts
    carry the event's ``currency`` (the template formats them with ``|money``); others ""."""
    facts = []
    currency = str(context.get("currency") or "")
    for key, kind in FACT_KEYS:
        value = context.get(key)
        if value in (None, ""):
            continue
        facts.append(
            {
                "key": key,
                "label": words[key],
                "value": value,
                "currency": currency if kind == "money" else "",
                "money": kind == "money",
            }
        )
    return facts


def notification_email_context(notification: Notification) -> dict[str, Any]:
    """What the recipient of ``notification`` may see of its event: the shared ``data``
    merged with their own entry of ``recipients`` (never another recipient's)."""
    event = notification.event
    private = {str(k): v for k, v in (event.recipients or {}).items()}
    return {**(event.data or {}), **(private.get(str(notification.recipient_id)) or {})}


def notification_email_render(notification: Notification) -> RenderedEmail:
    """The email of ``notification`` in its recipient's language (see the module docstring).

    Reads the notification's event and recipient (loaded when not yet).

    Raises:
        django.template.TemplateDoesNotExist: the default templates are missing.
    """
    user = notification.recipient
    language = user.language or FALLBACK_LANGUAGE
    words = email_words(language)
    event_context = notification_email_context(notification)
    site_url = settings.SITE_URL.rstrip("/")
    context = {
        "notification": notification,
        "event": event_context,
        "facts": email_facts(context=event_context, words=words),
        "words": words,
        "link": f"{site_url}{notification.link}" if notification.link else "",
        "preferences_url": f"{site_url}{PREFERENCES_PATH}",
        "security": notification.name.startswith("security."),
        "language": language,
    }
    name = notification.name
    group = name.partition(".")[0]
    with translation.override(language):
        text = render_to_string(
            [
                f"notifications/email/{name}.txt",
                f"notifications/email/{group}.txt",
                "notifications/email/event.txt",
            ],
            context,
        )
        html = select_template(
            [
                f"notifications/email/{name}.html",
                f"notifications/email/{group}.html",
                "notifications/email/event.html",
            ]
        ).render(context)
    return RenderedEmail(subject=f"PayMint: {notification.title}"[:200], text=text, html=html)
