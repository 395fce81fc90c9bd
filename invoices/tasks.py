"""Celery tasks for invoices: each takes an id, calls one service, and is safe to run twice."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, max_retries=2)
def invoice_extract_task(invoice_id: int) -> str:
    """Read the invoice's document (queue ``extraction``)."""
    return services.invoice_run_extraction(invoice_id=invoice_id).status


@shared_task(acks_late=True, max_retries=2)
def invoice_score_task(invoice_id: int) -> str:
    """Score a submitted invoice and set its offer (queue ``risk``)."""
    return services.invoice_score(invoice_id=invoice_id).status
