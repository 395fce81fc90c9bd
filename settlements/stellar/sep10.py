"""SEP-10 wallet connection: a user proves control of a Stellar account and it is linked.

The challenge is the SDK's standard SEP-10 transaction (signed by the platform's SEP-10 key,
time-bounded by ``STELLAR_SEP10_TIMEOUT_SECONDS``, home domain ``STELLAR_HOME_DOMAIN``, web auth
domain ``STELLAR_WEB_AUTH_DOMAIN``) with an ID memo carrying the requesting user's id, so that
a challenge signed for one PayMint user cannot link the account to another.

Verification: the SDK's ``read_challenge_transaction`` checks the server signature, time
bounds, home and web-auth domains; then, for an account that exists on the network, the
client's signatures must reach its medium threshold with its signers
(``verify_challenge_transaction_threshold``), else the master key must have signed
(``verify_challenge_transaction_signed_by_client_master_key``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from stellar_sdk import Account, Keypair
from stellar_sdk import TransactionEnvelope as SignedEnvelope
from stellar_sdk.exceptions import Ed25519PublicKeyInvalidError
from stellar_sdk.sep.exceptions import InvalidSep10ChallengeError
from stellar_sdk.sep.stellar_web_authentication import (
    build_challenge_transaction,
    read_challenge_transaction,
    verify_challenge_transaction_signed_by_client_master_key,
    verify_challenge_transaction_threshold,
)
from stellar_sdk.xdr import TransactionEnvelope

from paymint.core.errors import Conflict, PermissionDenied, ValidationFailed

from ..error_codes import SettlementsError
from ..models import StellarAccount
from .gateway import HorizonGateway, get_gateway, platform_keys


class Sep10Invalid(ValidationFailed):
    code = SettlementsError.SEP10_CHALLENGE_INVALID


def _common() -> dict:
    return {
        "server_account_id": platform_keys().sep10.public_key,
        "home_domains": settings.STELLAR_HOME_DOMAIN,
        "web_auth_domain": settings.STELLAR_WEB_AUTH_DOMAIN,
        "network_passphrase": get_gateway().network_passphrase,
    }


def _challenge(account_id: str, *, memo: int | None) -> dict[str, str]:
    """The SDK's SEP-10 challenge for ``account_id`` with an optional user-id memo.

    Raises:
        ValidationFailed: ``INVALID_STELLAR_ACCOUNT``.
    """
    try:
        Keypair.from_public_key(account_id)
    except (Ed25519PublicKeyInvalidError, ValueError):
        raise ValidationFailed(
            "Not a Stellar account id (G...).",
            code=SettlementsError.INVALID_STELLAR_ACCOUNT,
            fields={"account": ["Not a Stellar account id."]},
        ) from None
    passphrase = get_gateway().network_passphrase
    xdr = build_challenge_transaction(
        server_secret=platform_keys().sep10.secret,
        client_account_id=account_id,
        home_domain=settings.STELLAR_HOME_DOMAIN,
        web_auth_domain=settings.STELLAR_WEB_AUTH_DOMAIN,
        network_passphrase=passphrase,
        timeout=settings.STELLAR_SEP10_TIMEOUT_SECONDS,
        memo=memo,
    )
    return {"transaction": xdr, "network_passphrase": passphrase}


def sep10_challenge(*, user, account_id: str) -> dict[str, str]:
    """A SEP-10 challenge for ``account_id`` (a ``G...`` address), bound to ``user``.

    Raises:
        ValidationFailed: ``INVALID_STELLAR_ACCOUNT``.
    """
    return _challenge(account_id, memo=user.pk)


def _verify(challenge_xdr: str, gateway: HorizonGateway, *, memo: int | None) -> str:
    """Check a signed challenge and return its client account id.

    Raises:
        Sep10Invalid: wrong server signature, expired, wrong domain, wrong signer, or a memo
            other than ``memo`` (the user it was issued to; ``None`` for a login challenge).
    """
    common = _common()
    try:
        TransactionEnvelope.from_xdr(challenge_xdr)
    except Exception:  # noqa: BLE001 - xdrlib raises EOFError, struct and conversion errors
        # Not even an envelope (truncated or random base64): refuse it like any bad challenge.
        raise Sep10Invalid("SEP-10 challenge refused: not a transaction envelope.",
                           fields={"transaction": ["Not a transaction envelope."]}) from None
    try:
        challenge = read_challenge_transaction(challenge_xdr, **common)
        if challenge.memo != memo:
            raise InvalidSep10ChallengeError("The challenge was issued to another user.")
        account_id = challenge.client_account_id
        record = gateway.account(account_id)
        if record is None:
            verify_challenge_transaction_signed_by_client_master_key(challenge_xdr, **common)
        else:
            signers = Account(
                account_id, int(record["sequence"]), raw_data=record
            ).load_ed25519_public_key_signers()
            verify_challenge_transaction_threshold(
                challenge_xdr,
                threshold=record["thresholds"]["med_threshold"],
                signers=signers,
                **common,
            )
    except (InvalidSep10ChallengeError, ValueError) as exc:
        raise Sep10Invalid(
            f"SEP-10 challenge refused: {exc}", fields={"transaction": [str(exc)]}
        ) from None
    return account_id


def stellar_account_link(
    *, user, challenge_xdr: str, gateway: HorizonGateway | None = None
) -> StellarAccount:
    """Verify a signed SEP-10 challenge and link its account to ``user`` (again: refreshes
    ``verified_at``).

    Raises:
        Sep10Invalid: wrong server signature, expired, wrong domain, wrong signer, other user.
        Conflict: ``STELLAR_ACCOUNT_TAKEN`` - linked to another user.
    """
    account_id = _verify(challenge_xdr, gateway or get_gateway(), memo=user.pk)
    now = timezone.now()
    try:
        with transaction.atomic():
            existing = (
                StellarAccount.objects.select_for_update().filter(account_id=account_id).first()
            )
            if existing is not None:
                if existing.user_id != user.pk:
                    raise Conflict(
                        "This Stellar account is linked to another user.",
                        code=SettlementsError.STELLAR_ACCOUNT_TAKEN,
                    )
                existing.verified_at = now
                existing.save(update_fields=["verified_at", "updated_at"])
                return existing
            return StellarAccount.objects.create(user=user, account_id=account_id, verified_at=now)
    except IntegrityError:
        raise Conflict(
            "This Stellar account is linked to another user.",
            code=SettlementsError.STELLAR_ACCOUNT_TAKEN
        ) from None


def sep10_login_challenge(*, account_id: str) -> dict[str, str]:
    """A SEP-10 challenge to sign in with an already linked account (no user memo).

    Raises:
        ValidationFailed: ``INVALID_STELLAR_ACCOUNT``.
    """
    return _challenge(account_id, memo=None)


def sep10_login(*, challenge_xdr: str, gateway: HorizonGateway | None = None):
    """The user whose linked Stellar account signed this login challenge (SEP-10 sign-in).

    A challenge signs in once: its hash is remembered (cache) until it expires, so a captured
    signed challenge cannot be replayed. The caller issues the API tokens.

    Raises:
        Sep10Invalid: as :func:`stellar_account_link`; also a challenge already used.
        PermissionDenied: ``STELLAR_ACCOUNT_NOT_LINKED`` - no active user has this account.
    """
    gateway = gateway or get_gateway()
    account_id = _verify(challenge_xdr, gateway, memo=None)
    linked = (
        StellarAccount.objects.select_related("user")
        .filter(account_id=account_id, user__is_active=True)
        .first()
    )
    if linked is None:
        raise PermissionDenied(
            "No PayMint account is linked to this Stellar account.",
            code=SettlementsError.STELLAR_ACCOUNT_NOT_LINKED,
        )
    digest = SignedEnvelope.from_xdr(challenge_xdr, gateway.network_passphrase).hash_hex()
    if not cache.add(f"sep10:used:{digest}", 1, timeout=settings.STELLAR_SEP10_TIMEOUT_SECONDS):
        raise Sep10Invalid(
            "SEP-10 challenge refused: it was already used.",
            fields={"transaction": ["This challenge was already used."]},
        )
    return linked.user
