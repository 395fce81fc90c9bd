"""API plumbing shared by every app: the error format and small helpers.

Every error answer has the shape ``{"code": str, "message": str, "fields": {name: [msg]}}``,
5xx included: a dependency outage is 503 ``SERVICE_UNAVAILABLE`` with ``Retry-After``
(:mod:`paymint.core.outage`), any other uncaught error 500 ``INTERNAL_ERROR``
(:func:`server_error`, the project's ``handler500``).
"""

from __future__ import annotations

import logging
import sys

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.template import loader
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .error_codes import CoreError
from .errors import ApplicationError
from .outage import dependency_down, retry_after_seconds

logger = logging.getLogger(__name__)

_DRF_CODES = {
    exceptions.NotAuthenticated: CoreError.NOT_AUTHENTICATED,
    exceptions.AuthenticationFailed: CoreError.AUTHENTICATION_FAILED,
    exceptions.PermissionDenied: CoreError.PERMISSION_DENIED,
    exceptions.NotFound: CoreError.NOT_FOUND,
    exceptions.MethodNotAllowed: CoreError.METHOD_NOT_ALLOWED,
    exceptions.UnsupportedMediaType: CoreError.UNSUPPORTED_MEDIA_TYPE,
    exceptions.ParseError: CoreError.MALFORMED_REQUEST,
    exceptions.Throttled: CoreError.RATE_LIMITED,
    exceptions.ValidationError: CoreError.VALIDATION_ERROR,
}


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten(value).items():
                    out[f"{key}.{sub}"] = messages
            elif isinstance(value, list):
                out[key] = [str(v) for v in value]
            else:
                out[key] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {}


def exception_handler(exc, context):
    """DRF exception handler: renders :class:`ApplicationError` and DRF's own errors as
    ``{"code", "message", "fields"}``."""
    if isinstance(exc, ApplicationError):
        return Response(
            {**exc.extra, "code": exc.code, "message": exc.message, "fields": exc.fields},
            status=exc.http_status,
        )
    dependency = dependency_down(exc)
    if dependency is not None:
        body, status_code, headers = _unavailable(dependency)
        return Response(body, status=status_code, headers=headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    # A DRF exception may carry its own stable code (e.g. ``TOKEN_REVOKED``, a 401 raised by an
    # authentication class, which must stay an ``AuthenticationFailed`` for DRF).
    code = getattr(exc, "error_code", None) or next(
        (c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "ERROR")
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": code, "message": "Please correct the highlighted fields.",
                "fields": _flatten(exc.detail)}
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        body = {"code": code, "message": str(detail), "fields": {}}
    if isinstance(exc, exceptions.NotAuthenticated):
        response.status_code = status.HTTP_401_UNAUTHORIZED
    response.data = body
    return response


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pagination over ``-created_at`` (stable under inserts)."""

    page_size = 25
    max_page_size = 100
    page_size_query_param = "page_size"
    ordering = ("-created_at", "-id")


def paginated(view, queryset, serializer_class) -> Response:
    """Paginate ``queryset`` with the view's cursor paginator and serialize the page."""
    paginator = NewestFirstCursorPagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(
        serializer_class(page, many=True, context={"request": view.request}).data
    )


def _unavailable(dependency: str) -> tuple[dict, int, dict]:
    logger.warning("dependency down, answering 503", extra={"dependency": dependency})
    body = {"code": CoreError.SERVICE_UNAVAILABLE,
            "message": "PayMint is briefly unavailable. Please try again in a moment.",
            "fields": {}, "dependency": dependency}
    return body, 503, {"Retry-After": str(retry_after_seconds())}


def server_error(request):
    """``handler500``: an uncaught error. When it says a dependency is down (the database,
    Redis, the broker, the file storage: :func:`~paymint.core.outage.dependency_down`), 503
    with ``Retry-After``; otherwise 500. Under ``/api/`` the API's JSON error body
    (``SERVICE_UNAVAILABLE`` / ``INTERNAL_ERROR``), elsewhere the ``503.html`` / ``500.html``
    pages, rendered without a request context (no database, no session)."""
    dependency = dependency_down(sys.exc_info()[1])
    if dependency is not None:
        body, status_code, headers = _unavailable(dependency)
        template = "503.html"
    else:
        body, status_code, headers = {"code": CoreError.INTERNAL_ERROR,
                                      "message": "Something went wrong on our side.",
                                      "fields": {}}, 500, {}
        template = "500.html"
    if request.path.startswith("/api/"):
        response = JsonResponse(body, status=status_code)
    else:
        content = loader.get_template(template).render({"retry_after": headers.get(
            "Retry-After")})
        response = HttpResponse(content, status=status_code)
    for name, value in headers.items():
        response[name] = value
    return response


def not_found(request, exception=None):
    """``handler404``: under ``/api/`` the API's JSON error (``NOT_FOUND``) - a URL no route
    matches (an id with a slash, a typo) must not answer the site's HTML page; elsewhere
    Django's page (``templates/404.html``)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": CoreError.NOT_FOUND, "message": "Not found.", "fields": {}},
                            status=404)
    return page_not_found(request, exception)
