"""Choices and allowed status moves for accounts and KYC/KYB."""

from django.db import models


class Role(models.TextChoices):
    SELLER = "SELLER", "Seller (originator)"
    INVESTOR = "INVESTOR", "Investor"
    STAFF = "STAFF", "Operations staff"


class KycKind(models.TextChoices):
    KYB = "KYB", "Business (KYB)"
    KYC = "KYC", "Individual (KYC)"


class KycDocumentKind(models.TextChoices):
    IDENTITY = "IDENTITY", "Passport or national identity card"
    COMPANY_REGISTRATION = "COMPANY_REGISTRATION", "Company register extract"
    PROOF_OF_ADDRESS = "PROOF_OF_ADDRESS", "Proof of address"
    OTHER = "OTHER", "Other supporting document"


#: The documents a profile of each kind needs before it can be sent for review (the same rule
#: for the dashboard and the API: :func:`accounts.services.kyc_submit`). An individual (KYC)
#: proves their identity; a company (KYB) its registration.
KYC_REQUIRED_DOCUMENTS: dict[str, frozenset[str]] = {
    KycKind.KYC: frozenset({KycDocumentKind.IDENTITY}),
    KycKind.KYB: frozenset({KycDocumentKind.COMPANY_REGISTRATION}),
}


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
