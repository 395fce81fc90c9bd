"""API authentication: simplejwt's bearer tokens, minus the access tokens revoked at logout.

Configured first in ``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]``. A token that fails
simplejwt's own checks (signature, expiry, type, user, password changed) is refused as before
(401 ``AUTHENTICATION_FAILED``), except an expired one, refused with 401 ``TOKEN_EXPIRED`` so
that a client knows to refresh rather than sign in again; a valid one whose ``jti`` is in the
access-token denylist (:func:`accounts.auth_tokens.access_token_is_revoked`) is refused with
401 ``TOKEN_REVOKED``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import OuterRef
from django.db.models.sql import Query
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from .auth_tokens import access_token_is_revoked
from .enums import KycStatus
from .error_codes import AccountsError
from .models import User
from .selectors import kyc_approved_expression, kyc_approved_sql


class TokenRevoked(exceptions.AuthenticationFailed):
    """401 ``TOKEN_REVOKED``: the access token was logged out. An ``AuthenticationFailed``, so
    that DRF adds ``WWW-Authenticate``; ``error_code`` is the code the API answers with
    (:func:`paymint.core.api.exception_handler`)."""

    error_code = AccountsError.TOKEN_REVOKED
    default_detail = "This access token was revoked (logged out); sign in again."
    default_code = "token_revoked"


class TokenExpired(exceptions.AuthenticationFailed):
    """401 ``TOKEN_EXPIRED``: the access token is genuine but past its ``exp`` (plus
    ``SIMPLE_JWT["LEEWAY"]``). The client should refresh it (``POST auth/token/refresh``)."""

    error_code = AccountsError.TOKEN_EXPIRED
    default_detail = "This access token has expired; refresh it."
    default_code = "token_expired"


def _is_expired(raw_token: bytes) -> bool:
    """Whether ``raw_token`` fails only by having expired: its signature was checked first
    (PyJWT verifies the signature before the claims), so a forged token is never "expired"."""
    for token_class in jwt_settings.AUTH_TOKEN_CLASSES:
        try:
            token_class(raw_token)
        except ExpiredTokenError:
            return True
        except TokenError:
            continue
    return False


def _user_with_kyc_sql() -> str:
    """The request's user with ``kyc_approved``, written out: the ORM's compile of the
    annotated query cost about 0.6 ms of CPU per request, more than the query (issue #19)."""
    table = User._meta.db_table
    column = User._meta.get_field(jwt_settings.USER_ID_FIELD).column
    approved = kyc_approved_sql(f'"{table}"."id"')
    # The columns named, not "*": a prepared statement's result may not change when a
    # migration adds a column (settings: DB_PREPARE_THRESHOLD).
    columns = ", ".join(f'"{table}"."{field.column}"' for field in User._meta.concrete_fields)
    return (f'SELECT {columns}, {approved} AS "kyc_approved" FROM "{table}" '  # noqa: S608  # nosec B608 - names from code, values bound
            f'WHERE "{table}"."{column}" = %s LIMIT 1')


_USER_WITH_KYC_SQL = _user_with_kyc_sql()


class _UserLoader:
    """A :class:`User` (with ``kyc_approved``) from a row of :data:`_USER_WITH_KYC_SQL`, as
    ``User.objects.raw`` would make it (fields by column name, the fields' converters, extra
    columns as attributes), with the column order worked out once per process instead of on
    every request (~0.13 ms of CPU, issue #19)."""

    def __init__(self, columns: list[str]):
        fields = {field.column: field for field in User._meta.fields}
        self.width = len(columns)
        init = [field for field in User._meta.fields if field.column in columns]
        self.names = [field.attname for field in init]
        self.positions = [columns.index(field.column) for field in init]
        self.extra = [(column, pos) for pos, column in enumerate(columns) if column not in fields]
        compiler = connection.ops.compiler("SQLCompiler")(Query(User), connection, "default")
        cols = [fields[c].get_col(User._meta.db_table) if c in fields else None
                for c in columns]
        self.converters = list(compiler.get_converters(cols).items())

    def instance(self, row) -> User:
        if self.converters:
            row = list(row)
            for pos, (convs, expression) in self.converters:
                for converter in convs:
                    row[pos] = converter(row[pos], expression, connection)
        user = User.from_db("default", self.names, [row[pos] for pos in self.positions])
        for column, pos in self.extra:
            setattr(user, column, row[pos])
        return user


_USER_LOADER: _UserLoader | None = None


def _user_loader(columns: list[str]) -> _UserLoader:
    global _USER_LOADER  # noqa: PLW0603 - one per process, replaced if the columns change
    _USER_LOADER = _UserLoader(columns)
    return _USER_LOADER


class RevocableJWTAuthentication(JWTAuthentication):
    """simplejwt's ``JWTAuthentication`` that also refuses access tokens revoked at logout.
    The denylist is read before the user is loaded: one cache read per request, no query.

    The user is loaded with ``kyc_approved`` (whether their KYC/KYB profile is approved, the
    rule of :func:`accounts.selectors.kyc_is_approved`) in the same query, so that the read
    permissions of the request (:func:`accounts.selectors.kyc_is_approved_cached`) ask no
    second one.
    """

    def get_user(self, validated_token: Token):
        """simplejwt's ``get_user`` on a queryset that also reads ``kyc_approved``. A token that
        fails its checks (no user id, unknown or inactive user, password changed since) is
        handed to simplejwt's own ``get_user``, which refuses it with its own errors (one more
        query, on the failure path only)."""
        user_id = validated_token.get(jwt_settings.USER_ID_CLAIM)
        user = None if user_id is None else self._user_with_kyc(user_id)
        if (
            user is None
            or (jwt_settings.CHECK_USER_IS_ACTIVE and not user.is_active)
            or (jwt_settings.CHECK_REVOKE_TOKEN and validated_token.get(
                jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password))
        ):
            return super().get_user(validated_token)
        return user

    def _user_with_kyc(self, user_id):
        """The user whose ``USER_ID_FIELD`` is ``user_id``, with ``kyc_approved``; None when
        there is none or the id is malformed (simplejwt's ``get_user`` then answers)."""
        if connection.vendor != "postgresql":
            return (self.user_model.objects
                    .annotate(kyc_approved=kyc_approved_expression(OuterRef("pk")))
                    .filter(**{jwt_settings.USER_ID_FIELD: user_id}).first())
        try:
            value = User._meta.get_field(jwt_settings.USER_ID_FIELD).to_python(user_id)
        except ValidationError:
            return None
        with connection.cursor() as cursor:
            cursor.execute(_USER_WITH_KYC_SQL, [KycStatus.APPROVED, value])
            row = cursor.fetchone()
            if row is None:
                return None
            loader = _USER_LOADER
            if loader is None or loader.width != len(row):
                loader = _user_loader([column.name for column in cursor.description])
        return loader.instance(row)

    def get_validated_token(self, raw_token: bytes) -> Token:
        """simplejwt's validation, then the denylist (one cache read).

        Raises:
            TokenExpired: 401 ``TOKEN_EXPIRED`` for a genuine token past its expiry (checked
                on the failure path only).
            InvalidToken: 401 ``AUTHENTICATION_FAILED`` for any other invalid token.
            TokenRevoked: 401 ``TOKEN_REVOKED`` for a logged-out token.
        """
        try:
            token = super().get_validated_token(raw_token)
        except InvalidToken:
            if _is_expired(raw_token):
                raise TokenExpired() from None
            raise
        jti = token.get(jwt_settings.JTI_CLAIM)
        if jti and access_token_is_revoked(jti=str(jti)):
            raise TokenRevoked()
        return token


class RevocableJWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme (``jwtAuth``, bearer JWT) for the class above: defining the
    subclass registers it with drf-spectacular."""

    target_class = "accounts.authentication.RevocableJWTAuthentication"
