"""Push to the mobile app: the provider backends behind one small interface.

``settings.PUSH_BACKEND`` names the backend (a dotted path):

* :class:`DisabledPushBackend` (the default): push is off, no push delivery is planned;
* :class:`FcmHttpV1Backend`: Firebase Cloud Messaging's HTTP v1 API (Android and iOS through
  APNs), ``POST {PUSH_FCM_ENDPOINT}/v1/projects/{PUSH_FCM_PROJECT_ID}/messages:send`` with a
  bearer token. The tests and the demo point ``PUSH_FCM_ENDPOINT`` at the local stand-in
  (``devtools/fcm_local``, same protocol, 127.0.0.1): nothing calls another host unless
  production configures Google's endpoint and a token.

The backend classifies the provider's answer (:class:`PushResult`): sent; the token is no
longer registered (FCM ``UNREGISTERED``/404, or ``INVALID_ARGUMENT`` about the token - the
device is dropped); transient (429, 5xx, network: retried with backoff); anything else is a
permanent failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import requests
from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True, slots=True)
class PushResult:
    ok: bool = False
    unregistered: bool = False
    transient: bool = False
    error: str = ""
    provider_id: str = ""


class DisabledPushBackend:
    """Push is off (``PUSH_BACKEND`` unset): nothing is planned or sent."""

    enabled = False

    def send(self, *, token: str, title: str, body: str, data: Mapping[str, str]) -> PushResult:
        return PushResult(error="push is disabled")


class FcmHttpV1Backend:
    """FCM HTTP v1 ``messages:send`` (one request per device token).

    Settings: ``PUSH_FCM_ENDPOINT`` (e.g. the local stand-in ``http://127.0.0.1:9099``),
    ``PUSH_FCM_PROJECT_ID``, ``PUSH_FCM_ACCESS_TOKEN`` (an OAuth 2 access token; production
    mints it from the service account), ``PUSH_TIMEOUT_SECONDS``.
    """

    enabled = True

    def __init__(self) -> None:
        self.session = requests.Session()

    @property
    def url(self) -> str:
        return (
            f"{settings.PUSH_FCM_ENDPOINT.rstrip('/')}/v1/projects/"
            f"{settings.PUSH_FCM_PROJECT_ID}/messages:send"
        )

    def send(self, *, token: str, title: str, body: str, data: Mapping[str, str]) -> PushResult:
        message = {
            "message": {
                "token": token,
                "notification": {"title": title, "body": body[:1000]},
                "data": {k: str(v) for k, v in data.items()},
                "android": {"priority": "HIGH"},
                "apns": {"headers": {"apns-priority": "10"}},
            }
        }
        try:
            response = self.session.post(
                self.url,
                json=message,
                headers={"Authorization": f"Bearer {settings.PUSH_FCM_ACCESS_TOKEN}"},
                timeout=settings.PUSH_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            return PushResult(transient=True, error=f"{type(exc).__name__}: {exc}"[:300])
        if response.status_code == 200:
            return PushResult(ok=True, provider_id=str(response.json().get("name", "")))
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {}
        status = str(error.get("status", ""))
        details = " ".join(str(d.get("errorCode", "")) for d in error.get("details", []) or [])
        text = f"{response.status_code} {status} {details} {error.get('message', '')}".strip()
        if "UNREGISTERED" in (status, details) or "UNREGISTERED" in details.split():
            return PushResult(unregistered=True, error=text[:300])
        if response.status_code == 404 or (
            status == "INVALID_ARGUMENT" and "token" in str(error.get("message", "")).lower()
        ):
            return PushResult(unregistered=True, error=text[:300])
        if response.status_code == 429 or response.status_code >= 500:
            return PushResult(transient=True, error=text[:300])
        return PushResult(error=text[:300])


@cache
def _backend(path: str):
    return import_string(path)()


def push_backend():
    """The configured push backend (one instance per process)."""
    return _backend(
        getattr(settings, "PUSH_BACKEND", "") or "notifications.push.DisabledPushBackend"
    )
