"""Links that PayMint emails to users, built for the request that causes the email.

The services that send them (:mod:`accounts.email_verification`,
:mod:`accounts.password_reset`) take a ``link_for(token) -> absolute URL`` callable, so that
the same service serves the dashboard and the API. The links always open the web pages; a
mobile app that handles them as universal links passes the token from the link's path to the
API (``POST auth/email/verify {"token"}``, ``POST auth/password/reset/confirm {"token"}``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.urls import reverse


def email_verification_link_for(request: HttpRequest) -> Callable[[str], str]:
    """``token -> https://host/verify-email/<token>/``."""
    return lambda token: request.build_absolute_uri(reverse("verify-email", args=[token]))


def password_reset_link_for(request: HttpRequest) -> Callable[[str], str]:
    """``"<uidb64>/<token>" -> https://host/password-reset/<uidb64>/<token>/``."""

    def link(token: str) -> str:
        uidb64, _, secret = token.partition("/")
        return request.build_absolute_uri(
            reverse("password-reset-confirm", kwargs={"uidb64": uidb64, "token": secret})
        )

    return link
