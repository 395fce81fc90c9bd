"""Writing intents: :func:`chain_tx_enqueue` (inside the caller's transaction, submitted
after commit) and the operations staff's :func:`chain_tx_requeue` of a ``FAILED`` one."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from paymint.core.permissions import require_staff
from paymint.core.queue import enqueue_on_commit

from ...models import ChainTransaction
from ..enums import ChainTxStatus
from .status import chain_tx_lock, chain_tx_transition


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
    enqueue_on_commit("settlements.stellar.tasks.chain_submit_task", chain_tx.pk)


def chain_tx_requeue(*, chain_tx: ChainTransaction, actor, reason: str) -> ChainTransaction:
    """Operations staff: send a FAILED intent again after fixing its cause (a new envelope is
    built: the failed one consumed its sequence or was refused)."""
    require_staff(actor, "Only operations staff requeue chain transactions.",
                  permission="settlements.change_chaintransaction")
    with transaction.atomic():
        locked = chain_tx_lock(chain_tx.pk)
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
