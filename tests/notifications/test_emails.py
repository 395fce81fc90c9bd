"""Notification emails: a plain-text part and an HTML alternative per event, in the
recipient's language, carrying the event's facts (amounts with their currency in the
recipient's number format, the invoice, the link) and escaping what users typed."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser

import pytest
from django.core import mail

from paymint.core.events import EventName
from paymint.core.models import OutboundMessage
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class _Text(HTMLParser):
    """The visible text of an HTML document and the tags it uses."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.tags: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.hrefs += [value for name, value in attrs if name == "href"]

    def handle_data(self, data):
        self.parts.append(data)


def parsed(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    parser.text = " ".join(" ".join(parser.parts).split())
    return parser


def html_of(message) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


@pytest.fixture
def alice():
    return UserFactory(email="alice@example.com", investor=True)


@pytest.fixture
def bruno():
    return UserFactory(email="bruno@example.com", investor=True, language="de")


def test_both_parts_carry_the_facts_in_each_recipients_language(emit, alice, bruno, settings):
    settings.SITE_URL = "https://app.paymint.test"
    investment_a, investment_b = uuid.uuid4(), uuid.uuid4()
    emit(
        EventName.REPAYMENT_RECEIVED,
        "repayment.received:html",
        {
            alice: {"amount": "1234.50", "currency": "EUR", "investment_id": str(investment_a)},
            bruno: {"amount": "4321.00", "currency": "EUR", "investment_id": str(investment_b)},
        },
        {"invoice_number": "RE-7", "debtor_name": "Müller GmbH"},
    )
    by_address = {m.to[0]: m for m in mail.outbox}
    en, de = by_address["alice@example.com"], by_address["bruno@example.com"]

    html = parsed(html_of(en))
    link = f"https://app.paymint.test/investor/investments/{investment_a}/"
    for part in (en.body, html.text):
        assert "Repayment received RE-7" in part
        assert "1,234.50 EUR" in part and "Müller GmbH" in part
        assert "Amount" in part and "Debtor" in part
    assert link in en.body and link in html.hrefs
    assert "https://app.paymint.test/notifications/preferences/" in html.hrefs
    # Another investor's share is in neither of alice's parts.
    assert "4,321" not in en.body + html.text and str(investment_b) not in html_of(en)

    html_de = parsed(html_of(de))
    for part in (de.body, html_de.text):
        assert "Rückzahlung erhalten RE-7" in part
        assert "4.321,00 EUR" in part and "Betrag" in part and "Schuldner" in part
        assert "1.234" not in part
    assert 'lang="de"' in html_of(de)
    stored = OutboundMessage.objects.get(recipient="bruno@example.com")
    assert stored.html_body == html_of(de) and stored.body == de.body


def test_the_html_is_self_contained_with_inline_styles_only(emit, alice):
    emit(
        EventName.DEPOSIT_RECEIVED,
        "deposit.received:html",
        {alice: {"amount": "50000", "currency": "INR"}},
    )
    [message] = mail.outbox
    html = html_of(message)
    tags = parsed(html).tags
    assert {"html", "body", "table", "h1"} <= tags
    assert not tags & {"style", "script", "link", "img", "iframe", "form"}
    assert "style=" in html
    assert "50,000.00 INR" in message.body and "50,000.00 INR" in parsed(html).text


def test_what_users_typed_is_escaped_in_html_and_kept_as_text(emit, alice):
    debtor = '<script>alert("x")</script> & Sons'
    reason = '<img src=x onerror="steal()"> not ours'
    emit(
        EventName.DEBTOR_DISPUTED,
        "debtor.disputed:html",
        {alice: {"invoice_id": "not-a-uuid"}},
        {"invoice_number": "INV-<b>1</b>", "debtor_name": debtor, "reason": reason},
    )
    [message] = mail.outbox
    html = html_of(message)
    assert "<script" not in html and "<img" not in html and "<b>1</b>" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html and "&amp; Sons" in html
    text = parsed(html).text
    assert debtor in text and reason in text and "INV-<b>1</b>" in text
    assert debtor in message.body and reason in message.body


def test_security_mail_is_a_warning_and_says_it_cannot_be_turned_off(emit, alice):
    emit(
        EventName.SECURITY_NEW_SIGN_IN,
        "security.new_sign_in:html",
        {alice: {"ip": "203.0.113.9", "device": "Firefox/128.0"}},
    )
    [message] = mail.outbox
    html = html_of(message)
    text = parsed(html).text
    assert "203.0.113.9" in text and "Firefox/128.0" in text
    assert "border-left:4px solid #c05621" in html  # the warning box of security.html
    for part in (message.body, text):
        assert "Security notifications are always sent by email." in part
