"""KYC/KYB documents: the identity or company-registration document sent with onboarding.

The file's type is sniffed from its bytes (PDF, PNG or JPEG; the name and the browser's
content type are ignored), its size is capped by ``settings.KYC_DOCUMENT_MAX_BYTES``, and it is
stored under a random name in the default (private) storage, within the user's daily upload
quota. Only staff and the profile's owner can read it back (:func:`kyc_document_get_for_viewer`),
through a short-lived signed URL (:mod:`paymint.core.storage`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import QuerySet

from paymint.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from paymint.core.storage import PrivateFile, is_verified_staff
from paymint.core.uploads import sniff_binary_type, upload_quota_reserve

from .enums import KYC_REQUIRED_DOCUMENTS, KycDocumentKind, KycKind, KycStatus, Role
from .error_codes import AccountsError
from .models import KYC_DOCUMENT_TYPES, KycDocument, KycProfile, User
from .services import kyc_profile_draft_get_or_create, kyc_submit


def kyc_document_read(*, uploaded_file) -> tuple[bytes, str]:
    """The upload's bytes and sniffed content type.

    Raises:
        ValidationFailed: ``DOCUMENT_TOO_LARGE``, ``DOCUMENT_EMPTY`` or
            ``UNSUPPORTED_DOCUMENT_TYPE`` (on the ``document`` field).
    """
    limit = settings.KYC_DOCUMENT_MAX_BYTES
    if uploaded_file.size is not None and uploaded_file.size > limit:
        raise _document_error(
            f"The file is larger than {limit // (1024 * 1024)} MB.",
            AccountsError.DOCUMENT_TOO_LARGE,
        )
    uploaded_file.seek(0)
    data = uploaded_file.read(limit + 1)
    if len(data) > limit:
        raise _document_error(
            f"The file is larger than {limit // (1024 * 1024)} MB.",
            AccountsError.DOCUMENT_TOO_LARGE,
        )
    if not data:
        raise _document_error("The file is empty.", AccountsError.DOCUMENT_EMPTY)
    content_type = sniff_binary_type(data)
    if content_type not in KYC_DOCUMENT_TYPES:
        raise _document_error(
            "Upload a PDF, PNG or JPEG file.", AccountsError.UNSUPPORTED_DOCUMENT_TYPE
        )
    return data, content_type


def kyc_document_upload(*, user: User, kind: str, uploaded_file) -> KycDocument:
    """Add a document of ``kind`` (:class:`accounts.enums.KycDocumentKind`) to the user's
    KYC/KYB profile, creating the profile as a draft when there is none yet. The dashboard's
    onboarding form and ``POST /api/v1/me/kyc/documents`` both call this.

    Documents can be added while the profile is a draft or was rejected, not while it is
    under review or approved.

    Raises:
        PermissionDenied: ``NOT_AN_APPLICANT`` (staff have no profile); ``EMAIL_NOT_VERIFIED``.
        ValidationFailed: ``INVALID_DOCUMENT_KIND``, and the errors of
            :func:`kyc_document_read`, before anything is written.
        InvalidTransition: ``KYC_ALREADY_SUBMITTED``.
        UploadQuotaExceeded: ``UPLOAD_QUOTA_EXCEEDED`` (429) past the user's daily upload
            quota (:mod:`paymint.core.uploads`); nothing is written.
    """
    if user.role not in (Role.SELLER, Role.INVESTOR):
        raise PermissionDenied(
            "Only sellers and investors go through KYC/KYB.", code=AccountsError.NOT_AN_APPLICANT
        )
    if user.email_verified_at is None:
        raise PermissionDenied(
            "Please confirm your email address before you send documents.",
            code=AccountsError.EMAIL_NOT_VERIFIED,
        )
    if kind not in KycDocumentKind.values:
        raise ValidationFailed(
            "Choose what the document is.",
            code=AccountsError.INVALID_DOCUMENT_KIND,
            fields={"kind": [f"One of {', '.join(KycDocumentKind.values)}."]},
        )
    data, content_type = kyc_document_read(uploaded_file=uploaded_file)
    with transaction.atomic():
        profile = kyc_profile_draft_get_or_create(user=user)
        if profile.status not in (KycStatus.DRAFT, KycStatus.REJECTED):
            raise InvalidTransition(
                f"The profile is {profile.get_status_display().lower()} and cannot be changed.",
                code=AccountsError.KYC_ALREADY_SUBMITTED,
            )
        upload_quota_reserve(user=user, size=len(data))
        document = KycDocument(
            public_id=uuid.uuid4(),
            profile=profile,
            kind=kind,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            original_filename=(getattr(uploaded_file, "name", "") or "")[:255],
            uploaded_by=user,
        )
        # A rolled-back transaction can leave the stored file behind, never the row.
        document.file.save("document", ContentFile(data), save=False)
        document.save()
    return document


def kyc_onboarding_document_kind(*, user: User) -> str:
    """The document the dashboard's one-step onboarding form asks for: what the user's
    profile kind requires (identity for investors, register extract for sellers)."""
    kind = KycKind.KYB if user.role == Role.SELLER else KycKind.KYC
    return sorted(KYC_REQUIRED_DOCUMENTS[kind])[0]


def kyc_submit_with_document(
    *,
    user: User,
    legal_name: str,
    country: str,
    tax_id: str,
    address: str = "",
    document=None,
    declared_investment: Decimal | None = None,
    date_of_birth: dt.date | None = None,
    identity_document_number: str = "",
    bank_account_iban: str = "",
) -> KycProfile:
    """Onboarding from the dashboard, in one transaction: the document the profile kind
    requires (:func:`kyc_document_upload`, optional when one is already on file), then
    :func:`accounts.services.kyc_submit` and, for investors, the declared investment amount.

    Raises:
        ValidationFailed: the errors of :func:`kyc_document_read` before anything is written,
            ``DOCUMENT_REQUIRED`` and the other errors of :func:`kyc_submit`.
        UploadQuotaExceeded: ``UPLOAD_QUOTA_EXCEEDED`` (429); nothing is written.
    """
    with transaction.atomic():
        if document is not None:
            kyc_document_upload(
                user=user, kind=kyc_onboarding_document_kind(user=user), uploaded_file=document
            )
        profile = kyc_submit(
            user=user,
            legal_name=legal_name,
            country=country,
            tax_id=tax_id,
            address=address,
            date_of_birth=date_of_birth,
            identity_document_number=identity_document_number,
            bank_account_iban=bank_account_iban,
        )
        if profile.kind == KycKind.KYC and profile.declared_investment != declared_investment:
            profile.declared_investment = declared_investment
            profile.save(update_fields=["declared_investment", "updated_at"])
    return profile


def kyc_documents_for_owner(*, user: User) -> QuerySet[KycDocument]:
    """The user's own KYC/KYB documents, newest first (empty without a profile)."""
    return KycDocument.objects.filter(profile__user=user).order_by("-uploaded_at", "-id")


def kyc_document_get_for_viewer(*, user: User, document_id) -> KycDocument:
    """A document its viewer may open: two-factor verified staff whose role may view KYC
    documents, or the profile's owner.

    Raises:
        NotFound: ``DOCUMENT_NOT_FOUND`` for a bad id or someone else's document.
    """
    try:
        pk = uuid.UUID(str(document_id))
    except ValueError:
        raise NotFound("Document not found.", code=AccountsError.DOCUMENT_NOT_FOUND) from None
    documents = KycDocument.objects.select_related("profile").filter(public_id=pk)
    if not is_verified_staff(user, "accounts.view_kycdocument"):
        documents = documents.filter(profile__user=user)
    document = documents.first()
    if document is None:
        raise NotFound("Document not found.", code=AccountsError.DOCUMENT_NOT_FOUND)
    return document


def kyc_document_file_for_viewer(*, user: User, object_id) -> PrivateFile:
    """The stored file of KYC document ``object_id`` for whoever may open it (see
    :func:`kyc_document_get_for_viewer`): the private file resolver of ``paymint.core.storage``.

    Raises:
        NotFound: ``DOCUMENT_NOT_FOUND``.
    """
    return kyc_document_private_file(kyc_document_get_for_viewer(user=user, document_id=object_id))


def kyc_document_private_file(document: KycDocument) -> PrivateFile:
    """How a KYC document is handed out: ``kyc-<id>.<ext>`` with its sniffed content type."""
    extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}
    return PrivateFile(
        file=document.file,
        filename=f"kyc-{document.public_id}.{extension.get(document.content_type, 'bin')}",
        content_type=document.content_type,
    )


def _document_error(message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={"document": [message]})
