"""Writes for invoices: upload, extraction, seller corrections, submission, scoring.

``invoice_transition`` is the only writer of ``Invoice.status``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts.enums import Role
from accounts.selectors import kyc_is_approved, kyc_profile_for_user
from paymint.core import clock
from paymint.core.errors import (
    ApplicationError,
    InvalidTransition,
    PermissionDenied,
    ValidationFailed,
)
from paymint.core.money import MINOR_UNITS, quantize_money
from paymint.core.permissions import require_staff
from paymint.core.uploads import upload_quota_reserve

from .. import verification
from ..enums import (
    EDITABLE_STATUSES,
    INVOICE_TRANSITIONS,
    DebtorIndustry,
    InvoiceStatus,
    RiskGrade,
)
from ..extraction import (
    FIELD_NAMES,
    ExtractionError,
    ExtractionLimits,
    extract_document,
    sniff_content_type,
)
from ..fingerprints import debtor_key, first_page_image, invoice_fingerprint, perceptual_hash
from ..models import Invoice, InvoiceStatusEvent
from ..risk import RiskInputs, score_invoice
from ..selectors import (
    debtor_history,
    invoice_duplicates,
    seller_debtor_share,
    seller_history,
)

logger = logging.getLogger(__name__)

#: Extraction field name -> Invoice model field.
EXTRACTED_TO_MODEL = {
    "invoice_number": "invoice_number",
    "issuer_name": "issuer_name",
    "buyer_name": "debtor_name",
    "total_amount": "face_value",
    "amount_due": "amount_due",
    "currency": "currency",
    "issue_date": "issue_date",
    "due_date": "due_date",
    "issuer_tax_id": "issuer_tax_id",
    "buyer_tax_id": "debtor_tax_id",
}
AMOUNT_FIELDS = frozenset({"face_value", "amount_due"})
NULLABLE_FIELDS = AMOUNT_FIELDS | {"issue_date", "due_date"}
#: Fields the seller may correct or complete (the debtor's industry is declared, not read).
EDITABLE_FIELDS = (*EXTRACTED_TO_MODEL.values(), "debtor_industry")
#: Confidence below which the seller is asked to confirm a field.
LOW_CONFIDENCE = 0.6

#: Upload types, decided by content: PDF (incl. Factur-X/ZUGFeRD), images, and structured
#: e-invoices sent as XML (UN/CEFACT CII or OASIS UBL).
ALLOWED_CONTENT_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg",
                                   "application/xml"})


class UploadRejected(ValidationFailed):
    code = "UPLOAD_REJECTED"


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


def invoice_transition(
    *, invoice: Invoice, to_status: str, actor=None, reason: str = ""
) -> Invoice:
    """Move ``invoice`` to ``to_status``: locks the row, checks
    :data:`invoices.enums.INVOICE_TRANSITIONS`, writes an :class:`InvoiceStatusEvent`.

    Must run inside a transaction (the caller's business change commits with it). Updates
    ``invoice.status`` in place.

    Raises:
        InvalidTransition: ``INVALID_STATUS_TRANSITION`` when the move is not allowed.
    """
    with transaction.atomic():
        current = (
            Invoice.objects.select_for_update().values_list("status", flat=True).get(pk=invoice.pk)
        )
        if to_status not in INVOICE_TRANSITIONS[current]:
            raise InvalidTransition(
                f"An invoice that is {InvoiceStatus(current).label.lower()} cannot move to "
                f"{InvoiceStatus(to_status).label.lower()}.",
            )
        Invoice.objects.filter(pk=invoice.pk).update(status=to_status, updated_at=timezone.now())
        InvoiceStatusEvent.objects.create(
            invoice=invoice, from_status=current, to_status=to_status, actor=actor,
            reason=reason[:2000],
        )
    invoice.status = to_status
    return invoice


def _human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.0f} MB"
    return f"{max(n // 1024, 1)} KB"


def invoice_upload(*, seller, uploaded_file, filename: str = "") -> Invoice:
    """Store an uploaded invoice document and queue its extraction.

    The type is decided by the file's content (PDF, PNG or JPEG), never its name or the client's
    content type. The extraction task is enqueued after commit.

    Raises:
        PermissionDenied: ``NOT_A_SELLER``, or ``KYB_NOT_APPROVED`` before KYB approval.
        UploadRejected: ``FILE_TOO_LARGE`` (413), ``EMPTY_FILE``, ``UNSUPPORTED_FILE_TYPE`` (415).
        UploadQuotaExceeded: ``UPLOAD_QUOTA_EXCEEDED`` (429), past the per-user daily quota
            (:mod:`paymint.core.uploads`); nothing is stored.
    """
    if seller.role != Role.SELLER:
        raise PermissionDenied("Only sellers can upload invoices.", code="NOT_A_SELLER")
    if not kyc_is_approved(user=seller):
        raise PermissionDenied(
            "Your company's KYB must be approved before you upload invoices.",
            code="KYB_NOT_APPROVED",
        )
    max_bytes = settings.INVOICE_UPLOAD_MAX_BYTES
    too_large = UploadRejected(
        f"The file is larger than the {_human_size(max_bytes)} limit.",
        code="FILE_TOO_LARGE", http_status=413, fields={"document": ["File too large."]},
    )
    size = getattr(uploaded_file, "size", None)
    if size is not None and size > max_bytes:
        raise too_large
    data = uploaded_file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise too_large
    if not data:
        raise UploadRejected("The file is empty.", code="EMPTY_FILE",
                             fields={"document": ["Empty file."]})
    try:
        content_type = sniff_content_type(data)
    except ExtractionError:
        content_type = None
    if content_type not in ALLOWED_CONTENT_TYPES:
        raise UploadRejected(
            "Upload a PDF, PNG or JPEG invoice, or an e-invoice XML (CII or UBL).",
            code="UNSUPPORTED_FILE_TYPE",
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
        from ..tasks import invoice_extract_task

        invoice_id = invoice.pk
        transaction.on_commit(lambda: invoice_extract_task.delay(invoice_id))
    return invoice


def _model_value(name: str, value):
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
            locked = Invoice.objects.select_for_update().get(pk=invoice_id)
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
        locked = Invoice.objects.select_for_update().get(pk=invoice_id)
        if locked.status != InvoiceStatus.UPLOADED:
            return locked
        locked.extraction = payload
        locked.extraction_method = result.method
        locked.document_phash = phash
        update = ["extraction", "extraction_method", "document_phash", "updated_at"]
        for source, target in EXTRACTED_TO_MODEL.items():
            value = _model_value(target, payload.get(source))
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
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if locked.status not in EDITABLE_STATUSES:
            raise InvalidTransition("This invoice can no longer be edited.",
                                    code="INVOICE_NOT_EDITABLE")
        for name, value in cleaned.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*cleaned, "updated_at"])
        if locked.status == InvoiceStatus.PRICED and cleaned:
            invoice_transition(invoice=locked, to_status=InvoiceStatus.EXTRACTED, actor=actor,
                               reason="fields corrected; offer withdrawn")
    return locked


def _current_values(invoice: Invoice) -> dict:
    return {name: getattr(invoice, name) for name in EDITABLE_FIELDS}


def invoice_submit(*, invoice: Invoice, actor) -> Invoice:
    """Verify the seller's invoice and send it for risk scoring.

    Runs :func:`invoices.verification.run_checks` (required fields, due date ahead, tax id
    checksums and the issuer's match with the seller's KYB, duplicates by document hash across
    all sellers and by seller + number + debtor). A failed blocking check stops the submission
    with that check's code and writes nothing; otherwise the invoice becomes ``SUBMITTED`` and
    the scoring task is enqueued after commit.

    Raises:
        PermissionDenied: ``KYB_NOT_APPROVED``.
        ValidationFailed / Conflict: the first failed blocking check's code (e.g.
            ``INVALID_TAX_ID``, ``DUE_DATE_NOT_IN_FUTURE``, ``DUPLICATE_DOCUMENT`` (409)).
        InvalidTransition: the invoice is not in a submittable status.
    """
    profile = kyc_profile_for_user(user=invoice.seller)
    if profile is None or not profile.is_approved:
        raise PermissionDenied("Your company's KYB must be approved first.",
                               code="KYB_NOT_APPROVED")
    found: dict[str, list[Invoice]] = {}
    try:
        return _submit(invoice=invoice, actor=actor, profile=profile, found=found)
    except ApplicationError as exc:
        if exc.code.startswith("DUPLICATE_"):
            # The submission is refused and writes nothing; the alert is kept for ops.
            raise_double_financing_alerts(invoice=invoice, duplicates=found)
        raise


def raise_double_financing_alerts(*, invoice: Invoice, duplicates: dict[str, list[Invoice]]
                                  ) -> None:
    """One compliance alert per pair of invoices caught by a duplicate detector, with both
    documents' references as evidence (ops compare them side by side in the admin)."""
    from compliance.enums import AlertKind, AlertSeverity
    from compliance.services import alert_raise

    pairs: dict[int, tuple[Invoice, list[str]]] = {}
    for detector, others in duplicates.items():
        for other in others:
            pairs.setdefault(other.pk, (other, []))[1].append(detector)
    for other, detectors in pairs.values():
        low, high = sorted((invoice.pk, other.pk))
        cross_seller = other.seller_id != invoice.seller_id
        alert_raise(
            kind=AlertKind.DOUBLE_FINANCING,
            dedupe_key=f"double-financing:{low}:{high}",
            title=f"Invoice {invoice.invoice_number or invoice.public_id} matches "
            f"{other.invoice_number or other.public_id}"
            + (" of another seller" if cross_seller else " submitted before"),
            severity=AlertSeverity.HIGH if cross_seller else AlertSeverity.MEDIUM,
            evidence={
                "detectors": sorted(set(detectors)),
                "new": {"id": str(invoice.public_id), "seller": invoice.seller.email,
                        "number": invoice.invoice_number, "sha256": invoice.document_sha256,
                        "phash": invoice.document_phash},
                "earlier": {"id": str(other.public_id), "seller": other.seller.email,
                            "number": other.invoice_number, "sha256": other.document_sha256,
                            "phash": other.document_phash},
            },
            invoice=invoice, related_invoice=other, user=invoice.seller,
        )


def _submit(*, invoice: Invoice, actor, profile, found: dict) -> Invoice:
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().select_related("seller").get(pk=invoice.pk)
        if InvoiceStatus.SUBMITTED not in INVOICE_TRANSITIONS[locked.status]:
            raise InvalidTransition(
                f"An invoice that is {locked.get_status_display().lower()} cannot be submitted."
            )
        fingerprint = invoice_fingerprint(
            issuer_tax_id=locked.issuer_tax_id or (locked.extraction or {}).get(
                "issuer_tax_id") or "",
            debtor_name=locked.debtor_name, invoice_number=locked.invoice_number,
            amount=locked.face_value, issue_date=locked.issue_date,
        )
        duplicates = invoice_duplicates(invoice=locked, fingerprint=fingerprint)
        found.update(duplicates)
        values = _current_values(locked)
        if not values["issuer_tax_id"]:
            # A tax id printed on the document must match the seller's even if the field was
            # blanked: the seller cannot remove the evidence of whose invoice it is.
            values["issuer_tax_id"] = (locked.extraction or {}).get("issuer_tax_id") or ""
        checks = verification.run_checks(
            values=values,
            seller_tax_id=profile.tax_id,
            seller_country=profile.country,
            supported_currencies=settings.PAYMINT["CURRENCIES"],
            today=clock.today(),
            min_tenor_days=settings.PAYMINT["MIN_TENOR_DAYS"],
            max_tenor_days=settings.PAYMINT["MAX_TENOR_DAYS"],
            duplicate_by_hash=bool(duplicates["by_hash"]),
            duplicate_by_fields=bool(duplicates["by_fields"] or duplicates["by_fingerprint"]),
            duplicate_by_image=bool(duplicates["by_image"]),
        )
        failed = [c for c in checks if c.blocking and not c.passed]
        if failed:
            fields: dict[str, list[str]] = {}
            for check in failed:
                fields.setdefault(check.field or "document", []).append(check.message)
            first = failed[0]
            status = 409 if first.code.startswith("DUPLICATE") else 422
            raise ApplicationError(first.message, code=first.code, fields=fields,
                                   http_status=status)
        locked.verification = [c.as_dict() for c in checks]
        locked.fingerprint = fingerprint
        locked.debtor_key = debtor_key(debtor_tax_id=locked.debtor_tax_id,
                                       debtor_name=locked.debtor_name)
        locked.save(update_fields=["verification", "fingerprint", "debtor_key", "updated_at"])
        invoice_transition(invoice=locked, to_status=InvoiceStatus.SUBMITTED, actor=actor,
                           reason="verified")
        from compliance.tasks import screen_debtor_task

        from ..tasks import invoice_score_task

        invoice_id = locked.pk
        transaction.on_commit(lambda: screen_debtor_task.delay(invoice_id))
        transaction.on_commit(lambda: invoice_score_task.delay(invoice_id))
    return locked


def _extraction_confidence(invoice: Invoice) -> float:
    confidence = (invoice.extraction or {}).get("confidence") or {}
    keys = ("invoice_number", "issuer_name", "buyer_name", "total_amount", "currency",
            "due_date")
    values = [float(confidence.get(k) or 0.0) for k in keys]
    # Fields the seller filled or corrected are as good as the seller's word; treat as 0.7.
    extracted = invoice.extraction or {}
    for index, key in enumerate(keys):
        model_name = EXTRACTED_TO_MODEL[key]
        if _model_value(model_name, extracted.get(key)) != (getattr(invoice, model_name) or None):
            values[index] = 0.7
    return sum(values) / len(values)


def _assess(invoice: Invoice):
    """Run the scorecard on ``invoice`` with today's facts (seller and debtor history,
    concentration, confirmation, extraction confidence, verification)."""
    history = seller_history(seller=invoice.seller)
    debtor = debtor_history(debtor_key=invoice.debtor_key)
    advance_estimate = invoice.face_value * settings.PAYMINT["GRADE_PRICING"]["A"][0]
    share = seller_debtor_share(seller=invoice.seller, debtor_key=invoice.debtor_key,
                                currency=invoice.currency, adding=advance_estimate)
    issuer_match = None
    for check in invoice.verification:
        if check["code"] == "ISSUER_TAX_ID_MISMATCH":
            issuer_match = bool(check["passed"])
    debtor_valid = None
    if invoice.debtor_tax_id:
        debtor_valid = any(c["code"] == "INVALID_DEBTOR_TAX_ID" and c["passed"]
                           for c in invoice.verification)
    inputs = RiskInputs(
        tenor_days=(invoice.due_date - clock.today()).days,
        face_value=invoice.face_value,
        seller_average_face_value=history["average_face_value"],
        seller_settled_count=history["settled_count"],
        seller_late_count=history["late_count"],
        seller_default_count=history["default_count"],
        debtor_settled_count=debtor["settled_count"],
        debtor_seller_count=debtor["seller_count"],
        extraction_confidence=_extraction_confidence(invoice),
        structured_einvoice=invoice.extraction_method.startswith("einvoice"),
        issuer_tax_id_matches_seller=issuer_match,
        debtor_tax_id_valid=debtor_valid,
        debtor_late_count=debtor["late_count"],
        debtor_default_count=debtor["default_count"],
        debtor_confirmed=invoice.debtor_confirmed_at is not None,
        seller_debtor_share=float(share),
    )
    assessment = score_invoice(
        inputs,
        thresholds=settings.PAYMINT["GRADE_THRESHOLDS"],
        pricing=settings.PAYMINT["GRADE_PRICING"],
        pd_by_grade=settings.PAYMINT["GRADE_PD"],
    )
    return assessment


def _store_assessment(invoice: Invoice, assessment, *, with_offer: bool) -> None:
    invoice.risk_score = assessment.score
    invoice.risk_grade = assessment.grade
    invoice.risk_factors = [f.as_dict() for f in assessment.factors]
    invoice.probability_of_default = assessment.probability_of_default
    fields = ["risk_score", "risk_grade", "risk_factors", "probability_of_default",
              "updated_at"]
    if with_offer:
        invoice.advance_rate = assessment.max_advance_rate
        invoice.discount_rate = assessment.discount_rate
        fields += ["advance_rate", "discount_rate"]
    invoice.save(update_fields=fields)


def invoice_score(*, invoice_id: int) -> Invoice:
    """Score a submitted invoice and set its offer (the scoring task's body).

    Safe to run twice: only a ``SUBMITTED`` invoice is scored. Grade E invoices are rejected
    (not financeable) with the factors as the reason.
    """
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status != InvoiceStatus.SUBMITTED:
            return invoice
        assessment = _assess(invoice)
        financeable = assessment.grade != RiskGrade.E
        _store_assessment(invoice, assessment, with_offer=financeable)
        if not financeable:
            return invoice_transition(
                invoice=invoice, to_status=InvoiceStatus.REJECTED,
                reason=f"risk grade E (score {assessment.score}): not financeable",
            )
        return invoice_transition(
            invoice=invoice, to_status=InvoiceStatus.PRICED,
            reason=f"grade {assessment.grade}, score {assessment.score}",
        )


def invoice_rescore(*, invoice_id: int) -> Invoice:
    """Re-run the scorecard on a ``PRICED`` invoice whose facts changed (e.g. the debtor
    confirmed it): the offer follows the new grade. Other statuses are left as they are (a
    listing's terms are fixed). Grade E keeps the previous offer (no status change here)."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status != InvoiceStatus.PRICED:
            return invoice
        assessment = _assess(invoice)
        _store_assessment(invoice, assessment, with_offer=assessment.grade != RiskGrade.E)
    return invoice


def low_confidence_fields(invoice: Invoice) -> list[str]:
    """Extraction field names the seller should confirm (confidence below 0.6)."""
    confidence = (invoice.extraction or {}).get("confidence") or {}
    return [name for name in FIELD_NAMES if float(confidence.get(name) or 0.0) < LOW_CONFIDENCE]


def _require_staff(actor) -> None:
    require_staff(actor, code="STAFF_ONLY")


def invoice_ops_verify(*, invoice: Invoice, actor, note: str = "") -> Invoice:
    """Operations staff record that they checked the invoice (e.g. called the debtor). The
    check shows as a badge; the action is written to the invoice's history."""
    _require_staff(actor)
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        locked.ops_verified_at = timezone.now()
        locked.ops_verified_by = actor
        locked.save(update_fields=["ops_verified_at", "ops_verified_by", "updated_at"])
        InvoiceStatusEvent.objects.create(
            invoice=locked, from_status=locked.status, to_status=locked.status, actor=actor,
            reason=f"verified by operations. {note}".strip())
    return locked


def invoice_ops_reject(*, invoice: Invoice, actor, reason: str) -> Invoice:
    """Operations staff reject an invoice before it is listed, with a reason the seller sees.

    Raises:
        ValidationFailed: ``REASON_REQUIRED``. InvalidTransition: already listed or later.
    """
    _require_staff(actor)
    if not reason.strip():
        raise ValidationFailed("A reason is required.", code="REASON_REQUIRED",
                               fields={"reason": ["Required."]})
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        return invoice_transition(invoice=locked, to_status=InvoiceStatus.REJECTED, actor=actor,
                                  reason=f"rejected by operations: {reason.strip()}")


def invoice_mark_disputed(*, invoice: Invoice, actor, reason: str) -> Invoice:
    """Mark an invoice disputed (the debtor contests it, or ops doubt it): it can no longer be
    listed or funded, and a compliance alert is raised.

    Raises:
        ValidationFailed: ``REASON_REQUIRED``.
    """
    from compliance.enums import AlertKind, AlertSeverity
    from compliance.services import alert_raise

    _require_staff(actor)
    if not reason.strip():
        raise ValidationFailed("A reason is required.", code="REASON_REQUIRED",
                               fields={"reason": ["Required."]})
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().select_related("seller").get(pk=invoice.pk)
        locked.disputed_at = timezone.now()
        locked.dispute_reason = reason.strip()
        locked.save(update_fields=["disputed_at", "dispute_reason", "updated_at"])
        InvoiceStatusEvent.objects.create(
            invoice=locked, from_status=locked.status, to_status=locked.status, actor=actor,
            reason=f"marked disputed: {reason.strip()}")
        alert_raise(kind=AlertKind.DEBTOR_DISPUTE, severity=AlertSeverity.HIGH,
                    dedupe_key=f"invoice-disputed:{locked.public_id}",
                    title=f"Invoice {locked.invoice_number} marked disputed",
                    evidence={"reason": reason.strip(), "by": actor.email},
                    invoice=locked, user=locked.seller)
    return locked
