"""The one writer of ``ChainTransaction.status`` (:func:`chain_tx_transition`), the row lock,
and stopping an intent (``FAILED``) with a compliance alert."""

from __future__ import annotations

from compliance.public import alert_raise
from paymint.core.errors import InvalidTransition

from ...models import ChainTransaction, ChainTransactionEvent
from ..enums import CHAIN_TX_TRANSITIONS, ChainTxStatus


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


def chain_tx_lock(chain_tx_id: int) -> ChainTransaction:
    return ChainTransaction.objects.select_for_update().get(pk=chain_tx_id)


def chain_tx_alert(chain_tx: ChainTransaction, code: str, detail: str) -> None:
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


def chain_tx_fail(chain_tx: ChainTransaction, code: str, detail: str) -> ChainTransaction:
    chain_tx.last_error = f"{code}: {detail}"[:300]
    chain_tx_transition(
        chain_tx=chain_tx,
        to_status=ChainTxStatus.FAILED,
        reason=code,
        fields=("last_error", "result_codes"),
    )
    chain_tx_alert(chain_tx, code, detail)
    return chain_tx
