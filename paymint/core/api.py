"""API plumbing shared by every app: the error format and small helpers.

Every error answer has the shape ``{"code": str, "message": str, "fields": {name: [msg]}}``.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .error_codes import CoreError
from .errors import ApplicationError

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


def not_found(request, exception=None):
    """``handler404``: under ``/api/`` the API's JSON error (``NOT_FOUND``) - a URL no route
    matches (an id with a slash, a typo) must not answer the site's HTML page; elsewhere
    Django's page (``templates/404.html``)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": CoreError.NOT_FOUND, "message": "Not found.", "fields": {}},
                            status=404)
    return page_not_found(request, exception)
