"""Dashboard pages for accounts: sign-in/out, sign-up, KYC/KYB onboarding and the role router.

Views validate input with a form, call one service and render; service errors
(:class:`~paymint.core.errors.ApplicationError`) are shown on the form.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from compliance.public import audit_record
from paymint.core.errors import ApplicationError, NotFound
from paymint.core.storage import private_file_redirect
from paymint.core.throttling import (
    LoginThrottle,
    RegistrationThrottle,
    UploadThrottle,
    throttle_view,
)
from paymint.core.web import role_required

from .email_verification import email_verification_resend, email_verify
from .enums import KycStatus, Role
from .error_codes import AccountsError
from .forms import (
    EmailAuthenticationForm,
    KycForm,
    OtpTokenForm,
    PasswordChangeServiceForm,
    PasswordResetRequestForm,
    PasswordResetSetForm,
    SignupForm,
    TwoFactorDisableForm,
)
from .kyc_documents import (
    kyc_document_get_for_viewer,
    kyc_document_private_file,
    kyc_onboarding_document_kind,
    kyc_submit_with_document,
)
from .links import email_verification_link_for
from .lockout import lockout_response
from .selectors import kyc_profile_for_user
from .services import user_sign_up
from .sign_in import sign_in_code_check, sign_in_origin_record
from .two_factor import (
    totp_device_for_user,
    totp_disable,
    totp_enrolment_confirm,
    totp_enrolment_start,
    totp_qr_svg,
    totp_secret_base32,
    user_for_pending_sign_in,
)

#: Session key of a sign-in waiting for its second step: ``{"user", "backend", "at"}``.
PENDING_SIGN_IN = "accounts.pending_sign_in"
#: Seconds between the password and the code before the sign-in must start again.
PENDING_SIGN_IN_SECONDS = 300
#: Seconds between two verification emails for one user.
#: The backend a new account is signed in with (axes' backend comes first but signs no one in).
SIGNUP_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _safe_next(request: HttpRequest, default: str = settings.LOGIN_REDIRECT_URL) -> str:
    """The ``next`` parameter when it points at this site, else ``default``."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(default)


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}" if next_url else reverse(name)


class TwoStepLoginView(auth_views.LoginView):
    """Email and password; accounts with an authenticator app then give a code
    (:func:`two_factor_verify`) before they are signed in.

    Sign-in attempts are limited per IP address (``login`` rate); after ``AXES_FAILURE_LIMIT``
    wrong passwords for one email from one address django-axes answers with
    ``accounts/locked_out.html`` (429) instead (:mod:`accounts.lockout`)."""

    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if totp_device_for_user(user=user) is None:
            response = super().form_valid(form)
            sign_in_origin_record(request=self.request, user=user)
            return response
        self.request.session[PENDING_SIGN_IN] = {
            "user": user.pk,
            "backend": user.backend,
            "at": int(time.time()),
        }
        return redirect(_with_next("two-factor-verify", self.get_redirect_url()))


login_view = throttle_view(LoginThrottle)(TwoStepLoginView.as_view())
logout_view = auth_views.LogoutView.as_view()


@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The code step: finishes a pending sign-in, or verifies a signed-in session (staff on
    their way to the admin)."""
    pending = None
    if request.user.is_authenticated:
        user = request.user
        if user.is_verified():
            return redirect(_safe_next(request))
        if totp_device_for_user(user=user) is None:
            return redirect(_with_next("two-factor-setup", request.GET.get("next", "")))
    else:
        pending = request.session.get(PENDING_SIGN_IN)
        user = None
        if pending and time.time() - pending["at"] <= PENDING_SIGN_IN_SECONDS:
            user = user_for_pending_sign_in(user_id=pending["user"])
        if user is None:
            request.session.pop(PENDING_SIGN_IN, None)
            messages.info(request, "Please sign in again.")
            return redirect(_with_next("login", request.GET.get("next", "")))
    form = OtpTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            # Wrong codes count towards the sign-in lockout, as in the API.
            device = sign_in_code_check(request=request, user=user,
                                        code=form.cleaned_data["token"])
        except ApplicationError as exc:
            if exc.code == AccountsError.ACCOUNT_LOCKED:
                request.session.pop(PENDING_SIGN_IN, None)
                return lockout_response(request)
            form.add_application_error(exc)
        else:
            if pending is not None:
                request.session.pop(PENDING_SIGN_IN, None)
                login(request, user, backend=pending["backend"])
                sign_in_origin_record(request=request, user=user)
            otp_login(request, device)
            return redirect(_safe_next(request))
    return render(
        request,
        "accounts/two_factor_verify.html",
        {"form": form, "next": request.GET.get("next", ""), "signing_in": pending is not None},
    )


@login_required
@require_GET
def account_security(request: HttpRequest) -> HttpResponse:
    """Email verification status, password change link and two-factor sign-in."""
    return render(
        request,
        "accounts/security.html",
        {"device": totp_device_for_user(user=request.user),
         "disable_form": TwoFactorDisableForm()},
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: QR code and secret, then confirm with a first code."""
    next_url = request.POST.get("next") or request.GET.get("next", "")
    if totp_device_for_user(user=request.user) is not None:
        messages.info(request, "Two-factor sign-in is already on.")
        return redirect(_safe_next(request, "account-security"))
    device = totp_enrolment_start(user=request.user)
    form = OtpTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = totp_enrolment_confirm(user=request.user, token=form.cleaned_data["token"])
        except ApplicationError as exc:
            form.add_application_error(exc)
        else:
            otp_login(request, device)
            messages.success(
                request, "Two-factor sign-in is on. We will ask for a code each time you sign in."
            )
            return redirect(_safe_next(request, "account-security"))
    return render(
        request,
        "accounts/two_factor_setup.html",
        {
            "form": form,
            "next": next_url,
            "qr_svg": totp_qr_svg(device),
            "secret": totp_secret_base32(device),
            "otpauth_uri": device.config_url,
            "required": request.user.is_staff,
        },
    )


@login_required
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    form = TwoFactorDisableForm(request.POST)
    if form.is_valid():
        try:
            totp_disable(user=request.user, password=form.cleaned_data["password"],
                         token=form.cleaned_data["token"])
        except ApplicationError as exc:
            form.add_application_error(exc)
        else:
            messages.success(request, "Two-factor sign-in is off.")
            return redirect("account-security")
    return render(
        request,
        "accounts/security.html",
        {"device": totp_device_for_user(user=request.user), "disable_form": form},
        status=400,
    )


@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the email: GET asks to confirm (mail scanners only GET), POST confirms."""
    if request.method == "POST":
        try:
            email_verify(token=token)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Thank you, your email address is confirmed.")
        return redirect("dashboard" if request.user.is_authenticated else "login")
    return render(request, "accounts/verify_email.html", {"token": token})


@login_required
@require_POST
def resend_verification(request: HttpRequest) -> HttpResponse:
    """Send the confirmation email again (at most once a minute)."""
    user = request.user
    try:
        email_verification_resend(user=user, link_for=email_verification_link_for(request))
    except ApplicationError as exc:
        messages.info(request, exc.message)
    else:
        messages.success(request, f"We sent a new confirmation link to {user.email}.")
    return redirect(_safe_next(request, "dashboard"))


password_reset = auth_views.PasswordResetView.as_view(
    form_class=PasswordResetRequestForm,  # the API's service sends the mail
    template_name="accounts/password_reset_form.html",
    email_template_name="accounts/email/password_reset.txt",
    subject_template_name="accounts/email/password_reset_subject.txt",
    success_url=reverse_lazy("password-reset-done"),
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="accounts/password_reset_done.html"
)
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="accounts/password_reset_confirm.html",
    form_class=PasswordResetSetForm,  # also revokes API tokens and clears sign-in lockouts
    success_url=reverse_lazy("password-reset-complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_reset_complete.html"
)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Current and new password. This session stays signed in; the user's other sessions and
    API refresh tokens are ended (:func:`accounts.services.user_password_set`)."""

    template_name = "accounts/password_change.html"
    form_class = PasswordChangeServiceForm
    success_url = reverse_lazy("account-security")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(
            self.request,
            "Your password was changed. You were signed out everywhere else.",
        )
        return response


password_change = PasswordChangeView.as_view()


@require_http_methods(["GET", "POST"])
@throttle_view(RegistrationThrottle)
def signup(request: HttpRequest) -> HttpResponse:
    """Create a seller or investor account, sign in, continue to onboarding."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_sign_up(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                role=form.cleaned_data["role"],
                link_for=email_verification_link_for(request),
            )
        except ApplicationError as exc:
            form.add_application_error(exc)
        else:
            login(request, user, backend=SIGNUP_BACKEND)
            messages.success(
                request,
                f"Welcome to PayMint. We sent a confirmation link to {user.email}: "
                "confirm your address, then tell us who you are.",
            )
            return redirect("kyc")
    return render(request, "accounts/signup.html", {"form": form})


@role_required(Role.SELLER, Role.INVESTOR)
@require_http_methods(["GET", "POST"])
@throttle_view(UploadThrottle)
def kyc(request: HttpRequest) -> HttpResponse:
    """KYB (sellers) / KYC (investors) onboarding: the form with the identity or registration
    document, the status and the decision. Closed until the email address is confirmed.
    Submissions (with their document upload) count against the user's ``uploads`` rate."""
    user = request.user
    profile = kyc_profile_for_user(user=user)
    documents = list(profile.documents.all()) if profile is not None else []
    initial = {}
    if profile is not None:
        initial = {
            "legal_name": profile.legal_name,
            "country": profile.country,
            "tax_id": profile.tax_id,
            "address": profile.address,
            "date_of_birth": profile.date_of_birth,
            "identity_document_number": profile.identity_document_number,
            "bank_account_iban": profile.bank_account_iban,
            "declared_investment": profile.declared_investment,
        }
    email_verified = user.email_verified_at is not None
    required_kind = kyc_onboarding_document_kind(user=user)
    form = KycForm(
        request.POST or None,
        request.FILES or None,
        initial=initial,
        role=user.role,
        document_on_file=any(document.kind == required_kind for document in documents),
    )
    if request.method == "POST" and form.is_valid():
        try:
            kyc_submit_with_document(user=user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_application_error(exc)
        else:
            messages.success(request, "Thank you. Your details were sent for review.")
            return redirect("kyc")
    editable = profile is None or profile.status in (KycStatus.DRAFT, KycStatus.REJECTED)
    return render(
        request,
        "accounts/kyc.html",
        {
            "form": form,
            "profile": profile,
            "documents": documents,
            "editable": editable,
            "email_verified": email_verified,
            "KycStatus": KycStatus,
        },
    )


@login_required
@require_GET
def kyc_document(request: HttpRequest, document_id) -> HttpResponse:
    """A KYC/KYB document, for two-factor verified staff (the admin) and the profile's owner:
    a redirect to a fresh short-lived signed URL that serves it as an attachment
    (:mod:`paymint.core.storage`)."""
    try:
        document = kyc_document_get_for_viewer(user=request.user, document_id=document_id)
    except NotFound:
        raise Http404("Document not found.") from None
    audit_record(action="document.view", target=document, request=request, kind="access")
    return private_file_redirect(
        request, kind="kyc", object_id=document.public_id,
        private_file=kyc_document_private_file(document),
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
