"""Submission: the verification checks, duplicate detection and double-financing alerts,
then ``SUBMITTED`` with the debtor's screening and the scoring enqueued after commit."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from accounts.error_codes import AccountsError
from accounts.selectors import kyc_profile_for_user
from compliance.public import AlertKind, AlertSeverity, alert_raise
from paymint.core import clock
from paymint.core.errors import ApplicationError, InvalidTransition, PermissionDenied
from paymint.core.queue import enqueue_on_commit

from .. import verification
from ..enums import INVOICE_TRANSITIONS, InvoiceStatus
from ..error_codes import InvoicesError
from ..fingerprints import debtor_key, invoice_fingerprint
from ..models import Invoice
from ..selectors import invoice_duplicates
from .status import invoice_transition
from .upload import EDITABLE_FIELDS


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
                               code=AccountsError.KYB_NOT_APPROVED)
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
        locked = (Invoice.objects.select_for_update(no_key=True).select_related("seller")
                  .get(pk=invoice.pk))
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
            first = failed[0]  # its code's status: 409 for a duplicate, else 422
            raise ApplicationError(first.message, code=InvoicesError(first.code), fields=fields)
        locked.verification = [c.as_dict() for c in checks]
        locked.fingerprint = fingerprint
        locked.debtor_key = debtor_key(debtor_tax_id=locked.debtor_tax_id,
                                       debtor_name=locked.debtor_name)
        locked.save(update_fields=["verification", "fingerprint", "debtor_key", "updated_at"])
        invoice_transition(invoice=locked, to_status=InvoiceStatus.SUBMITTED, actor=actor,
                           reason="verified")
        enqueue_on_commit("compliance.tasks.screen_debtor_task", locked.pk)
        enqueue_on_commit("invoices.tasks.invoice_score_task", locked.pk)
    return locked
