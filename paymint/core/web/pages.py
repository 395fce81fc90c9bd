"""Guards and helpers of server-rendered pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


def role_required(*roles: str) -> Callable:
    """Require a signed-in user whose ``role`` is one of ``roles`` (403 otherwise)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.user.role not in roles:
                raise PermissionDenied("This page is not available for your account type.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def is_htmx(request: HttpRequest) -> bool:
    """True for requests sent by htmx (until django-htmx's middleware sets ``request.htmx``)."""
    return request.headers.get("HX-Request") == "true"
