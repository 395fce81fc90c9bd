"""Settlement tasks (queue ``settlement``): take ids, call one service, safe to run twice."""

from celery import shared_task

from invoices.enums import AGING_STATUSES
from marketplace.models import Listing
from paymint.core import clock

from . import services


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True,
             max_retries=5)
def settlement_execute_task(settlement_id: int) -> str:
    """Distribute one payment on an invoice through the waterfall."""
    return services.settlement_execute(settlement_id=settlement_id).status


@shared_task(acks_late=True)
def invoices_age_task() -> int:
    """Age every disbursed invoice past its due date (beat, daily). Returns how many."""
    ids = list(
        Listing.objects.filter(invoice__status__in=AGING_STATUSES, due_date__lt=clock.today())
        .values_list("invoice_id", flat=True)
    )
    for invoice_id in ids:
        services.invoice_age(invoice_id=invoice_id)
    return len(ids)


@shared_task(acks_late=True)
def books_verify_task() -> int:
    """Check the whole books (beat, daily; ``settlements.services.books``): every difference
    is raised as a compliance alert. Returns the number of findings."""
    return len(services.books_verify().findings)
