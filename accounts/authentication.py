"""API authentication: simplejwt's bearer tokens, minus the access tokens revoked at logout.

Configured first in ``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]``. A token that fails
simplejwt's own checks (signature, expiry, type, user, password changed) is refused as before
(401 ``AUTHENTICATION_FAILED``); a valid one whose ``jti`` is in the access-token denylist
(:func:`accounts.auth_tokens.access_token_is_revoked`) is refused with 401 ``TOKEN_REVOKED``.
"""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import Token

from .auth_tokens import access_token_is_revoked
from .error_codes import AccountsError


class TokenRevoked(exceptions.AuthenticationFailed):
    """401 ``TOKEN_REVOKED``: the access token was logged out. An ``AuthenticationFailed``, so
    that DRF adds ``WWW-Authenticate``; ``error_code`` is the code the API answers with
    (:func:`paymint.core.api.exception_handler`)."""

    error_code = AccountsError.TOKEN_REVOKED
    default_detail = "This access token was revoked (logged out); sign in again."
    default_code = "token_revoked"


class RevocableJWTAuthentication(JWTAuthentication):
    """simplejwt's ``JWTAuthentication`` that also refuses access tokens revoked at logout.
    The denylist is read before the user is loaded: one cache read per request."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = super().get_validated_token(raw_token)
        jti = token.get(jwt_settings.JTI_CLAIM)
        if jti and access_token_is_revoked(jti=str(jti)):
            raise TokenRevoked()
        return token


class RevocableJWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme (``jwtAuth``, bearer JWT) for the class above: defining the
    subclass registers it with drf-spectacular."""

    target_class = "accounts.authentication.RevocableJWTAuthentication"
