"""The HTTP server of the FCM stand-in (see the package docstring)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt

#: What Google's token endpoint checks in a service account's assertion (the JWT bearer grant).
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"

_SEND = re.compile(r"^/v1/projects/(?P<project>[\w-]+)/messages:send$")


def _error(code: int, status: str, message: str, error_code: str = "") -> dict:
    body = {"error": {"code": code, "message": message, "status": status}}
    if error_code:
        body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": error_code,
            }
        ]
    return body


class FakeFcmServer:
    """``with FakeFcmServer(access_token="t") as fcm: fcm.url`` - a threaded server on a free
    loopback port."""

    def __init__(
        self,
        *,
        access_token: str = "local-fcm-token",  # noqa: S107 - the stand-in's fixed test token
        host: str = "127.0.0.1",
        port: int = 0,
        service_account_public_key: str = "",
        service_account_email: str = "",
    ) -> None:
        self.access_token = access_token
        #: The token endpoint (``POST /token``, the JWT bearer grant): assertions signed by the
        #: key of ``service_account_public_key`` (PEM) for ``service_account_email`` get a
        #: fresh access token, which ``messages:send`` then accepts.
        self.service_account_public_key = service_account_public_key
        self.service_account_email = service_account_email
        self.minted: list[str] = []
        self.messages: list[dict] = []
        self.unregistered: set[str] = set()
        self.fail_next = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                return

            def _answer(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _token(self, raw: bytes) -> None:
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                refused = {"error": "invalid_grant", "error_description": "Invalid JWT."}
                if form.get("grant_type") != JWT_BEARER_GRANT or not (
                    server.service_account_public_key
                ):
                    return self._answer(400, {"error": "unsupported_grant_type"})
                try:
                    claims = jwt.decode(
                        form.get("assertion", ""),
                        server.service_account_public_key,
                        algorithms=["RS256"],
                        audience=f"{server.url}/token",
                        issuer=server.service_account_email,
                        options={"require": ["iss", "aud", "iat", "exp", "scope"]},
                    )
                except jwt.PyJWTError as exc:
                    return self._answer(400, {**refused, "error_description": str(exc)})
                if FCM_SCOPE not in str(claims.get("scope", "")).split():
                    return self._answer(400, {"error": "invalid_scope"})
                token = f"ya29.local-{uuid.uuid4().hex}"
                with server.lock:
                    server.minted.append(token)
                return self._answer(
                    200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
                )

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                match = _SEND.match(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path == "/token":
                    return self._token(raw)
                if not match:
                    return self._answer(404, _error(404, "NOT_FOUND", "Unknown path."))
                accepted = {f"Bearer {t}" for t in [server.access_token, *server.minted]}
                if self.headers.get("Authorization") not in accepted:
                    return self._answer(
                        401, _error(401, "UNAUTHENTICATED", "Request had invalid credentials.")
                    )
                try:
                    message = json.loads(raw)["message"]
                except (ValueError, KeyError, TypeError):
                    return self._answer(400, _error(400, "INVALID_ARGUMENT", "Invalid JSON."))
                token = message.get("token") if isinstance(message, dict) else None
                if not token:
                    return self._answer(
                        400,
                        _error(
                            400,
                            "INVALID_ARGUMENT",
                            "Recipient of the message is not set.",
                            "INVALID_ARGUMENT",
                        ),
                    )
                with server.lock:
                    if server.fail_next > 0:
                        server.fail_next -= 1
                        return self._answer(
                            503,
                            _error(
                                503, "UNAVAILABLE", "The service is unavailable.", "UNAVAILABLE"
                            ),
                        )
                    if token in server.unregistered:
                        return self._answer(
                            404,
                            _error(
                                404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"
                            ),
                        )
                    name = f"projects/{match['project']}/messages/{uuid.uuid4().hex[:16]}"
                    server.messages.append({"name": name, **message})
                return self._answer(200, {"name": name})

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeFcmServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeFcmServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
