"""Request id and request metrics middleware (both first in ``MIDDLEWARE``), and the back
office's planning of statements (:class:`BackOfficeCustomPlansMiddleware`)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.signals import request_finished
from django.db import connection
from django.dispatch import receiver

from .logging import clean_request_id, new_request_id, request_id_var
from .metrics import observe_request

REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Takes the caller's ``X-Request-ID`` (when it is a safe token) or makes one, exposes it
    as ``request.request_id``, in :data:`paymint.core.logging.request_id_var` for every log
    line and Celery task of the request, and on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = clean_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
        request.request_id = request_id
        # Cleared on ``request_finished`` rather than here: Django logs 4xx/5xx responses
        # ("Not Found: ...") after the middleware chain has returned.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


@receiver(request_finished, dispatch_uid="paymint.core.middleware.clear_request_id")
def _clear_request_id(**kwargs) -> None:
    request_id_var.set(None)


class MetricsMiddleware:
    """Observes each request's latency in ``paymint_http_request_duration_seconds`` labelled
    by view name (the URL name, e.g. ``api-v1:invoice-detail``; ``<unresolved>`` for 404s
    outside any route), method and status code."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            match = getattr(request, "resolver_match", None)
            view = (match.view_name or match._func_path) if match is not None else "<unresolved>"
            observe_request(
                view=view,
                method=request.method,
                status=status,
                seconds=time.perf_counter() - started,
            )


class BackOfficeCustomPlansMiddleware:
    """The back office (``ADMIN_URL``) plans every statement for its own values.

    Statements are prepared on PostgreSQL (settings: ``DB_PREPARE_THRESHOLD``), and after a few
    executions PostgreSQL may run a prepared statement with a generic plan, made for a
    filter's average selectivity. The API's and the pages' hot statements are served well by
    theirs; the back office's ad-hoc filters are not: the invoice list filtered on a rare
    status took 0.48-0.76 s at 1,000,000 invoices with generic plans against 0.14 s planned for
    the value (``benchmarks/README.md``, issue #19). A back office request sets
    ``plan_cache_mode = force_custom_plan`` on its connection and resets it when it ends (two
    statements; the parse is still saved).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefix = "/" + settings.ADMIN_URL.lstrip("/")

    def __call__(self, request):
        if not request.path.startswith(self.prefix) or connection.vendor != "postgresql":
            return self.get_response(request)
        with connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_custom_plan")
        try:
            return self.get_response(request)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET plan_cache_mode")
