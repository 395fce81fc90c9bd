"""At-most-once submission of Stellar transactions through the outbox.

The rules, in the order the submission service applies them:

1. The intent (:class:`~settlements.models.ChainTransaction`, unique ``idempotency_key``) is
   written in the same database transaction as the business change
   (:func:`chain_tx_enqueue`); its task is enqueued after commit.
2. Before anything is sent, the envelope is built (source sequence from the network, time
   bounds ``[0, network time + STELLAR_TX_TIMEOUT_SECONDS]``), signed with the platform keys of
   every source account, and saved with its hash: a crash after sending leaves the hash on
   record.
3. An unknown outcome (timeout, connection error, 5xx) is resolved by looking the hash up
   (current and every superseded envelope). Not found while the time bounds are open: the
   *same* envelope is sent again (the network applies one envelope at most once).
4. A new envelope (new sequence, new hash) is built only when the old one can no longer land:
   its ``max_time`` has passed (``EXPIRED``), or the network rejected it without applying it
   (``tx_bad_seq``, ``tx_too_late``, ``tx_insufficient_fee``). Rebuilding happens under the
   row lock, after the look-up.
5. Every Horizon result code has a handling (:data:`TX_CODE_HANDLING`,
   :data:`OP_CODE_HANDLING`): retry later, rebuild, raise the fee and rebuild, or stop
   (``FAILED``) and raise a compliance alert (kind ``RECONCILIATION``). Unknown codes stop.
"""

from __future__ import annotations

import base64
import enum
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
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

from paymint.core.errors import InvalidTransition

from ...models import ChainTransaction, ChainTransactionEvent
from ..enums import CHAIN_TX_TRANSITIONS, FINAL_CHAIN_STATUSES, ChainPurpose, ChainTxStatus
from ..gateway import (
    AccountNotFound,
    HorizonGateway,
    SubmissionRejected,
    SubmissionUnknown,
    get_gateway,
    platform_keys,
)

logger = logging.getLogger(__name__)

#: Purposes without an envelope of their own: their "submission" is a step run by a handler.
VIRTUAL_PURPOSES = frozenset({ChainPurpose.SETTLEMENT_SNAPSHOT, ChainPurpose.WRITE_OFF})
MAX_REBUILDS_PER_RUN = 3


class Handling(enum.StrEnum):
    RETRY = "RETRY"  # transient: try the same envelope later
    LOOKUP = "LOOKUP"  # outcome unknown: look the hash up, resend while open
    REBUILD = "REBUILD"  # cannot land any more: new sequence, new envelope
    RAISE_FEE = "RAISE_FEE"  # rebuild with a higher fee per operation
    ALERT = "ALERT"  # stop (FAILED) and raise a compliance alert


TX_CODE_HANDLING: dict[str, Handling] = {
    "tx_too_early": Handling.RETRY,
    "tx_too_late": Handling.REBUILD,
    "tx_bad_seq": Handling.REBUILD,
    "tx_insufficient_fee": Handling.RAISE_FEE,
    "tx_internal_error": Handling.LOOKUP,
    "tx_bad_auth": Handling.ALERT,
    "tx_bad_auth_extra": Handling.ALERT,
    "tx_no_source_account": Handling.ALERT,
    "tx_insufficient_balance": Handling.ALERT,
    "tx_missing_operation": Handling.ALERT,
    "tx_malformed": Handling.ALERT,
    "transaction_malformed": Handling.ALERT,
    "tx_not_supported": Handling.ALERT,
    "tx_bad_sponsorship": Handling.ALERT,
    "tx_bad_min_seq_age_or_gap": Handling.REBUILD,
    # tx_failed / tx_fee_bump_inner_failed: decided by the operation codes below.
}

#: Operation failures all stop: each one means the platform's accounts, an investor's
#: trustline or the platform's own data disagree with what PayMint expected.
OP_CODE_HANDLING: dict[str, Handling] = {
    code: Handling.ALERT
    for code in (
        "op_bad_auth",
        "op_underfunded",
        "op_low_reserve",
        "op_no_trust",
        "op_not_authorized",
        "op_line_full",
        "op_no_destination",
        "op_src_no_trust",
        "op_src_not_authorized",
        "op_no_issuer",
        "op_no_trust_line",
        "op_not_clawback_enabled",
        "op_cant_revoke",
        "op_already_exists",
        "op_malformed",
        "op_no_source_account",
        "op_invalid_limit",
        "op_invalid_state",
        "op_too_many_signers",
        "op_data_name_not_found",
    )
}


class ChainRetryLater(Exception):
    """The task should run again later (``countdown`` seconds)."""

    def __init__(self, reason: str, countdown: int = 30) -> None:
        super().__init__(reason)
        self.countdown = countdown


class MissingSigningKey(Exception):
    pass


def handling_for(rejection: SubmissionRejected) -> Handling:
    code = rejection.transaction_code
    if code in ("tx_failed", "tx_fee_bump_inner_failed"):
        failing = [c for c in rejection.operation_codes if c != "op_success"]
        if not failing:
            return Handling.ALERT
        return max(
            (OP_CODE_HANDLING.get(c, Handling.ALERT) for c in failing),
            key=lambda h: h == Handling.ALERT,
        )
    return TX_CODE_HANDLING.get(code, Handling.ALERT)


# --- Operation specs (the JSON intent) <-> SDK operations ---------------------------------------


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


# --- Writes -------------------------------------------------------------------------------------


def chain_tx_enqueue(
    *,
    purpose: str,
    idempotency_key: str,
    source: str,
    operations: list[dict[str, Any]],
    invoice=None,
    investment=None,
    settlement=None,
    depends_on: ChainTransaction | None = None,
    payload: dict | None = None,
) -> ChainTransaction:
    """Write an intent (inside the caller's transaction) and submit it after commit.
    Idempotent by ``idempotency_key``: a second call returns the first row."""
    chain_tx, created = ChainTransaction.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "purpose": purpose,
            "source": source,
            "operations": operations,
            "invoice": invoice,
            "investment": investment,
            "settlement": settlement,
            "depends_on": depends_on,
            "payload": payload or {},
            "fee_per_op": settings.STELLAR_BASE_FEE,
        },
    )
    if created:
        chain_tx_schedule(chain_tx)
    return chain_tx


def chain_tx_schedule(chain_tx: ChainTransaction) -> None:
    from ..tasks import chain_submit_task

    chain_tx_id = chain_tx.pk
    transaction.on_commit(lambda: chain_submit_task.delay(chain_tx_id))


def chain_tx_transition(
    *, chain_tx: ChainTransaction, to_status: str, reason: str = "", fields: tuple[str, ...] = ()
) -> ChainTransaction:
    """The only writer of ``ChainTransaction.status`` (the caller holds the row lock);
    writes one event row per move, and saves ``fields`` with it."""
    from_status = chain_tx.status
    if to_status != from_status:
        if to_status not in CHAIN_TX_TRANSITIONS[from_status]:
            raise InvalidTransition(
                f"Chain transaction cannot move from {from_status} to {to_status}."
            )
        ChainTransactionEvent.objects.create(
            chain_tx=chain_tx,
            from_status=from_status,
            to_status=to_status,
            reason=reason[:300],
            tx_hash=chain_tx.tx_hash,
        )
        chain_tx.status = to_status
    chain_tx.save(update_fields=sorted({"status", "updated_at", *fields}))
    return chain_tx


def _lock(chain_tx_id: int) -> ChainTransaction:
    return ChainTransaction.objects.select_for_update().get(pk=chain_tx_id)


def _alert(chain_tx: ChainTransaction, code: str, detail: str) -> None:
    from compliance.services import alert_raise

    alert_raise(
        kind="RECONCILIATION",
        severity="HIGH",
        dedupe_key=f"stellar:{chain_tx.public_id}:{code}",
        title=f"Stellar {chain_tx.purpose} stopped: {code}"[:200],
        evidence={
            "chain_transaction": str(chain_tx.public_id),
            "purpose": chain_tx.purpose,
            "idempotency_key": chain_tx.idempotency_key,
            "tx_hash": chain_tx.tx_hash,
            "result_codes": chain_tx.result_codes,
            "detail": detail[:500],
        },
        invoice=chain_tx.invoice,
    )


def _fail(chain_tx: ChainTransaction, code: str, detail: str) -> ChainTransaction:
    chain_tx.last_error = f"{code}: {detail}"[:300]
    chain_tx_transition(
        chain_tx=chain_tx,
        to_status=ChainTxStatus.FAILED,
        reason=code,
        fields=("last_error", "result_codes"),
    )
    _alert(chain_tx, code, detail)
    return chain_tx


def _build(chain_tx: ChainTransaction, gateway: HorizonGateway) -> None:
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


def _record_outcome(chain_tx: ChainTransaction, record: dict[str, Any]) -> ChainTransaction:
    """Store what the network did with one of this row's envelopes."""
    chain_tx.ledger = record.get("ledger")
    chain_tx.fee_charged = int(record.get("fee_charged") or 0)
    if record.get("hash") and record["hash"] != chain_tx.tx_hash:
        # An older envelope of this intent landed: it is the one that counts.
        chain_tx.previous_hashes = [h for h in chain_tx.previous_hashes if h != record["hash"]]
        chain_tx.previous_hashes.append(chain_tx.tx_hash)
        chain_tx.tx_hash = record["hash"]
        chain_tx.envelope_xdr = record.get("envelope_xdr") or chain_tx.envelope_xdr
    fields = (
        "ledger",
        "fee_charged",
        "tx_hash",
        "previous_hashes",
        "envelope_xdr",
        "confirmed_at",
        "result_codes",
        "last_error",
    )
    if record.get("successful"):
        chain_tx.confirmed_at = timezone.now()
        chain_tx.result_codes = {"transaction": "tx_success"}
        return chain_tx_transition(
            chain_tx=chain_tx,
            to_status=ChainTxStatus.CONFIRMED,
            reason=f"in ledger {chain_tx.ledger}",
            fields=fields,
        )
    chain_tx.result_codes = chain_tx.result_codes or {"transaction": "tx_failed"}
    chain_tx.save(update_fields=list(fields))
    return _fail(chain_tx, "tx_failed", f"applied and failed in ledger {chain_tx.ledger}")


def _look_up(chain_tx: ChainTransaction, gateway: HorizonGateway) -> dict[str, Any] | None:
    """The ledger record of the current or any superseded envelope, if one landed."""
    for tx_hash in [chain_tx.tx_hash, *reversed(chain_tx.previous_hashes)]:
        if tx_hash:
            record = gateway.transaction_by_hash(tx_hash)
            if record is not None:
                return record
    return None


def _rebuild(chain_tx: ChainTransaction, gateway: HorizonGateway, reason: str) -> ChainTransaction:
    """Replace an envelope that can no longer land (caller checked it did not land)."""
    if chain_tx.status != ChainTxStatus.EXPIRED:
        chain_tx_transition(chain_tx=chain_tx, to_status=ChainTxStatus.EXPIRED, reason=reason)
    _build(chain_tx, gateway)
    return chain_tx_transition(
        chain_tx=chain_tx,
        to_status=ChainTxStatus.PENDING,
        reason=f"rebuilt with sequence {chain_tx.sequence}",
        fields=BUILD_FIELDS,
    )


def _prepare(chain_tx_id: int, gateway: HorizonGateway) -> ChainTransaction | None:
    """Under the row lock: resolve an earlier attempt, build if needed, mark SUBMITTED.
    Returns the row to send, or ``None`` when there is nothing to send (final, waiting)."""
    with transaction.atomic():
        chain_tx = _lock(chain_tx_id)
        if chain_tx.status in FINAL_CHAIN_STATUSES:
            return None
        dependency = chain_tx.depends_on
        if dependency is not None and dependency.status != ChainTxStatus.CONFIRMED:
            # The dependency's task enqueues this one once it is confirmed.
            return None
        if chain_tx.purpose in VIRTUAL_PURPOSES:
            from ..tokens import run_virtual_step

            run_virtual_step(chain_tx, gateway)
            return None
        if chain_tx.envelope_xdr and (
            chain_tx.status != ChainTxStatus.PENDING or chain_tx.attempts
        ):
            record = _look_up(chain_tx, gateway)
            if record is not None:
                _record_outcome(chain_tx, record)
                return None
            if gateway.network_time() > (chain_tx.max_time or 0):
                _rebuild(chain_tx, gateway, "time bounds closed, never landed")
        if not chain_tx.envelope_xdr:
            from ..tokens import preflight

            preflight(chain_tx, gateway)
            try:
                _build(chain_tx, gateway)
            except (MissingSigningKey, AccountNotFound) as exc:
                _fail(chain_tx, "build_failed", str(exc))
                return None
            chain_tx.save(update_fields=[*BUILD_FIELDS, "operations", "payload", "updated_at"])
        if chain_tx.attempts >= settings.STELLAR_SUBMIT_MAX_ATTEMPTS:
            _fail(chain_tx, "too_many_attempts", f"{chain_tx.attempts} attempts")
            return None
        chain_tx.attempts += 1
        chain_tx.submitted_at = timezone.now()
        chain_tx_transition(
            chain_tx=chain_tx,
            to_status=ChainTxStatus.SUBMITTED,
            reason=f"attempt {chain_tx.attempts}",
            fields=("attempts", "submitted_at"),
        )
        return chain_tx


def chain_tx_submit(*, chain_tx_id: int, gateway: HorizonGateway | None = None) -> ChainTransaction:
    """One submission run (the task's body). Safe to run twice and concurrently.

    Raises:
        ChainRetryLater: the outcome is still unknown, or the network asked to wait.
    """
    gateway = gateway or get_gateway()
    for _ in range(MAX_REBUILDS_PER_RUN + 1):
        try:
            chain_tx = _prepare(chain_tx_id, gateway)
        except SubmissionUnknown as exc:
            raise ChainRetryLater(f"Horizon unavailable: {exc}") from exc
        if chain_tx is None:
            return ChainTransaction.objects.get(pk=chain_tx_id)
        try:
            record = gateway.submit(chain_tx.envelope_xdr)
        except SubmissionUnknown as exc:
            return _after_unknown(chain_tx.pk, gateway, str(exc))
        except SubmissionRejected as rejection:
            if not _after_rejection(chain_tx.pk, chain_tx.tx_hash, rejection, gateway):
                return ChainTransaction.objects.get(pk=chain_tx_id)
            continue  # rebuilt: send the new envelope
        with transaction.atomic():
            chain_tx = _lock(chain_tx_id)
            if chain_tx.status not in FINAL_CHAIN_STATUSES:
                _record_outcome(chain_tx, record)
        return chain_tx
    raise ChainRetryLater("rebuilt too often in one run", countdown=60)


def _after_unknown(chain_tx_id: int, gateway: HorizonGateway, error: str) -> ChainTransaction:
    with transaction.atomic():
        chain_tx = _lock(chain_tx_id)
        chain_tx.last_error = f"unknown outcome: {error}"[:300]
        chain_tx.save(update_fields=["last_error", "updated_at"])
        try:
            record = _look_up(chain_tx, gateway)
        except SubmissionUnknown:
            record = None
        if record is not None and chain_tx.status not in FINAL_CHAIN_STATUSES:
            return _record_outcome(chain_tx, record)
    raise ChainRetryLater(
        f"outcome unknown, {chain_tx.tx_hash} not found yet: {error}",
        countdown=min(5 * 2**chain_tx.attempts, 300),
    )


def _after_rejection(
    chain_tx_id: int, sent_hash: str, rejection: SubmissionRejected, gateway: HorizonGateway
) -> bool:
    """Apply the handling for Horizon's codes. Returns True when a new envelope was built and
    should be sent now."""
    handling = handling_for(rejection)
    with transaction.atomic():
        chain_tx = _lock(chain_tx_id)
        if chain_tx.status in FINAL_CHAIN_STATUSES or chain_tx.tx_hash != sent_hash:
            return False  # another run already resolved or rebuilt it
        chain_tx.result_codes = rejection.codes
        chain_tx.last_error = f"{rejection.transaction_code} {rejection.operation_codes}"[:300]
        chain_tx.save(update_fields=["result_codes", "last_error", "updated_at"])
        logger.info(
            "stellar %s %s rejected: %s -> %s",
            chain_tx.purpose,
            chain_tx.idempotency_key,
            rejection.codes,
            handling,
        )
        if handling in (Handling.REBUILD, Handling.RAISE_FEE):
            record = _look_up(chain_tx, gateway)
            if record is not None:  # e.g. tx_bad_seq because an older envelope landed
                _record_outcome(chain_tx, record)
                return False
            if handling == Handling.RAISE_FEE:
                if chain_tx.fee_per_op >= settings.STELLAR_MAX_FEE:
                    _fail(chain_tx, rejection.transaction_code, "fee already at STELLAR_MAX_FEE")
                    return False
                chain_tx.fee_per_op = min(chain_tx.fee_per_op * 2, settings.STELLAR_MAX_FEE)
            _rebuild(chain_tx, gateway, rejection.transaction_code)
            return True
        if handling == Handling.ALERT:
            if rejection.transaction_code == "tx_failed":
                # Applied and failed (fee and sequence consumed) or refused at validation: in
                # both cases nothing of this envelope took effect.
                _fail(chain_tx, "tx_failed", ",".join(rejection.operation_codes))
            else:
                _fail(chain_tx, rejection.transaction_code, "rejected by the network")
            return False
    if handling == Handling.LOOKUP:
        _after_unknown(chain_tx_id, gateway, rejection.transaction_code)
        return False
    raise ChainRetryLater(f"{rejection.transaction_code}: retry later", countdown=30)


def chain_tx_requeue(*, chain_tx: ChainTransaction, actor, reason: str) -> ChainTransaction:
    """Operations staff: send a FAILED intent again after fixing its cause (a new envelope is
    built: the failed one consumed its sequence or was refused)."""
    from paymint.core.errors import PermissionDenied

    if not (actor.is_staff and actor.is_active):
        raise PermissionDenied("Only operations staff requeue chain transactions.")
    with transaction.atomic():
        locked = _lock(chain_tx.pk)
        locked.previous_hashes = (
            [*locked.previous_hashes, locked.tx_hash] if locked.tx_hash else locked.previous_hashes
        )
        locked.envelope_xdr, locked.tx_hash, locked.attempts = "", "", 0
        chain_tx_transition(
            chain_tx=locked,
            to_status=ChainTxStatus.PENDING,
            reason=f"requeued by {actor.pk}: {reason}",
            fields=("previous_hashes", "envelope_xdr", "tx_hash", "attempts"),
        )
        chain_tx_schedule(locked)
    return locked
