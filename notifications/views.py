"""The notifications page (read, read all) and the header's bell."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from paymint.core.errors import NotFound

from .enums import Channel
from .forms import PreferencesForm
from .selectors import (
    notification_list,
    notification_preferences_of,
    notification_unread_count,
    push_device_list,
)
from .services import (
    notification_mark_read,
    notification_preferences_set,
    notifications_mark_all_read,
)

PER_PAGE = 25


@login_required
@require_GET
def notification_list_page(request: HttpRequest) -> HttpResponse:
    """The user's notifications, newest first (``?unread=1``: unread only)."""
    unread = request.GET.get("unread") in ("1", "true")
    page = Paginator(notification_list(user=request.user, unread=unread), PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "notifications/list.html",
        {"page": page, "unread_only": unread},
    )


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return redirect(target)


@login_required
@require_POST
def notification_read(request: HttpRequest, notification_id) -> HttpResponse:
    """Mark one notification read, then follow its link (or go back to the list)."""
    try:
        notification = notification_mark_read(user=request.user, notification_id=notification_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if request.POST.get("open") and notification.link:
        return redirect(notification.link)
    return _back(request, "notifications")


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    notifications_mark_all_read(user=request.user)
    return _back(request, "notifications")


@login_required
@require_GET
def notification_bell(request: HttpRequest) -> HttpResponse:
    """The bell alone (htmx polls it to update the header without a reload)."""
    return render(
        request,
        "notifications/_bell.html",
        {"notifications_unread": notification_unread_count(user=request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def notification_preferences(request: HttpRequest) -> HttpResponse:
    """Which notifications go by email and push, per category (security emails always go)."""
    form = PreferencesForm(
        request.POST or None, preferences=notification_preferences_of(user=request.user)
    )
    if request.method == "POST" and form.is_valid():
        notification_preferences_set(user=request.user, changes=form.changes())
        messages.success(request, "Your notification preferences were saved.")
        return redirect("notification-preferences")
    return render(
        request,
        "notifications/preferences.html",
        {
            "form": form,
            "channels": Channel.choices,
            "devices": push_device_list(user=request.user)[:20],
        },
    )
