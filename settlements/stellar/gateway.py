"""The one way PayMint talks to Stellar: :class:`HorizonGateway` (and the platform's keys).

``get_gateway()`` returns a process-wide gateway built from settings: on ``STELLAR_NETWORK =
"local"`` it is the one ``settings.STELLAR_LOCAL_NETWORK`` builds (the in-process network of
:mod:`devtools.stellar_local`, for tests and the demo), otherwise the SDK's HTTP client against
Horizon.

Errors are translated into three typed exceptions: :class:`SubmissionRejected` (Horizon answered
with result codes: the outcome is known), :class:`SubmissionUnknown` (timeout, connection error,
5xx: the transaction may or may not have been applied) and :class:`AccountNotFound`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from stellar_sdk import Account, Asset, Keypair, Network, Server, TransactionBuilder
from stellar_sdk.client.base_sync_client import BaseSyncClient
from stellar_sdk.exceptions import (
    BadRequestError,
    BadResponseError,
    NotFoundError,
    UnknownRequestError,
)
from stellar_sdk.exceptions import ConnectionError as SdkConnectionError

NETWORKS = {
    "local": ("http://stellar.local/", Network.STANDALONE_NETWORK_PASSPHRASE),
    "testnet": ("https://horizon-testnet.stellar.org/", Network.TESTNET_NETWORK_PASSPHRASE),
    "public": ("https://horizon.stellar.org/", Network.PUBLIC_NETWORK_PASSPHRASE),
}


class AccountNotFound(Exception):
    def __init__(self, account_id: str) -> None:
        super().__init__(f"Stellar account {account_id} does not exist")
        self.account_id = account_id


class SubmissionRejected(Exception):
    """Horizon answered with result codes (``tx_*`` and per-operation ``op_*``)."""

    def __init__(
        self,
        transaction_code: str,
        operation_codes: list[str] | None = None,
        extras: dict | None = None,
        status: int = 400,
    ) -> None:
        super().__init__(f"{transaction_code} {operation_codes or ''}".strip())
        self.transaction_code = transaction_code
        self.operation_codes = list(operation_codes or [])
        self.extras = extras or {}
        self.status = status

    @property
    def codes(self) -> dict[str, Any]:
        return {"transaction": self.transaction_code, "operations": self.operation_codes}


class SubmissionUnknown(Exception):
    """No answer (timeout, connection lost, 5xx, 504): the transaction may have been applied."""


@dataclass(frozen=True)
class PlatformKeys:
    issuer: Keypair
    distribution: Keypair
    custody: Keypair
    stablecoin_issuer: Keypair | None
    sep10: Keypair

    def by_public_key(self) -> dict[str, Keypair]:
        keys = [self.issuer, self.distribution, self.custody, self.sep10]
        if self.stablecoin_issuer is not None:
            keys.append(self.stablecoin_issuer)
        return {k.public_key: k for k in keys}

    @property
    def stablecoin_issuer_id(self) -> str:
        if self.stablecoin_issuer is not None:
            return self.stablecoin_issuer.public_key
        if not settings.STELLAR_STABLECOIN_ISSUER:
            raise ImproperlyConfigured("STELLAR_STABLECOIN_ISSUER is not set")
        return settings.STELLAR_STABLECOIN_ISSUER


def _dev_key(role: str) -> Keypair:
    """Deterministic development key for the local network only (holds nothing real)."""
    return Keypair.from_raw_ed25519_seed(hashlib.sha256(f"paymint-local-{role}".encode()).digest())


def _key(setting: str, role: str, *, required: bool = True) -> Keypair | None:
    secret = getattr(settings, setting, "")
    if secret:
        return Keypair.from_secret(secret)
    if settings.STELLAR_NETWORK == "local":
        return _dev_key(role)
    if required:
        raise ImproperlyConfigured(
            f"{setting} must be set for STELLAR_NETWORK={settings.STELLAR_NETWORK}"
        )
    return None


def platform_keys() -> PlatformKeys:
    """The platform's signing keys, from environment settings (dev keys on ``local``)."""
    return PlatformKeys(
        issuer=_key("STELLAR_ISSUER_SECRET", "issuer"),
        distribution=_key("STELLAR_DISTRIBUTION_SECRET", "distribution"),
        custody=_key("STELLAR_CUSTODY_SECRET", "custody"),
        stablecoin_issuer=_key(
            "STELLAR_STABLECOIN_ISSUER_SECRET", "stablecoin-issuer", required=False
        ),
        sep10=_key("STELLAR_SEP10_SIGNING_SECRET", "sep10"),
    )


def stablecoin_asset(currency: str) -> Asset:
    try:
        code = settings.STELLAR_STABLECOIN_CODES[currency]
    except KeyError:
        raise ImproperlyConfigured(f"No stablecoin configured for {currency}") from None
    return Asset(code, platform_keys().stablecoin_issuer_id)


def network_config() -> tuple[str, str, str]:
    """(network, horizon URL, passphrase) from settings."""
    network = settings.STELLAR_NETWORK
    if network not in NETWORKS:
        raise ImproperlyConfigured(f"STELLAR_NETWORK must be one of {sorted(NETWORKS)}")
    default_url, default_passphrase = NETWORKS[network]
    return (
        network,
        settings.STELLAR_HORIZON_URL or default_url,
        settings.STELLAR_NETWORK_PASSPHRASE or default_passphrase,
    )


class NetworkClock(Protocol):
    """A network that tells its own time (the local network's ledger)."""

    def now(self) -> int: ...


class HorizonGateway:
    """Reads and submissions against Horizon (or the local ledger), with typed errors."""

    def __init__(
        self,
        *,
        horizon_url: str,
        network_passphrase: str,
        client: BaseSyncClient | None = None,
        ledger: NetworkClock | None = None,
    ) -> None:
        self.horizon_url = horizon_url
        self.network_passphrase = network_passphrase
        self.ledger = ledger  # the local network (its clock), None on testnet/public
        self.server = Server(horizon_url, client=client)

    def _call(self, fn):
        try:
            return fn()
        except SdkConnectionError as exc:
            raise SubmissionUnknown(str(exc)) from exc
        except (BadResponseError, UnknownRequestError) as exc:
            raise SubmissionUnknown(f"Horizon {exc.status}: {exc.title}") from exc

    def account(self, account_id: str) -> dict[str, Any] | None:
        """Horizon's account record, or ``None`` when the account does not exist."""
        try:
            return self._call(lambda: self.server.accounts().account_id(account_id).call())
        except NotFoundError:
            return None

    def load_account(self, account_id: str) -> Account:
        try:
            return self._call(lambda: self.server.load_account(account_id))
        except NotFoundError:
            raise AccountNotFound(account_id) from None

    def balance(self, account_id: str, asset: Asset) -> Decimal | None:
        """The account's balance of ``asset``; ``None`` without account or trustline."""
        record = self.account(account_id)
        if record is None:
            return None
        for line in record["balances"]:
            if asset.is_native() and line["asset_type"] == "native":
                return Decimal(line["balance"])
            if (
                not asset.is_native()
                and line.get("asset_code") == asset.code
                and line.get("asset_issuer") == asset.issuer
            ):
                return Decimal(line["balance"])
        return None

    def trustline(self, account_id: str, asset: Asset) -> dict[str, Any] | None:
        record = self.account(account_id)
        for line in (record or {}).get("balances", []):
            if line.get("asset_code") == asset.code and line.get("asset_issuer") == asset.issuer:
                return line
        return None

    def submit(self, envelope_xdr: str) -> dict[str, Any]:
        """Submit a signed envelope. Returns Horizon's transaction record on success.

        Raises:
            SubmissionRejected: Horizon answered with result codes (known outcome).
            SubmissionUnknown: timeout/connection error/5xx: look the hash up before acting.
        """
        envelope = TransactionBuilder.from_xdr(envelope_xdr, self.network_passphrase)
        try:
            return self._call(
                lambda: self.server.submit_transaction(envelope, skip_memo_required_check=True)
            )
        except BadRequestError as exc:
            codes = (exc.extras or {}).get("result_codes") or {}
            raise SubmissionRejected(
                codes.get("transaction") or exc.type or "bad_request",
                codes.get("operations"),
                exc.extras,
                exc.status,
            ) from exc

    def transaction_by_hash(self, tx_hash: str) -> dict[str, Any] | None:
        """The transaction record (``successful`` true or false), ``None`` if not in a ledger."""
        try:
            return self._call(lambda: self.server.transactions().transaction(tx_hash).call())
        except NotFoundError:
            return None

    def asset_holders(self, asset: Asset) -> dict[str, Decimal]:
        """``{account_id: balance}`` of every account with a trustline to ``asset``
        (all pages, balances including zero)."""
        holders: dict[str, Decimal] = {}
        builder = self.server.accounts().for_asset(asset).limit(200)
        page = self._call(builder.call)
        while True:
            records = page["_embedded"]["records"]
            for record in records:
                for line in record["balances"]:
                    if (
                        line.get("asset_code") == asset.code
                        and line.get("asset_issuer") == asset.issuer
                    ):
                        holders[record["account_id"]] = Decimal(line["balance"])
            if len(records) < 200:
                return holders
            page = self._call(builder.next)

    def fee_stats(self) -> dict[str, Any]:
        return self._call(lambda: self.server.fee_stats().call())

    def latest_ledger(self) -> dict[str, Any]:
        page = self._call(lambda: self.server.ledgers().order(desc=True).limit(1).call())
        return page["_embedded"]["records"][0]

    def base_fee(self) -> int:
        """The fee per operation to offer: the recent p70 fee, at least the configured base."""
        try:
            stats = self.fee_stats()
            suggested = int(stats["fee_charged"]["p70"])
        except (SubmissionUnknown, KeyError, ValueError):
            suggested = settings.STELLAR_BASE_FEE
        return min(max(suggested, settings.STELLAR_BASE_FEE), settings.STELLAR_MAX_FEE)

    def network_time(self) -> int:
        """Unix seconds on the network: the local ledger's clock, or the close time of the
        latest ledger (a transaction whose ``max_time`` is before it can no longer land)."""
        if self.ledger is not None:
            return self.ledger.now()
        try:
            closed_at = self.latest_ledger()["closed_at"]
        except SubmissionUnknown:
            return int(time.time())
        return int(dt.datetime.fromisoformat(closed_at.replace("Z", "+00:00")).timestamp())


_init_lock = threading.RLock()
_gateway: HorizonGateway | None = None


def gateway_reset() -> None:
    """Forget the process-wide gateway: the next :func:`get_gateway` builds a new one (tests,
    after starting a new local network)."""
    global _gateway
    with _init_lock:
        _gateway = None


def get_gateway() -> HorizonGateway:
    """The process-wide gateway for the configured network (on ``local``, the one
    ``settings.STELLAR_LOCAL_NETWORK`` builds; see :mod:`devtools.stellar_local.network`)."""
    global _gateway
    network, url, passphrase = network_config()
    gateway = _gateway
    if gateway is not None and gateway.network_passphrase == passphrase:
        return gateway
    with _init_lock:  # one thread creates (and on the local network bootstraps) it
        if _gateway is not None and _gateway.network_passphrase == passphrase:
            return _gateway
        if network == "local":
            gateway = import_string(settings.STELLAR_LOCAL_NETWORK)(
                horizon_url=url, network_passphrase=passphrase)
        else:
            gateway = HorizonGateway(horizon_url=url, network_passphrase=passphrase)
        _gateway = gateway
    return gateway
