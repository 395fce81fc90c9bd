"""Helpers for the dashboard tests: forms as a browser posts them, onboarding documents, the
confirmation link from the sent mail, the clock of signed links."""

from __future__ import annotations

import io
import re
import time
import types

from django.core import mail, signing
from django.test import Client
from PIL import Image, ImageDraw

from accounts.email_verification import email_verification_token, email_verify

from .users import TINY_PNG

#: A valid 1x1 PNG (an identity document stand-in for onboarding uploads).
PNG_BYTES = TINY_PNG


def form_data(form, **overrides) -> dict:
    """POST data for an unbound form as the browser would send it (its initial values)."""
    data = {}
    for name, field in form.fields.items():
        value = form.get_initial_for_field(field, name)
        if value is None:
            value = ""
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        data[name] = str(value)
    data.update(overrides)
    return data


def mark_email_verified(user) -> None:
    """Confirm ``user``'s email through the real link service."""
    email_verify(token=email_verification_token(user=user))
    user.refresh_from_db()


def verify_from_outbox(client: Client, index: int = -1):
    """Follow the confirmation link of the ``index``-th email in the outbox (GET, then POST)."""
    body = mail.outbox[index].body
    link = re.search(r"https?://[^/\s]+(/verify-email/[^\s]+/)", body).group(1)
    assert client.get(link).status_code == 200
    return client.post(link)


def id_card_png() -> bytes:
    """A small, recognisable identity-document image (PNG) drawn with Pillow."""
    image = Image.new("RGB", (480, 300), "#eef3f1")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 479, 56), fill="#2a7b6f")
    draw.text((16, 20), "HANDELSREGISTER - AUSZUG (TEST DOCUMENT)", fill="white")
    draw.rectangle((24, 84, 144, 234), outline="#17323a", width=3)
    for row, text in enumerate(
        ["Firma: Bei Spiel GmbH", "Sitz: Berlin", "USt-IdNr: DE136695976", "HRB 12345 B"]
    ):
        draw.text((170, 96 + row * 32), text, fill="#17323a")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def signing_clock_ahead(monkeypatch, seconds: float) -> None:
    """Run the clock of Django's signed tokens (:class:`django.core.signing.TimestampSigner`:
    the timestamp it writes and the age it checks; signed download links, debtor confirmation
    links) ``seconds`` ahead of real time for the rest of the test, instead of sleeping until
    a token has aged."""
    real = time.time
    monkeypatch.setattr(signing, "time", types.SimpleNamespace(time=lambda: real() + seconds))
