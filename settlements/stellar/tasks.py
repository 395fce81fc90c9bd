"""Stellar tasks (queue ``settlement``): take ids, call one service, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from ..models import ChainTransaction
from .enums import ChainTxStatus
from .outbox import ChainRetryLater
from .reconciliation import chain_reconcile
from .submission import chain_tx_submit


@shared_task(bind=True, acks_late=True, max_retries=None)
def chain_submit_task(self, chain_tx_id: int) -> str:
    """Submit one outbox row; retries (same envelope) while the outcome is unknown; once it
    is confirmed, enqueues the rows that were waiting for it."""
    eager_retries = 0
    while True:
        try:
            chain_tx = chain_tx_submit(chain_tx_id=chain_tx_id)
            break
        except ChainRetryLater as exc:
            if not self.request.is_eager:
                raise self.retry(
                    exc=exc,
                    countdown=exc.countdown,
                    max_retries=settings.STELLAR_SUBMIT_MAX_ATTEMPTS,
                ) from exc
            # Eager Celery (tests, demo) cannot re-enqueue: retry at once, in-process, bounded.
            eager_retries += 1
            if eager_retries > settings.STELLAR_SUBMIT_MAX_ATTEMPTS:
                raise
    if chain_tx.status == ChainTxStatus.CONFIRMED:
        waiting = ChainTransaction.objects.filter(depends_on=chain_tx, status=ChainTxStatus.PENDING)
        for dependent_id in waiting.values_list("pk", flat=True):
            chain_submit_task.delay(dependent_id)
    return chain_tx.status


@shared_task(acks_late=True)
def chain_pending_sweep_task() -> int:
    """Re-enqueue outbox rows left PENDING/SUBMITTED (a lost task, a worker crash). Beat."""
    if not settings.STELLAR_ENABLED:
        return 0
    ids = list(
        ChainTransaction.objects.filter(
            status__in=[ChainTxStatus.PENDING, ChainTxStatus.SUBMITTED, ChainTxStatus.EXPIRED]
        ).values_list("pk", flat=True)[:500]
    )
    for chain_tx_id in ids:
        chain_submit_task.delay(chain_tx_id)
    return len(ids)


@shared_task(acks_late=True)
def chain_reconcile_task() -> int:
    """Compare on-chain balances with the outbox and the ledger; alert on differences."""
    if not settings.STELLAR_ENABLED:
        return 0
    return len(chain_reconcile())
