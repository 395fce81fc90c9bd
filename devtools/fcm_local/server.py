"""The HTTP server of the FCM stand-in (see the package docstring)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
    ) -> None:
        self.access_token = access_token
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

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                match = _SEND.match(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not match:
                    return self._answer(404, _error(404, "NOT_FOUND", "Unknown path."))
                if self.headers.get("Authorization") != f"Bearer {server.access_token}":
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
