"""Upload, extraction and the seller's corrections: storing an uploaded document, reading
its fields (the extraction task's body), and validating what the seller changes."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from accounts.enums import Role
from accounts.error_codes import AccountsError
from accounts.selectors import kyc_is_approved
from paymint.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from paymint.core.money import MINOR_UNITS, quantize_money
from paymint.core.queue import enqueue_on_commit
from paymint.core.uploads import upload_quota_reserve

from ..enums import EDITABLE_STATUSES, EXTRACTED_TO_MODEL, DebtorIndustry, InvoiceStatus
from ..error_codes import InvoicesError
from ..extraction import (
    FIELD_NAMES,
    ExtractionError,
    ExtractionLimits,
    extract_document,
    sniff_content_type,
)
from ..fingerprints import first_page_image, perceptual_hash
from ..models import Invoice, InvoiceStatusEvent
from .status import invoice_transition

logger = logging.getLogger(__name__)

AMOUNT_FIELDS = frozenset({"face_value", "amount_due"})
NULLABLE_FIELDS = AMOUNT_FIELDS | {"issue_date", "due_date"}
#: Fields the seller may correct or complete (the debtor's industry is declared, not read).
EDITABLE_FIELDS = (*EXTRACTED_TO_MODEL.values(), "debtor_industry")
#: Confidence below which the seller is asked to confirm a field.
LOW_CONFIDENCE = 0.6

#: Upload types, decided by content: PDF (incl. Factur-X/ZUGFeRD), images, structured
#: e-invoices sent as XML (UN/CEFACT CII, OASIS UBL, FatturaPA) and Indian GST e-invoices as
#: JSON (the INV-01 invoice or the IRP's signed answer).
ALLOWED_CONTENT_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg",
                                   "application/xml", "application/json"})


class UploadRejected(ValidationFailed):
    code = InvoicesError.UPLOAD_REJECTED


def extraction_limits() -> ExtractionLimits:
    """Extraction limits from settings (bytes, pages, pixels, seconds)."""
    return ExtractionLimits(
        max_bytes=settings.INVOICE_UPLOAD_MAX_BYTES,
        max_pages=settings.EXTRACTION_MAX_PAGES,
        ocr_max_pages=settings.EXTRACTION_OCR_MAX_PAGES,
        max_image_pixels=settings.EXTRACTION_MAX_IMAGE_PIXELS,
        timeout_seconds=settings.EXTRACTION_TIMEOUT_SECONDS,
        gst_qr_public_key=settings.GST_QR_PUBLIC_KEY,
    )


def _human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.0f} MB"
    return f"{max(n // 1024, 1)} KB"


def invoice_upload(*, seller, uploaded_file, filename: str = "") -> Invoice:
    """Store an uploaded invoice document and queue its extraction.

    The type is decided by the file's content (PDF, PNG, JPEG, e-invoice XML or GST e-invoice
    JSON: :data:`ALLOWED_CONTENT_TYPES`), never its name or the client's content type. The
    extraction task is enqueued after commit.

    Raises:
        PermissionDenied: ``NOT_A_SELLER``, or ``KYB_NOT_APPROVED`` before KYB approval.
        UploadRejected: ``FILE_TOO_LARGE`` (413), ``EMPTY_FILE``, ``UNSUPPORTED_FILE_TYPE`` (415).
        UploadQuotaExceeded: ``UPLOAD_QUOTA_EXCEEDED`` (429), past the per-user daily quota
            (:mod:`paymint.core.uploads`); nothing is stored.
    """
    if seller.role != Role.SELLER:
        raise PermissionDenied("Only sellers can upload invoices.", code=InvoicesError.NOT_A_SELLER)
    if not kyc_is_approved(user=seller):
        raise PermissionDenied(
            "Your company's KYB must be approved before you upload invoices.",
            code=AccountsError.KYB_NOT_APPROVED,
        )
    max_bytes = settings.INVOICE_UPLOAD_MAX_BYTES
    too_large = UploadRejected(
        f"The file is larger than the {_human_size(max_bytes)} limit.",
        code=InvoicesError.FILE_TOO_LARGE, http_status=413,
        fields={"document": ["File too large."]},
    )
    size = getattr(uploaded_file, "size", None)
    if size is not None and size > max_bytes:
        raise too_large
    data = uploaded_file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise too_large
    if not data:
        raise UploadRejected("The file is empty.", code=InvoicesError.EMPTY_FILE,
                             fields={"document": ["Empty file."]})
    try:
        content_type = sniff_content_type(data)
    except ExtractionError:
        content_type = None
    if content_type not in ALLOWED_CONTENT_TYPES:
        raise UploadRejected(
            "Upload a PDF, PNG or JPEG invoice, an e-invoice XML (CII, UBL, FatturaPA) "
            "or a GST e-invoice JSON.",
            code=InvoicesError.UNSUPPORTED_FILE_TYPE,
            http_status=415, fields={"document": ["Unsupported file type."]},
        )
    sha256 = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        # Before anything is written (row or file): the seller's daily upload quota.
        upload_quota_reserve(user=seller, size=len(data))
        invoice = Invoice(
            seller=seller,
            document_sha256=sha256,
            document_content_type=content_type,
            document_size=len(data),
            original_filename=(filename or getattr(uploaded_file, "name", "") or "")[-255:],
        )
        invoice.document.save("upload", ContentFile(data), save=False)
        invoice.save()
        InvoiceStatusEvent.objects.create(
            invoice=invoice, from_status="", to_status=InvoiceStatus.UPLOADED, actor=seller,
            reason="document uploaded",
        )
        enqueue_on_commit("invoices.tasks.invoice_extract_task", invoice.pk)
    return invoice


def model_value(name: str, value):
    """Convert an extracted JSON-able value into the model field's Python type."""
    if value in (None, ""):
        return None
    if name in ("face_value", "amount_due"):
        return Decimal(str(value))
    if name in ("issue_date", "due_date"):
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    return str(value)


def invoice_run_extraction(*, invoice_id: int) -> Invoice:
    """Read the invoice's document and store the fields found (the extraction task's body).

    Safe to run twice: only an ``UPLOADED`` invoice is processed. Extraction errors put the
    invoice in ``EXTRACTION_FAILED`` with the error's code and message for the seller.
    """
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status != InvoiceStatus.UPLOADED:
        return invoice
    with invoice.document.open("rb") as handle:
        data = handle.read()
    try:
        result = extract_document(data, limits=extraction_limits())
    except ExtractionError as exc:
        with transaction.atomic():
            locked = Invoice.objects.select_for_update(no_key=True).get(pk=invoice_id)
            if locked.status != InvoiceStatus.UPLOADED:
                return locked
            locked.extraction_error_code = exc.code
            locked.extraction_error_message = str(exc.message)[:300]
            locked.save(update_fields=["extraction_error_code", "extraction_error_message",
                                       "updated_at"])
            invoice_transition(invoice=locked, to_status=InvoiceStatus.EXTRACTION_FAILED,
                               reason=f"{exc.code}: {exc.message}")
        return locked
    payload = result.to_json_dict()
    page = first_page_image(data, invoice.document_content_type,
                            max_pixels=settings.EXTRACTION_MAX_IMAGE_PIXELS)
    phash = perceptual_hash(page) if page is not None else ""
    with transaction.atomic():
        locked = Invoice.objects.select_for_update(no_key=True).get(pk=invoice_id)
        if locked.status != InvoiceStatus.UPLOADED:
            return locked
        locked.extraction = payload
        locked.extraction_method = result.method
        locked.document_phash = phash
        update = ["extraction", "extraction_method", "document_phash", "updated_at"]
        for source, target in EXTRACTED_TO_MODEL.items():
            value = model_value(target, payload.get(source))
            if value is None:
                value = None if target in NULLABLE_FIELDS else ""
            elif target in AMOUNT_FIELDS and payload.get("currency") in MINOR_UNITS:
                value = quantize_money(value, payload["currency"])
            elif isinstance(value, str):
                value = value[: Invoice._meta.get_field(target).max_length]
            setattr(locked, target, value)
            update.append(target)
        locked.save(update_fields=update)
        invoice_transition(invoice=locked, to_status=InvoiceStatus.EXTRACTED,
                           reason=f"read by {result.method}")
    return locked


def _clean_field(name: str, raw) -> object:
    """Validate one seller-supplied field; raises ValidationFailed with the field's message."""
    if raw is None or raw == "":
        return None if name in ("face_value", "amount_due", "issue_date", "due_date") else ""
    try:
        if name in ("face_value", "amount_due"):
            value = Decimal(str(raw))
            if not value.is_finite():
                raise InvalidOperation
            return value
        if name in ("issue_date", "due_date"):
            return raw if isinstance(raw, dt.date) else dt.date.fromisoformat(str(raw))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("Please correct the highlighted fields.",
                               fields={name: ["Enter a valid value."]}) from None
    value = str(raw).strip()
    if name == "debtor_industry" and value not in DebtorIndustry.values:
        raise ValidationFailed("Please correct the highlighted fields.",
                               fields={name: ["Choose an industry from the list."]})
    if name == "currency":
        value = value.upper()
        if len(value) != 3 or not value.isalpha():
            raise ValidationFailed("Please correct the highlighted fields.",
                                   fields={name: ["Use a three-letter ISO 4217 code."]})
    max_length = Invoice._meta.get_field(name).max_length
    if max_length and len(value) > max_length:
        raise ValidationFailed("Please correct the highlighted fields.",
                               fields={name: [f"At most {max_length} characters."]})
    return value


def invoice_update_fields(*, invoice: Invoice, actor, changes: dict) -> Invoice:
    """Apply the seller's corrections to the extracted fields.

    Only :data:`EDITABLE_FIELDS` in :data:`~invoices.enums.EDITABLE_STATUSES`. Editing a priced
    invoice voids its offer (back to ``EXTRACTED``, to be submitted again).

    Raises:
        ValidationFailed: unknown field or bad value (``fields`` says which).
        InvalidTransition: ``INVOICE_NOT_EDITABLE`` once submitted or listed.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed("Some fields cannot be changed.",
                               fields={name: ["Not editable."] for name in sorted(unknown)})
    cleaned = {name: _clean_field(name, value) for name, value in changes.items()}
    amount_currency = cleaned.get("currency") or invoice.currency
    for name in ("face_value", "amount_due"):
        value = cleaned.get(name)
        if (value is not None and amount_currency in MINOR_UNITS
                and quantize_money(value, amount_currency) != value):
            raise ValidationFailed(
                    "Please correct the highlighted fields.",
                    fields={name: [f"At most {MINOR_UNITS[amount_currency]} decimals."]},
                )
    with transaction.atomic():
        locked = Invoice.objects.select_for_update(no_key=True).get(pk=invoice.pk)
        if locked.status not in EDITABLE_STATUSES:
            raise InvalidTransition("This invoice can no longer be edited.",
                                    code=InvoicesError.INVOICE_NOT_EDITABLE)
        for name, value in cleaned.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*cleaned, "updated_at"])
        if locked.status == InvoiceStatus.PRICED and cleaned:
            invoice_transition(invoice=locked, to_status=InvoiceStatus.EXTRACTED, actor=actor,
                               reason="fields corrected; offer withdrawn")
    return locked


def low_confidence_fields(invoice: Invoice) -> list[str]:
    """Extraction field names the seller should confirm (confidence below 0.6)."""
    confidence = (invoice.extraction or {}).get("confidence") or {}
    return [name for name in FIELD_NAMES if float(confidence.get(name) or 0.0) < LOW_CONFIDENCE]
