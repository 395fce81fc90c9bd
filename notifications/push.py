"""Push to the mobile app: the provider backends behind one small interface.

``settings.PUSH_BACKEND`` names the backend (a dotted path):

* :class:`DisabledPushBackend` (the default): push is off, no push delivery is planned;
* :class:`FcmHttpV1Backend`: Firebase Cloud Messaging's HTTP v1 API (Android and iOS through
  APNs), ``POST {PUSH_FCM_ENDPOINT}/v1/projects/{PUSH_FCM_PROJECT_ID}/messages:send`` with a
  bearer token. The tests and the demo point ``PUSH_FCM_ENDPOINT`` at the local stand-in
  (``devtools/fcm_local``, same protocol, 127.0.0.1): nothing calls another host unless
  production configures Google's endpoint and a token.

The bearer token: with ``PUSH_FCM_SERVICE_ACCOUNT_FILE`` (the service account's JSON key, as
Google's console downloads it) the backend mints OAuth 2 access tokens itself with the JWT
bearer grant (RFC 7523; Google's "OAuth 2.0 for server to server applications": an RS256 JWT
signed with the account's key, scope ``firebase.messaging``, exchanged at the key's
``token_uri``) and reuses each until a minute before it expires; without it,
``PUSH_FCM_ACCESS_TOKEN`` is used as is (the stand-in's fixed token).

The backend classifies the provider's answer (:class:`PushResult`): sent; the token is no
longer registered (FCM ``UNREGISTERED``/404, or ``INVALID_ARGUMENT`` about the token - the
device is dropped); transient (429, 5xx, network: retried with backoff); anything else is a
permanent failure.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import jwt
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


#: The OAuth 2 scope of FCM's HTTP v1 API.
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
#: RFC 7523's grant type: a signed JWT exchanged for an access token.
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Google's token endpoint, when the key file names none.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
#: How long a minted assertion is valid (Google accepts at most an hour), in seconds.
ASSERTION_SECONDS = 3600
#: A token is renewed this many seconds before it expires.
TOKEN_MARGIN_SECONDS = 60


class AccessTokenError(Exception):
    """The token endpoint refused the service account's assertion or could not be reached."""


class ServiceAccountTokens:
    """OAuth 2 access tokens for FCM from a Google service account key
    (``{"client_email", "private_key", "private_key_id", "token_uri"}``), minted with the JWT
    bearer grant and cached until :data:`TOKEN_MARGIN_SECONDS` before they expire. Thread-safe
    (one token request at a time per process)."""

    def __init__(self, info: Mapping[str, str], *, session: requests.Session) -> None:
        self.client_email = info["client_email"]
        self.private_key = info["private_key"]
        self.key_id = info.get("private_key_id") or None
        self.token_uri = info.get("token_uri") or GOOGLE_TOKEN_URI
        self.session = session
        self._token = ""
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        """A valid access token (a cached one, or a new one from the token endpoint).

        Raises:
            AccessTokenError: refused (4xx: a wrong or revoked key) or unreachable.
        """
        with self._lock:
            if self._token and time.time() < self._expires_at - TOKEN_MARGIN_SECONDS:
                return self._token
            now = int(time.time())
            assertion = jwt.encode(
                {
                    "iss": self.client_email,
                    "scope": FCM_SCOPE,
                    "aud": self.token_uri,
                    "iat": now,
                    "exp": now + ASSERTION_SECONDS,
                },
                self.private_key,
                algorithm="RS256",
                headers={"kid": self.key_id} if self.key_id else None,
            )
            try:
                response = self.session.post(
                    self.token_uri,
                    data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
                    timeout=settings.PUSH_TIMEOUT_SECONDS,
                )
                body = response.json()
            except (requests.RequestException, ValueError) as exc:
                raise AccessTokenError(f"token endpoint: {type(exc).__name__}: {exc}") from exc
            if response.status_code != 200 or "access_token" not in body:
                raise AccessTokenError(
                    f"token endpoint: {response.status_code} {body.get('error', '')} "
                    f"{body.get('error_description', '')}".strip()
                )
            self._token = str(body["access_token"])
            self._expires_at = now + int(body.get("expires_in", ASSERTION_SECONDS))
            return self._token

    def forget(self) -> None:
        """Drop the cached token (FCM answered 401: it was revoked or expired early)."""
        with self._lock:
            self._token, self._expires_at = "", 0.0


@cache
def _service_account_tokens(path: str) -> ServiceAccountTokens:
    with open(path, encoding="utf-8") as key_file:
        return ServiceAccountTokens(json.load(key_file), session=requests.Session())


class DisabledPushBackend:
    """Push is off (``PUSH_BACKEND`` unset): nothing is planned or sent."""

    enabled = False

    def send(self, *, token: str, title: str, body: str, data: Mapping[str, str]) -> PushResult:
        return PushResult(error="push is disabled")


class FcmHttpV1Backend:
    """FCM HTTP v1 ``messages:send`` (one request per device token).

    Settings: ``PUSH_FCM_ENDPOINT`` (e.g. the local stand-in ``http://127.0.0.1:9099``),
    ``PUSH_FCM_PROJECT_ID``, ``PUSH_FCM_SERVICE_ACCOUNT_FILE`` (production: tokens minted from
    the service account, :class:`ServiceAccountTokens`) or ``PUSH_FCM_ACCESS_TOKEN`` (a fixed
    token), ``PUSH_TIMEOUT_SECONDS``. A token that cannot be had, or a 401, is a transient
    failure (retried with backoff; the cached token is dropped after a 401).
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
        key_file = getattr(settings, "PUSH_FCM_SERVICE_ACCOUNT_FILE", "")
        tokens = _service_account_tokens(key_file) if key_file else None
        try:
            bearer = tokens.token() if tokens else settings.PUSH_FCM_ACCESS_TOKEN
        except AccessTokenError as exc:
            return PushResult(transient=True, error=str(exc)[:300])
        try:
            response = self.session.post(
                self.url,
                json=message,
                headers={"Authorization": f"Bearer {bearer}"},
                timeout=settings.PUSH_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            return PushResult(transient=True, error=f"{type(exc).__name__}: {exc}"[:300])
        if response.status_code == 401 and tokens:
            tokens.forget()
            return PushResult(transient=True, error="401 UNAUTHENTICATED (token dropped)")
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
