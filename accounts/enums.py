"""Choices and allowed status moves for accounts and KYC/KYB."""

from django.db import models


class Role(models.TextChoices):
    SELLER = "SELLER", "Seller (originator)"
    INVESTOR = "INVESTOR", "Investor"
    STAFF = "STAFF", "Operations staff"


class KycKind(models.TextChoices):
    KYB = "KYB", "Business (KYB)"
    KYC = "KYC", "Individual (KYC)"


class KycStatus(models.TextChoices):
    DRAFT = "DRAFT", "Not submitted"
    PENDING_REVIEW = "PENDING_REVIEW", "Pending review"
    APPROVED = "APPROVED", "Approved"
    REJECTED = "REJECTED", "Rejected"


#: Allowed KYC/KYB status moves; a rejected applicant may correct and resubmit.
KYC_TRANSITIONS: dict[str, frozenset[str]] = {
    KycStatus.DRAFT: frozenset({KycStatus.PENDING_REVIEW}),
    KycStatus.PENDING_REVIEW: frozenset({KycStatus.APPROVED, KycStatus.REJECTED}),
    KycStatus.REJECTED: frozenset({KycStatus.PENDING_REVIEW}),
    KycStatus.APPROVED: frozenset(),
}
