"""Dashboard pages for accounts: sign-in/out, sign-up, KYC/KYB onboarding and the role router.

Views validate input with a form, call one service and render; service errors
(:class:`~paymint.core.errors.ApplicationError`) are shown on the form.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from paymint.core.errors import ApplicationError

from .enums import KycStatus, Role
from .forms import EmailAuthenticationForm, KycForm, SignupForm
from .selectors import kyc_profile_for_user
from .services import kyc_submit, user_register


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


login_view = auth_views.LoginView.as_view(
    template_name="accounts/login.html",
    authentication_form=EmailAuthenticationForm,
    redirect_authenticated_user=True,
)
logout_view = auth_views.LogoutView.as_view()


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create a seller or investor account, sign in, continue to onboarding."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_register(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                role=form.cleaned_data["role"],
            )
        except ApplicationError as exc:
            form.add_application_error(exc)
        else:
            login(request, user)
            messages.success(request, "Welcome to PayMint. Tell us who you are to get started.")
            return redirect("kyc")
    return render(request, "accounts/signup.html", {"form": form})


@role_required(Role.SELLER, Role.INVESTOR)
@require_http_methods(["GET", "POST"])
def kyc(request: HttpRequest) -> HttpResponse:
    """KYB (sellers) / KYC (investors) onboarding: the form, the status and the decision."""
    profile = kyc_profile_for_user(user=request.user)
    initial = {}
    if profile is not None:
        initial = {
            "legal_name": profile.legal_name,
            "country": profile.country,
            "tax_id": profile.tax_id,
            "address": profile.address,
        }
    form = KycForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            kyc_submit(user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_application_error(exc)
        else:
            messages.success(request, "Thank you. Your details were sent for review.")
            return redirect("kyc")
    editable = profile is None or profile.status in (KycStatus.DRAFT, KycStatus.REJECTED)
    return render(
        request,
        "accounts/kyc.html",
        {"form": form, "profile": profile, "editable": editable, "KycStatus": KycStatus},
    )


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Send each user to their own dashboard."""
    role = request.user.role
    if role == Role.SELLER:
        return redirect("seller-dashboard")
    if role == Role.INVESTOR:
        return redirect("investor-dashboard")
    if request.user.is_staff:
        return redirect("admin:index")
    raise PermissionDenied("No dashboard for this account.")
