"""Settlement tasks (queue ``settlement``): take ids, call one service, safe to run twice."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True,
             max_retries=5)
def settlement_execute_task(settlement_id: int) -> str:
    """Pay out a repaid invoice to its investors and seller."""
    return services.settlement_execute(settlement_id=settlement_id).status
