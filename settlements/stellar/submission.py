"""The submission of the outbox's intents (:mod:`.outbox`): the state machine
(:func:`chain_tx_submit`, the task's body): prepare under the row lock, send, and resolve
unknown outcomes and rejections (look-up by hash, resend, rebuild, raise the fee, stop)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import ChainTransaction
from .enums import FINAL_CHAIN_STATUSES, VIRTUAL_PURPOSES, ChainTxStatus
from .gateway import (
    AccountNotFound,
    HorizonGateway,
    SubmissionRejected,
    SubmissionUnknown,
    get_gateway,
)
from .outbox.codes import ChainRetryLater, Handling, handling_for
from .outbox.envelopes import BUILD_FIELDS, MissingSigningKey, chain_tx_build
from .outbox.status import chain_tx_fail, chain_tx_lock, chain_tx_transition
from .tokens import preflight, run_virtual_step

logger = logging.getLogger(__name__)

MAX_REBUILDS_PER_RUN = 3


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
    return chain_tx_fail(chain_tx, "tx_failed", f"applied and failed in ledger {chain_tx.ledger}")


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
    chain_tx_build(chain_tx, gateway)
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
        chain_tx = chain_tx_lock(chain_tx_id)
        if chain_tx.status in FINAL_CHAIN_STATUSES:
            return None
        dependency = chain_tx.depends_on
        if dependency is not None and dependency.status != ChainTxStatus.CONFIRMED:
            # The dependency's task enqueues this one once it is confirmed.
            return None
        if chain_tx.purpose in VIRTUAL_PURPOSES:
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
            preflight(chain_tx, gateway)
            try:
                chain_tx_build(chain_tx, gateway)
            except (MissingSigningKey, AccountNotFound) as exc:
                chain_tx_fail(chain_tx, "build_failed", str(exc))
                return None
            chain_tx.save(update_fields=[*BUILD_FIELDS, "operations", "payload", "updated_at"])
        if chain_tx.attempts >= settings.STELLAR_SUBMIT_MAX_ATTEMPTS:
            chain_tx_fail(chain_tx, "too_many_attempts", f"{chain_tx.attempts} attempts")
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
            chain_tx = chain_tx_lock(chain_tx_id)
            if chain_tx.status not in FINAL_CHAIN_STATUSES:
                _record_outcome(chain_tx, record)
        return chain_tx
    raise ChainRetryLater("rebuilt too often in one run", countdown=60)


def _after_unknown(chain_tx_id: int, gateway: HorizonGateway, error: str) -> ChainTransaction:
    with transaction.atomic():
        chain_tx = chain_tx_lock(chain_tx_id)
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
        chain_tx = chain_tx_lock(chain_tx_id)
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
                    chain_tx_fail(chain_tx, rejection.transaction_code,
                                  "fee already at STELLAR_MAX_FEE")
                    return False
                chain_tx.fee_per_op = min(chain_tx.fee_per_op * 2, settings.STELLAR_MAX_FEE)
            _rebuild(chain_tx, gateway, rejection.transaction_code)
            return True
        if handling == Handling.ALERT:
            if rejection.transaction_code == "tx_failed":
                # Applied and failed (fee and sequence consumed) or refused at validation: in
                # both cases nothing of this envelope took effect.
                chain_tx_fail(chain_tx, "tx_failed", ",".join(rejection.operation_codes))
            else:
                chain_tx_fail(chain_tx, rejection.transaction_code, "rejected by the network")
            return False
    if handling == Handling.LOOKUP:
        _after_unknown(chain_tx_id, gateway, rejection.transaction_code)
        return False
    raise ChainRetryLater(f"{rejection.transaction_code}: retry later", countdown=30)
