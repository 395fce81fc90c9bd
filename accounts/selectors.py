"""Reads for accounts and KYC/KYB."""

from __future__ import annotations

from .enums import KycStatus
from .models import KycProfile, User


def kyc_is_approved(*, user: User) -> bool:
    """True when the user has an approved KYC/KYB profile."""
    return KycProfile.objects.filter(user=user, status=KycStatus.APPROVED).exists()


def kyc_profile_for_user(*, user: User) -> KycProfile | None:
    """The user's own KYC/KYB profile, or None before onboarding."""
    return KycProfile.objects.filter(user=user).first()


def user_by_deposit_reference(*, reference: str) -> User | None:
    """The user whose bank deposit reference is ``reference`` (case-insensitive)."""
    return User.objects.filter(deposit_reference__iexact=reference.strip()).first()
