"""A local stand-in for Firebase Cloud Messaging's HTTP v1 API, served on 127.0.0.1.

The same protocol as ``https://fcm.googleapis.com``: ``POST /v1/projects/{project}/messages:send``
with ``Authorization: Bearer <token>`` and ``{"message": {"token", "notification", "data",
...}}``; answers ``200 {"name": "projects/{project}/messages/<id>"}``, or Google's error shape
(``{"error": {"code", "message", "status", "details": [{"@type":
"type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode"}]}}``):

* a token in :attr:`FakeFcmServer.unregistered` -> 404 ``NOT_FOUND`` / ``UNREGISTERED`` (the app
  was uninstalled: the backend drops the device);
* :attr:`FakeFcmServer.fail_next` > 0 -> 503 ``UNAVAILABLE`` (transient: retried), counting down;
* a missing or wrong bearer token -> 401 ``UNAUTHENTICATED``; a message without ``token`` -> 400
  ``INVALID_ARGUMENT``.

``POST /token`` is Google's OAuth 2 token endpoint for service accounts (the JWT bearer grant):
an RS256 assertion signed by the configured service account's key, for the FCM scope and this
endpoint as audience, gets a fresh access token (kept in :attr:`FakeFcmServer.minted`, then
accepted by ``messages:send``); anything else is ``400 invalid_grant``.

Accepted messages are kept in :attr:`FakeFcmServer.messages`. Used by the tests (like moto for
S3) and by ``manage.py demo``; production code never imports it (an import contract).
"""

from .server import FakeFcmServer

__all__ = ["FakeFcmServer"]
