"""Request context for the audit trail: who is acting and from where.

:class:`AuditContextMiddleware` keeps the current request in a context variable for the
duration of the request; every :class:`~compliance.models.AuditEvent` written meanwhile (a model
change recorded by django-auditlog, or :func:`compliance.audit.audit_record`) takes from it:

- ``actor``: the signed-in user, read when the event is written (so that API requests
  authenticated by DRF with a JWT, after the middleware ran, are attributed too);
- ``remote_addr``: the client IP: ``REMOTE_ADDR``, or with ``settings.TRUSTED_PROXY_COUNT = n``
  (n trusted reverse proxies in front of the app) the n-th address from the right of
  ``X-Forwarded-For``; never a value the client can choose when no proxy is configured (the
  same address rate limits and lockouts use);
- ``user_agent``: the ``User-Agent`` header (300 characters at most);
- ``cid``: the request id of :class:`paymint.core.middleware.RequestIdMiddleware`; it is also set
  in Celery tasks started by the request, so their events carry it too.

Outside a request (Celery tasks, management commands) only ``cid`` may be known; the actor is
then the one the service passes explicitly (or none: a system action).
"""

from __future__ import annotations

import ipaddress
from contextvars import ContextVar

from django.http import HttpRequest

from paymint.core.logging import request_id_var
from paymint.core.throttling import client_ip as throttling_client_ip

_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)

USER_AGENT_MAX = 300


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP address as rate limits and lockouts see it
    (:func:`paymint.core.throttling.client_ip`, ``TRUSTED_PROXY_COUNT``), or None when it is
    not a valid IP address."""
    try:
        return str(ipaddress.ip_address(throttling_client_ip(request).strip()))
    except ValueError:
        return None


def current_request() -> HttpRequest | None:
    """The request being served in this context, if any."""
    return _current_request.get()


def current_request_id() -> str | None:
    """The request id of this request or Celery task (``AUDITLOG_CID_GETTER``)."""
    return request_id_var.get()


def context_defaults() -> dict:
    """``actor``, ``remote_addr``, ``user_agent`` and ``cid`` of the current context (values
    that are unknown are left out)."""
    values: dict = {}
    request_id = current_request_id()
    if request_id:
        values["cid"] = request_id
    request = current_request()
    if request is None:
        return values
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        values["actor"] = user
    address = client_ip(request)
    if address:
        values["remote_addr"] = address
    agent = request.META.get("HTTP_USER_AGENT", "")
    if agent:
        values["user_agent"] = agent[:USER_AGENT_MAX]
    return values


class AuditContextMiddleware:
    """Exposes the request to the audit trail while it is served (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)
