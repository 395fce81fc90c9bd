"""Reads for accounts and KYC/KYB."""

from __future__ import annotations

from django.db.models import QuerySet

from paymint.core.crypto import lookup_hashes

from .enums import KycStatus
from .models import KycProfile, User


def kyc_is_approved(*, user: User) -> bool:
    """True when the user has an approved KYC/KYB profile."""
    return KycProfile.objects.filter(user=user, status=KycStatus.APPROVED).exists()


def kyc_profile_for_user(*, user: User) -> KycProfile | None:
    """The user's own KYC/KYB profile, or None before onboarding."""
    return KycProfile.objects.filter(user=user).first()


def kyc_profiles_with_tax_id(*, tax_id: str) -> QuerySet[KycProfile]:
    """Profiles whose tax id is ``tax_id`` (spacing, punctuation and case ignored).

    The tax id column is encrypted, so this matches the stored HMAC (``tax_id_hash``) under
    every configured key (rows not yet rotated match too)."""
    hashes = lookup_hashes(tax_id)
    if not hashes:
        return KycProfile.objects.none()
    return KycProfile.objects.filter(tax_id_hash__in=hashes)


def user_by_deposit_reference(*, reference: str) -> User | None:
    """The user whose bank deposit reference is ``reference`` (case-insensitive)."""
    return User.objects.filter(deposit_reference__iexact=reference.strip()).first()


def staff_user_by_email(*, email: str) -> User | None:
    """The active staff account with ``email`` (case-insensitive), or None: who a scheduled
    back-office command (``payout_batch_create --actor``) acts as."""
    return User.objects.filter(email__iexact=email.strip(), is_staff=True,
                               is_active=True).first()


def user_by_email(*, email: str) -> User | None:
    """The account with ``email`` (case-insensitive), or None (back-office reports)."""
    return User.objects.filter(email__iexact=email.strip()).first()
