"""Bank webhook signatures: HMAC-SHA256 over ``<timestamp>.<raw body>``.

Header ``X-PayMint-Signature: t=<unix seconds>,v1=<hex digest>`` (the scheme Stripe documents
for its webhooks). Several ``v1`` values are allowed during secret rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from paymint.core.errors import ApplicationError

from .error_codes import SettlementsError


class WebhookRejected(ApplicationError):
    code = SettlementsError.WEBHOOK_SIGNATURE_INVALID
    http_status = 401


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The header value for ``body`` signed at ``timestamp`` (used by the bank simulator and
    tests)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(
    *, body: bytes, header: str | None, secret: str, tolerance_seconds: int,
    now: float | None = None,
) -> int:
    """Check the signature header of a webhook request; return its timestamp.

    Raises:
        WebhookRejected: ``WEBHOOK_SIGNATURE_MISSING``, ``WEBHOOK_SIGNATURE_INVALID`` or
            ``WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE`` (more than ``tolerance_seconds`` from now).
    """
    if not header:
        raise WebhookRejected("Missing signature header.",
                              code=SettlementsError.WEBHOOK_SIGNATURE_MISSING)
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookRejected("Malformed signature header.")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise WebhookRejected("Webhook timestamp outside the tolerance window.",
                              code=SettlementsError.WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE)
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise WebhookRejected("Signature does not match.")
    return timestamp
