"""Operation specs (the JSON intent) <-> SDK operations, and building and signing an
envelope from an intent (:func:`chain_tx_build`, with the platform key of every source account)."""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from stellar_sdk import (
    Account,
    Asset,
    ChangeTrust,
    Clawback,
    CreateAccount,
    ManageData,
    Payment,
    SetOptions,
    SetTrustLineFlags,
    TransactionBuilder,
)
from stellar_sdk.operation.set_options import AuthorizationFlag
from stellar_sdk.operation.set_trust_line_flags import TrustLineFlags

from ...models import ChainTransaction
from ..gateway import HorizonGateway, platform_keys


def asset_from_str(value: str) -> Asset:
    if value == "native":
        return Asset.native()
    code, issuer = value.split(":")
    return Asset(code, issuer)


def asset_str(asset: Asset) -> str:
    return "native" if asset.is_native() else f"{asset.code}:{asset.issuer}"


def operation_from_spec(spec: dict[str, Any]):
    kind, source = spec["type"], spec.get("source")
    if kind == "payment":
        return Payment(
            spec["destination"], asset_from_str(spec["asset"]), spec["amount"], source=source
        )
    if kind == "create_account":
        return CreateAccount(spec["destination"], spec["starting_balance"], source=source)
    if kind == "change_trust":
        return ChangeTrust(asset_from_str(spec["asset"]), spec.get("limit"), source=source)
    if kind == "set_trust_line_flags":
        set_flags, clear_flags = spec.get("set_flags") or 0, spec.get("clear_flags") or 0
        return SetTrustLineFlags(
            spec["trustor"],
            asset_from_str(spec["asset"]),
            clear_flags=TrustLineFlags(clear_flags) if clear_flags else None,
            set_flags=TrustLineFlags(set_flags) if set_flags else None,
            source=source,
        )
    if kind == "manage_data":
        value = spec.get("value_b64")
        return ManageData(
            spec["name"], None if value is None else base64.b64decode(value), source=source
        )
    if kind == "clawback":
        return Clawback(asset_from_str(spec["asset"]), spec["from"], spec["amount"], source=source)
    if kind == "set_options":
        set_flags, clear_flags = spec.get("set_flags") or 0, spec.get("clear_flags") or 0
        return SetOptions(
            set_flags=AuthorizationFlag(set_flags) if set_flags else None,
            clear_flags=AuthorizationFlag(clear_flags) if clear_flags else None,
            home_domain=spec.get("home_domain"),
            source=source,
        )
    raise ValueError(f"unknown operation type {kind!r}")


class MissingSigningKey(Exception):
    pass


def chain_tx_build(chain_tx: ChainTransaction, gateway: HorizonGateway) -> None:
    """Build and sign a fresh envelope from the intent and store it (caller saves/commits)."""
    if chain_tx.envelope_xdr and chain_tx.tx_hash:
        chain_tx.previous_hashes = [*chain_tx.previous_hashes, chain_tx.tx_hash]
    operations = [operation_from_spec(spec) for spec in chain_tx.operations]
    source = gateway.load_account(chain_tx.source)
    max_time = gateway.network_time() + settings.STELLAR_TX_TIMEOUT_SECONDS
    builder = TransactionBuilder(
        Account(chain_tx.source, source.sequence),
        gateway.network_passphrase,
        base_fee=chain_tx.fee_per_op,
    )
    builder.add_time_bounds(0, max_time)
    for op in operations:
        builder.append_operation(op)
    envelope = builder.build()
    keys = platform_keys().by_public_key()
    signers = {
        chain_tx.source,
        *(spec["source"] for spec in chain_tx.operations if spec.get("source")),
    }
    for account_id in sorted(signers):
        if account_id not in keys:
            raise MissingSigningKey(f"no platform key for {account_id}")
        envelope.sign(keys[account_id])
    chain_tx.envelope_xdr = envelope.to_xdr()
    chain_tx.tx_hash = envelope.hash_hex()
    chain_tx.sequence = envelope.transaction.sequence
    chain_tx.min_time, chain_tx.max_time = 0, max_time
    chain_tx.result_codes = {}


BUILD_FIELDS = (
    "envelope_xdr",
    "tx_hash",
    "previous_hashes",
    "sequence",
    "min_time",
    "max_time",
    "result_codes",
    "fee_per_op",
    "last_error",
)
