"""Dashboard page "Your data": download a copy, ask for erasure (compliance.data_protection)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from paymint.core.errors import ApplicationError

from .data_protection import erasure_blockers, erasure_request_create
from .data_protection_api import data_export_response
from .models import DataErasureRequest


@login_required
@require_GET
def data_privacy(request: HttpRequest) -> HttpResponse:
    """The download button, the erasure request form and the state of past requests."""
    user = request.user
    return render(request, "accounts/data_privacy.html", {
        "open_request": DataErasureRequest.objects.filter(
            user=user, status=DataErasureRequest.Status.REQUESTED).first(),
        "blockers": erasure_blockers(user=user),
    })


@login_required
@require_GET
def data_export_download(request: HttpRequest) -> HttpResponse:
    return data_export_response(request, request.user)


@login_required
@require_POST
def erasure_request(request: HttpRequest) -> HttpResponse:
    try:
        erasure_request_create(user=request.user, request=request,
                               note=request.POST.get("note", "")[:2000])
    except ApplicationError as exc:
        messages.error(request, exc.message)
        for problems in exc.fields.values():
            for problem in problems:
                messages.error(request, problem)
    else:
        messages.success(request, "We received your request. Our team will erase your "
                         "personal data and close your account; you will no longer be able "
                         "to sign in.")
    return redirect("data-privacy")
