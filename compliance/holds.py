"""What money and KYC services ask compliance before acting: is the user on hold, is a
screening hold open, is the invoice's debtor a sanctions hit. Reads only; holds are placed and
released by :mod:`compliance.screening` (and AML monitoring)."""

from __future__ import annotations

from paymint.core.errors import PermissionDenied

from .enums import AlertKind, AlertStatus
from .error_codes import ComplianceError
from .models import AccountHold, ComplianceAlert


def user_is_on_hold(user) -> bool:
    """True while the user has an unreleased hold: money services refuse to move their funds."""
    return AccountHold.objects.filter(user=user, released_at__isnull=True).exists()


def require_no_hold(user) -> None:
    """Refuse a money movement of an account on compliance hold (a sanctions or PEP match, an
    AML hold) - what every money service asks first.

    Raises:
        PermissionDenied: ``ACCOUNT_ON_HOLD`` (403).
    """
    if user_is_on_hold(user):
        raise PermissionDenied(
            "Your account is under compliance review.", code=ComplianceError.ACCOUNT_ON_HOLD
        )


#: Holds that come from list screening (KYC approval waits for them; AML holds do not).
SCREENING_HOLD_REASONS = (AccountHold.Reason.SANCTIONS_HIT, AccountHold.Reason.PEP_REVIEW)


def user_has_screening_hold(*, user_id: int) -> bool:
    """True while a sanctions or PEP screening hold on the user is unreleased."""
    return AccountHold.objects.filter(
        user_id=user_id, reason__in=SCREENING_HOLD_REASONS, released_at__isnull=True
    ).exists()


def invoice_has_sanctions_hit(invoice) -> bool:
    """True while a sanctions alert on the invoice's debtor is open, in review or escalated.
    A ``PEP_MATCH`` alert does not count: a debtor linked to a PEP is not prohibited."""
    return ComplianceAlert.objects.filter(
        invoice=invoice,
        kind=AlertKind.SANCTIONS_HIT,
        status__in=[AlertStatus.OPEN, AlertStatus.IN_REVIEW, AlertStatus.ESCALATED],
    ).exists()
