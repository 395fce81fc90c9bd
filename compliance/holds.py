"""What money and KYC services ask compliance before acting: is the user on hold, is a
screening hold open, is the invoice's debtor a sanctions hit. Reads only; holds are placed and
released by :mod:`compliance.screening` (and AML monitoring)."""

from __future__ import annotations

from django.db.models import Exists

from paymint.core.errors import PermissionDenied

from .enums import AlertKind, AlertStatus
from .error_codes import ComplianceError
from .models import AccountHold, ComplianceAlert


def user_is_on_hold(user) -> bool:
    """True while the user has an unreleased hold: money services refuse to move their funds."""
    return AccountHold.objects.filter(user=user, released_at__isnull=True).exists()


def open_hold_exists(user_ref) -> Exists:
    """The rule of :func:`user_is_on_hold` as an ``EXISTS`` expression on ``user_ref`` (a user
    pk or an ``OuterRef``), for a caller that asks it in the same query as its own checks
    (:func:`accounts.selectors.kyc_approved_and_on_hold`)."""
    return Exists(AccountHold.objects.filter(user=user_ref, released_at__isnull=True))


#: :func:`open_hold_exists` written out as SQL, ``%s`` the user's id: for a hot path that asks it
#: in one hand-written statement with its own checks (the ORM's compile of an ``EXISTS`` costs
#: more CPU than the query; :func:`accounts.selectors.kyc_approved_and_on_hold`). Same rule.
OPEN_HOLD_EXISTS_SQL = (
    f'EXISTS (SELECT 1 FROM "{AccountHold._meta.db_table}" '  # noqa: S608  # nosec B608 - names from code, values bound
    f'WHERE "user_id" = %s AND "released_at" IS NULL)'
)


def require_no_hold(user, *, on_hold: bool | None = None) -> None:
    """Refuse a money movement of an account on compliance hold (a sanctions or PEP match, an
    AML hold) - what every money service asks first. ``on_hold``: the answer already read in
    the caller's query (:func:`open_hold_exists`); None reads it here.

    Raises:
        PermissionDenied: ``ACCOUNT_ON_HOLD`` (403).
    """
    if user_is_on_hold(user) if on_hold is None else on_hold:
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
