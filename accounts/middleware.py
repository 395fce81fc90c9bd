"""Staff reach the admin (``settings.ADMIN_URL``) only with a two-factor verified session.

Install after ``django_otp.middleware.OTPMiddleware``. Under the admin prefix:

- anonymous visitors (and the admin's own login page) go to the site's sign-in, which asks
  for the TOTP code after the password when the account has a device;
- signed-in users who are not staff are sent by the admin to its login page, which answers
  403 here;
- signed-in staff without a confirmed device go to the TOTP set-up page (first visit);
- signed-in staff with a device but an unverified session go to the code page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse

from .two_factor import totp_device_for_user


class StaffTwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        prefix = "/" + settings.ADMIN_URL.lstrip("/")
        if request.path.startswith(prefix):
            response = self._guard(request, prefix)
            if response is not None:
                return response
        return self.get_response(request)

    def _guard(self, request, prefix: str):
        user = request.user
        if not user.is_authenticated:
            if request.path == prefix + "login/":
                return _redirect("login", request.GET.get("next") or prefix)
            return _redirect("login", request.get_full_path())
        if not (user.is_staff and user.is_active):
            if request.path == prefix + "login/":
                # Signed in already: sending them to the site's sign-in would loop.
                raise PermissionDenied("The back office is for operations staff.")
            return None  # the admin sends them to its login page, which answers 403
        if user.is_verified():
            if request.path == prefix + "login/":
                return redirect(prefix)
            return None
        if totp_device_for_user(user=user) is None:
            return _redirect("two-factor-setup", request.get_full_path())
        return _redirect("two-factor-verify", request.get_full_path())


def _redirect(name: str, next_url: str):
    return redirect(f"{reverse(name)}?{urlencode({'next': next_url})}")
