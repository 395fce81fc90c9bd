"""API sign-in with JWTs (simplejwt): issue, rotate, revoke. Who may get a pair - the
password, two-factor, SEP-10 - is :mod:`accounts.sign_in`.

- An access token lives ``SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]`` (15 minutes); a refresh token
  lives ``REFRESH_TOKEN_LIFETIME`` and is recorded as an ``OutstandingToken`` when issued.
- Refreshing *rotates*: the presented refresh token is blacklisted and a new pair issued, under
  a row lock on its ``OutstandingToken`` so that two concurrent refreshes with one token cannot
  both succeed.
- Logging out (:func:`token_pair_revoke`) blacklists the refresh token and denies the access
  token the request came with until it expires: its ``jti`` is kept in the access-token denylist
  (``caches[DENYLIST_CACHE_ALIAS]``, key ``jwt:denied:<jti>``, expiring with the token, so the
  list never holds more than the last 15 minutes of logouts), which
  :class:`accounts.authentication.RevocableJWTAuthentication` checks on every request. The
  user's other devices keep their own tokens. simplejwt itself never checks access tokens
  against a blacklist (its ``token_blacklist`` app covers refresh and sliding tokens only).
  The denylist must be shared by every web process: production's default cache is Redis
  (``CACHE_URL``, default ``REDIS_URL``; ``production.py`` refuses to start without it). When
  the cache is unreachable the denylist fails open (logged): an access token revoked then stays
  valid until it expires, as before this denylist existed, rather than the API refusing
  everyone.
- A password change or reset blacklists all of the user's outstanding refresh tokens
  (:func:`user_refresh_tokens_revoke`).
- Every token carries a hash of the user's password hash (``SIMPLE_JWT["CHECK_REVOKE_TOKEN"]``):
  after any password change (also from the admin or ``manage.py changepassword``) the API
  refuses the access tokens issued before it (401 ``AUTHENTICATION_FAILED``) and this module
  refuses the refresh tokens (``TOKEN_REVOKED``).

Errors (stable codes): ``AUTHENTICATION_FAILED`` (401, wrong email or password),
``ACCOUNT_LOCKED`` (429, see :mod:`accounts.lockout`), ``TOKEN_INVALID`` (401: bad signature,
wrong type, malformed), ``TOKEN_EXPIRED`` (401), ``TOKEN_REVOKED`` (401: rotated or logged out),
``TOKEN_NOT_OWNED`` (403: logging out someone else's token). A denied access token is answered
401 ``TOKEN_REVOKED`` by the authentication class.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import timedelta

from django.core.cache import caches
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from paymint.core.errors import ApplicationError, PermissionDenied

from .error_codes import AccountsError
from .models import User

logger = logging.getLogger(__name__)

#: The cache holding the access-token denylist (Redis in production, shared by all replicas).
DENYLIST_CACHE_ALIAS = "default"


class _SignedRefreshToken(RefreshToken):
    """A refresh token checked for signature, expiry, id and type but not against the
    blacklist: callers check that themselves, under a lock."""

    def check_blacklist(self) -> None:
        return None


def _token_error(code: str, message: str, *, status: int = 401) -> ApplicationError:
    return ApplicationError(message, code=code, http_status=status, fields={"refresh": [message]})


def _parse_refresh(raw: str) -> _SignedRefreshToken:
    try:
        return _SignedRefreshToken(raw)
    except ExpiredTokenError:
        raise _token_error(AccountsError.TOKEN_EXPIRED,
                           "The refresh token has expired; sign in again.") \
            from None
    except TokenError:
        raise _token_error(AccountsError.TOKEN_INVALID, "The refresh token is not valid.") from None


def _revoked() -> ApplicationError:
    return _token_error(AccountsError.TOKEN_REVOKED,
                        "The refresh token was already used or revoked; "
                        "sign in again.")


def token_pair_issue(*, user: User) -> dict[str, str]:
    """A new token pair ``{"refresh", "access"}`` for a user whose identity the caller has
    already proved (password, SEP-10 signature); the refresh token is recorded as outstanding
    so that it can be rotated and revoked."""
    refresh = RefreshToken.for_user(user)  # records the OutstandingToken
    return {"refresh": str(refresh), "access": str(refresh.access_token)}


def refresh_token_rotate(*, raw: str) -> dict[str, str]:
    """Exchange a refresh token for a new pair; the old refresh token is blacklisted.

    Raises:
        ApplicationError: ``TOKEN_INVALID``, ``TOKEN_EXPIRED``, ``TOKEN_REVOKED`` (all 401).
    """
    token = _parse_refresh(raw)
    jti = token[jwt_settings.JTI_CLAIM]
    with transaction.atomic():
        outstanding = OutstandingToken.objects.select_for_update().filter(jti=jti).first()
        if outstanding is None:
            # Issued before the blacklist was enabled: record it now.
            outstanding, _ = token.outstand()
            outstanding = OutstandingToken.objects.select_for_update().get(pk=outstanding.pk)
        if BlacklistedToken.objects.filter(token=outstanding).exists():
            raise _revoked()
        user = User.objects.filter(
            **{jwt_settings.USER_ID_FIELD: token.get(jwt_settings.USER_ID_CLAIM)}
        ).first()
        if user is None or not jwt_settings.USER_AUTHENTICATION_RULE(user):
            raise _token_error(AccountsError.TOKEN_INVALID,
                               "The account of this token is disabled.")
        if (jwt_settings.CHECK_REVOKE_TOKEN and token.get(jwt_settings.REVOKE_TOKEN_CLAIM)
                != get_md5_hash_password(user.password)):
            raise _revoked()  # issued before the password changed
        BlacklistedToken.objects.create(token=outstanding)
        return token_pair_issue(user=user)


def refresh_token_revoke(*, user: User, raw: str) -> None:
    """Log out: blacklist ``user``'s refresh token. Revoking it again is a no-op.

    Raises:
        ApplicationError: ``TOKEN_INVALID`` / ``TOKEN_EXPIRED`` (400).
        PermissionDenied: ``TOKEN_NOT_OWNED`` when the token is another user's.
    """
    try:
        token = _parse_refresh(raw)
    except ApplicationError as exc:
        exc.http_status = 400
        raise
    owner = str(token.get(jwt_settings.USER_ID_CLAIM, ""))
    if owner != str(getattr(user, jwt_settings.USER_ID_FIELD)):
        raise PermissionDenied("This refresh token belongs to another account.",
                               code=AccountsError.TOKEN_NOT_OWNED)
    with transaction.atomic():
        outstanding, _ = token.outstand()
        BlacklistedToken.objects.get_or_create(token=outstanding)


def user_refresh_tokens_revoke(*, user: User) -> int:
    """Blacklist every unexpired refresh token of ``user`` (password changed or reset, account
    compromised). Access tokens already issued still work until they expire (15 minutes),
    unless the password changed (``CHECK_REVOKE_TOKEN``).

    Returns:
        How many tokens were newly blacklisted.
    """
    live = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in live], ignore_conflicts=True
    )
    return len(created)


def expired_refresh_tokens_prune(*, now=None) -> int:
    """Delete the records of refresh tokens past their expiry (and their blacklist entries):
    an expired token is refused on its ``exp`` claim alone. Returns the tokens removed."""
    _, by_model = OutstandingToken.objects.filter(
        expires_at__lte=now or timezone.now()
    ).delete()
    return by_model.get(OutstandingToken._meta.label, 0)


def _denylist_key(jti: str) -> str:
    return f"jwt:denied:{jti}"


def _leeway_seconds() -> int:
    leeway = jwt_settings.LEEWAY
    if isinstance(leeway, timedelta):
        leeway = leeway.total_seconds()
    return math.ceil(leeway or 0)


def access_token_revoke(*, user: User, token: Token, now: float | None = None) -> bool:
    """Deny the access token ``token`` (validated, ``user``'s) until it expires.

    The entry lives in the denylist cache for the seconds left before the token's ``exp``
    (plus ``SIMPLE_JWT["LEEWAY"]`` and one second), then disappears by itself: an expired
    token is refused on its ``exp`` claim alone. ``now`` is a Unix time in seconds (tests).

    Returns:
        True when the token was denied; False when it had already expired or the denylist
        cache is unreachable (logged; the token then lives until its ``exp``).

    Raises:
        PermissionDenied: ``TOKEN_NOT_OWNED`` when the token is another user's.
    """
    owner = str(token.get(jwt_settings.USER_ID_CLAIM, ""))
    if owner != str(getattr(user, jwt_settings.USER_ID_FIELD)):
        raise PermissionDenied("This access token belongs to another account.",
                               code=AccountsError.TOKEN_NOT_OWNED)
    now = time.time() if now is None else now
    ttl = int(token["exp"]) - math.floor(now) + _leeway_seconds() + 1
    if ttl <= 1:
        return False
    try:
        caches[DENYLIST_CACHE_ALIAS].set(_denylist_key(token[jwt_settings.JTI_CLAIM]), 1,
                                         timeout=ttl)
    except Exception:  # noqa: BLE001 - fail open, see the module docstring
        logger.exception("access-token denylist unavailable; token %s not denied",
                         token[jwt_settings.JTI_CLAIM])
        return False
    return True


def access_token_is_revoked(*, jti: str) -> bool:
    """Whether the access token with this ``jti`` was revoked (logged out) and has not expired.

    One cache read. False when the denylist cache is unreachable (logged): fail open.
    """
    try:
        return caches[DENYLIST_CACHE_ALIAS].get(_denylist_key(jti)) is not None
    except Exception:  # noqa: BLE001 - fail open, see the module docstring
        logger.exception("access-token denylist unavailable; not checked")
        return False


def token_pair_revoke(*, user: User, refresh_raw: str, access: Token | None) -> None:
    """Log out one session: blacklist ``user``'s refresh token and deny ``access``, the access
    token the request was authenticated with (None when signed in by session), until it
    expires. Other devices' tokens are untouched (a password change ends them all).

    The refresh token is checked first: when it is refused nothing is revoked.

    Raises:
        ApplicationError: ``TOKEN_INVALID`` / ``TOKEN_EXPIRED`` (400).
        PermissionDenied: ``TOKEN_NOT_OWNED`` when a token is another user's.
    """
    refresh_token_revoke(user=user, raw=refresh_raw)
    if access is not None:
        access_token_revoke(user=user, token=access)
