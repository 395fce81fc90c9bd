"""API plumbing shared by every app: the error format and small helpers.

Every error answer has the shape ``{"code": str, "message": str, "fields": {name: [msg]}}``,
5xx included: a dependency outage is 503 ``SERVICE_UNAVAILABLE`` with ``Retry-After``
(:mod:`paymint.core.outage`), any other uncaught error 500 ``INTERNAL_ERROR``
(:func:`server_error`, the project's ``handler500``).
"""

from __future__ import annotations

import decimal
import logging
import sys
from collections.abc import Callable

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.template import loader
from django.utils import timezone
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


def paginated_rows(view, queryset, row: Callable[[dict], dict],
                   *, prepare: Callable[[list[dict]], object] | None = None) -> Response:
    """:func:`paginated` for reads that answer plain rows: ``queryset`` is a ``.values()``
    queryset (it must hold the cursor's ``created_at`` and ``id``), each of the page's dicts is
    turned into the answer's item by ``row``, without a serializer instance per row (the
    output serializers still document the answer; a test holds both to the same output).
    ``prepare(page)``, when given, runs once on the page first (e.g. a batch read for it)."""
    paginator = NewestFirstCursorPagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    if prepare is not None:
        prepare(page)
    return paginator.get_paginated_response([row(values) for values in page])


_QUANTUM = {places: decimal.Decimal(1).scaleb(-places) for places in range(8)}


def decimal_text(value, places: int = 2, max_digits: int = 20) -> str | None:
    """A decimal as DRF's ``DecimalField(max_digits, decimal_places=places)`` writes it: rounded
    to ``places`` with the context's rounding (half-even) at ``max_digits`` of precision, as
    a plain string (``"1234.50"``); None stays None."""
    if value is None:
        return None
    if not isinstance(value, decimal.Decimal):
        value = decimal.Decimal(str(value).strip())
    context = decimal.getcontext().copy()
    context.prec = max_digits
    return f"{value.quantize(_QUANTUM[places], context=context):f}"


def datetime_text(value, tz=None) -> str | None:
    """A datetime as DRF's ``DateTimeField`` writes it: ISO 8601 in the current time zone
    (``tz`` when given: a page reads it once), ``Z`` for UTC; None stays None."""
    if value is None:
        return None
    if timezone.is_aware(value):
        value = value.astimezone(tz or timezone.get_current_timezone())
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def date_text(value) -> str | None:
    """A date as DRF's ``DateField`` writes it (ISO 8601); None stays None."""
    return None if value is None else value.isoformat()


def uuid_text(value) -> str | None:
    """A UUID as DRF's ``UUIDField`` writes it (hex with hyphens); None stays None."""
    return None if value is None else str(value)


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
