"""Accounts tasks: housekeeping of sign-in records. Safe to run twice."""

from __future__ import annotations

from celery import shared_task

from .auth_tokens import expired_refresh_tokens_prune
from .lockout import lockout_records_prune
from .sign_in import sign_in_challenges_prune


@shared_task(acks_late=True)
def auth_records_prune_task() -> dict[str, int]:
    """Daily: drop expired refresh-token records, expired two-factor sign-in challenges and
    stale django-axes records."""
    return {"refresh_tokens": expired_refresh_tokens_prune(), **lockout_records_prune(),
            "sign_in_challenges": sign_in_challenges_prune()}
