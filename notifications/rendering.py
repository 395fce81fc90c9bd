"""The words of a notification: title and body rendered from a template per event and language.

Templates live in ``templates/notifications/events/<language>/<event name>.txt``: the first
line is the title, the rest (after a blank line) the body. A language without its own template
for an event falls back to English. Amounts are formatted for the recipient's language
(``{{ amount|money:currency }}``, Babel's CLDR data) because rendering runs under
``translation.override(language)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.template.loader import select_template
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from accounts.enums import Role
from paymint.core.events import EventName

FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class RenderedNotification:
    title: str
    body: str


def notification_render(
    *, name: str, language: str, context: Mapping[str, Any]
) -> RenderedNotification:
    """Title (at most 200 characters) and body of event ``name`` in ``language``.

    Args:
        name: an :class:`~paymint.core.events.EventName` value.
        language: a language code of ``settings.LANGUAGES`` (others fall back to English).
        context: the event's shared data merged with what this recipient may see.

    Raises:
        django.template.TemplateDoesNotExist: no template for the event, even in English.
    """
    language = language or FALLBACK_LANGUAGE
    template = select_template(
        [
            f"notifications/events/{language}/{name}.txt",
            f"notifications/events/{FALLBACK_LANGUAGE}/{name}.txt",
        ]
    )
    with translation.override(language):
        text = template.render(dict(context)).strip()
    title, _, body = text.partition("\n")
    return RenderedNotification(title=title.strip()[:200], body=body.strip())


def _url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:  # an id that is not a UUID: no link rather than an error
        return ""


def notification_link(*, name: str, role: str, context: Mapping[str, Any]) -> str:
    """The page a notification links to, for a recipient of ``role`` ("" when none)."""
    event = EventName(name)
    if name.startswith("security."):
        return _url("account-security")
    if name.startswith("kyc."):
        return _url("kyc")
    if context.get("investment_id") and role == Role.INVESTOR:
        return _url("investment-statement", context["investment_id"])
    if context.get("invoice_id") and role == Role.SELLER:
        return _url("seller-invoice", context["invoice_id"])
    if context.get("listing_id") and role == Role.INVESTOR:
        return _url("listing-detail", context["listing_id"])
    if event in (
        EventName.DEPOSIT_RECEIVED,
        EventName.WITHDRAWAL_PAID,
        EventName.WITHDRAWAL_FAILED,
        EventName.REPAYMENT_RECEIVED,
    ):
        return _url("wallet")
    return ""
