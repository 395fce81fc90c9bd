"""Compliance tasks: sanctions re-screening and transaction monitoring.

All take ids (or nothing), are safe to run twice (alerts are deduplicated by finding, holds
are one per user and reason) and run on the ``default`` queue.
"""

from __future__ import annotations

from celery import shared_task
from django.contrib.auth import get_user_model

from accounts.enums import Role
from invoices.models import Invoice

from .monitoring import monitor_movement, monitoring_sweep
from .retention import retention_apply
from .screening import screen_debtor, screen_user

SCREENED_ROLES = (Role.SELLER, Role.INVESTOR)
#: Invoices whose debtor is re-screened after a list update (not yet settled or closed).
OPEN_INVOICE_STATUSES = (
    "SUBMITTED",
    "PRICED",
    "LISTED",
    "FUNDED",
    "DISBURSED",
    "OVERDUE",
    "DEFAULTED",
)


@shared_task(acks_late=True)
def screen_user_task(user_id: int) -> int:
    """Screen one user (e.g. after a KYC submission or approval); returns the hit count."""
    user = get_user_model().objects.filter(pk=user_id).first()
    return len(screen_user(user)) if user is not None else 0


@shared_task(acks_late=True)
def screen_debtor_task(invoice_id: int) -> int:
    """Screen one invoice's debtor (e.g. after extraction or submission)."""
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    return len(screen_debtor(invoice)) if invoice is not None else 0


@shared_task(acks_late=True, soft_time_limit=3600, time_limit=3900)
def rescreen_all_task() -> dict:
    """Re-screen every seller and investor and the debtors of open invoices (after a list
    update). Returns counts."""
    users = get_user_model().objects.filter(role__in=SCREENED_ROLES, is_active=True)
    screened = hits = 0
    for user in users.order_by("pk").iterator(chunk_size=500):
        screened += 1
        hits += bool(screen_user(user))
    invoices = Invoice.objects.filter(status__in=OPEN_INVOICE_STATUSES).exclude(debtor_name="")
    debtors = debtor_hits = 0
    for invoice in invoices.select_related("seller").order_by("pk").iterator(chunk_size=500):
        debtors += 1
        debtor_hits += bool(screen_debtor(invoice))
    return {"users": screened, "users_hit": hits, "invoices": debtors, "invoices_hit": debtor_hits}


@shared_task(acks_late=True)
def monitor_movement_task(entry_id: int) -> int:
    """Run the monitoring rules for the users of one journal entry (call after commit)."""
    return len(monitor_movement(entry_id))


@shared_task(acks_late=True, soft_time_limit=3600, time_limit=3900)
def monitoring_sweep_task() -> dict:
    """Run the monitoring rules for every user who moved money recently (scheduled)."""
    return monitoring_sweep()


@shared_task(acks_late=True, soft_time_limit=3600, time_limit=3900)
def retention_apply_task() -> dict:
    """Delete what has passed its retention period (``settings.RETENTION``; daily)."""
    return retention_apply().as_dict()
