"""Request id and request metrics middleware (both first in ``MIDDLEWARE``)."""

from __future__ import annotations

import time

from django.core.signals import request_finished
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
