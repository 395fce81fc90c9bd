"""Four-eyes KYC approval for large investors.

An investor profile whose ``declared_investment`` is above ``settings.KYC_FOUR_EYES_ABOVE``
(EUR) is approved only when two *different* staff members approve the same submission: the
first approval is recorded as a :class:`~accounts.models.KycApproval`; the second, by someone
else, records its own row and calls :func:`accounts.services.kyc_approve`. Other profiles are
approved at once. Approvals given before a rejection never count for the resubmission (each
approval names the ``submitted_at`` it was for).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from paymint.core.errors import Conflict, InvalidTransition, PermissionDenied
from paymint.core.permissions import require_staff

from .enums import KycKind, KycStatus
from .error_codes import AccountsError
from .models import KycApproval, KycProfile, User
from .services import kyc_approve


@dataclass(frozen=True)
class FourEyesOutcome:
    profile: KycProfile
    approved: bool  # True once the profile is APPROVED
    approvals: int  # approvals recorded for this submission
    required: int  # approvals needed (1 or 2)


def kyc_requires_four_eyes(profile: KycProfile) -> bool:
    """True for investor (KYC) profiles declaring more than the four-eyes limit."""
    return (
        profile.kind == KycKind.KYC
        and profile.declared_investment is not None
        and profile.declared_investment > settings.KYC_FOUR_EYES_ABOVE
    )


def kyc_approve_with_four_eyes(
    *, profile: KycProfile, reviewer: User, reason: str = ""
) -> FourEyesOutcome:
    """Approve ``profile``, or record the first of the two approvals it needs.

    Raises:
        PermissionDenied: the reviewer is not active staff, or reviews themself.
        InvalidTransition: ``INVALID_KYC_TRANSITION`` when the profile is not pending review.
        Conflict: ``FOUR_EYES_SAME_REVIEWER`` when this reviewer already approved this
            submission (the second approval must come from someone else).
    """
    require_staff(reviewer, "Only operations staff can decide on KYC/KYB.",
                  permission="accounts.change_kycprofile")
    if reviewer.pk == profile.user_id:
        raise PermissionDenied("Staff cannot review their own profile.")
    reason = reason.strip()
    with transaction.atomic():
        locked = KycProfile.objects.select_for_update().get(pk=profile.pk)
        if locked.status != KycStatus.PENDING_REVIEW:
            raise InvalidTransition(
                f"Cannot approve a {locked.status} profile.",
                code=AccountsError.INVALID_KYC_TRANSITION
            )
        if not kyc_requires_four_eyes(locked):
            approved = kyc_approve(profile=locked, reviewer=reviewer, reason=reason)
            return FourEyesOutcome(profile=approved, approved=True, approvals=1, required=1)
        earlier = list(
            KycApproval.objects.filter(
                profile=locked, submitted_at=locked.submitted_at
            ).select_related("reviewer")
        )
        if any(a.reviewer_id == reviewer.pk for a in earlier):
            raise Conflict(
                "You already approved this profile; a second, different reviewer must approve.",
                code=AccountsError.FOUR_EYES_SAME_REVIEWER,
            )
        KycApproval.objects.create(
            profile=locked, reviewer=reviewer, submitted_at=locked.submitted_at, reason=reason
        )
        if not earlier:
            return FourEyesOutcome(profile=locked, approved=False, approvals=1, required=2)
        first = earlier[0]
        summary = f"Four-eyes approval by {first.reviewer.email} and {reviewer.email}"
        approved = kyc_approve(
            profile=locked,
            reviewer=reviewer,
            reason=f"{summary}: {reason}" if reason else summary,
        )
        return FourEyesOutcome(profile=approved, approved=True, approvals=2, required=2)
