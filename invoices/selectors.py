"""Reads for invoices. Every read of a user-supplied id checks ownership here."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db.models import Avg, Count, QuerySet

from paymint.core.errors import NotFound

from .enums import InvoiceStatus
from .models import Invoice

#: Statuses of invoices that count as already submitted for financing (duplicate checks).
ACTIVE_FINANCING_STATUSES = frozenset({
    InvoiceStatus.SUBMITTED, InvoiceStatus.PRICED, InvoiceStatus.LISTED, InvoiceStatus.FUNDED,
    InvoiceStatus.DISBURSED, InvoiceStatus.OVERDUE, InvoiceStatus.DEFAULTED,
    InvoiceStatus.WRITTEN_OFF, InvoiceStatus.SETTLED,
})


def _parse_uuid(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        raise NotFound("Invoice not found.", code="INVOICE_NOT_FOUND") from None


def invoice_list_for_seller(*, seller) -> QuerySet[Invoice]:
    """The seller's own invoices, newest first."""
    return Invoice.objects.filter(seller=seller).select_related("listing")


def invoice_get_for_seller(*, seller, invoice_id) -> Invoice:
    """The seller's invoice ``invoice_id`` (UUID).

    Raises:
        NotFound: ``INVOICE_NOT_FOUND`` when it does not exist or belongs to someone else
            (the same answer, so ids of other sellers' invoices cannot be probed).
    """
    invoice = (
        Invoice.objects.filter(seller=seller, public_id=_parse_uuid(invoice_id))
        .select_related("seller")
        .first()
    )
    if invoice is None:
        raise NotFound("Invoice not found.", code="INVOICE_NOT_FOUND")
    return invoice


def invoice_duplicates(*, invoice: Invoice, fingerprint: str | None = None
                       ) -> dict[str, list[Invoice]]:
    """Earlier invoices submitted for financing that duplicate ``invoice``, by detector:

    * ``by_hash``: the same document bytes (SHA-256), any seller;
    * ``by_image``: a first page within :data:`~invoices.fingerprints.PHASH_MAX_DISTANCE` bits
      (pHash) that is also the same invoice number, or - for another seller - the same face
      value. A page hash alone is not enough: invoices made from one template (one seller's,
      or one software's) hash alike (measured on the shared corpus: distance 0 to 8);
    * ``by_fingerprint``: the same normalized identity (issuer tax id, debtor, number, amount,
      issue date), any seller;
    * ``by_fields``: the same seller, invoice number and debtor (case-insensitive).
    """
    from .fingerprints import PHASH_MAX_DISTANCE, normalize_reference, phash_distance

    others = Invoice.objects.exclude(pk=invoice.pk).filter(
        status__in=ACTIVE_FINANCING_STATUSES
    ).select_related("seller")
    by_hash = list(others.filter(document_sha256=invoice.document_sha256)[:5])
    by_image: list[Invoice] = []
    if invoice.document_phash:
        candidates = others.exclude(document_phash="").only(
            "id", "public_id", "seller_id", "document_phash", "face_value", "invoice_number",
            "document_sha256",
        )
        for other in candidates.iterator(chunk_size=2000):
            if phash_distance(invoice.document_phash, other.document_phash) > PHASH_MAX_DISTANCE:
                continue
            same_number = (normalize_reference(other.invoice_number)
                           == normalize_reference(invoice.invoice_number) != "")
            same_amount = other.face_value is not None and other.face_value == invoice.face_value
            if same_number or (other.seller_id != invoice.seller_id and same_amount):
                by_image.append(other)
                if len(by_image) == 5:
                    break
    fingerprint = invoice.fingerprint if fingerprint is None else fingerprint
    by_fingerprint = list(others.filter(fingerprint=fingerprint)[:5]) if fingerprint else []
    by_fields: list[Invoice] = []
    if invoice.invoice_number and invoice.debtor_name:
        by_fields = list(
            others.filter(
                seller=invoice.seller,
                invoice_number__iexact=invoice.invoice_number.strip(),
                debtor_name__iexact=invoice.debtor_name.strip(),
            )[:5]
        )
    return {"by_hash": by_hash, "by_image": by_image, "by_fingerprint": by_fingerprint,
            "by_fields": by_fields}


def seller_history(*, seller) -> dict:
    """Counts for the scorecard: settled invoices and average face value of the seller."""
    settled = Invoice.objects.filter(seller=seller, status=InvoiceStatus.SETTLED)
    agg = settled.aggregate(count=Count("id"), avg=Avg("face_value"))
    return {
        "settled_count": agg["count"] or 0,
        "late_count": 0,
        "default_count": 0,
        "average_face_value": Decimal(agg["avg"]) if agg["avg"] is not None else None,
    }


def debtor_history(*, debtor_name: str) -> dict:
    """How often the debtor has paid invoices on PayMint, and to how many sellers."""
    settled = Invoice.objects.filter(
        debtor_name__iexact=debtor_name.strip(), status=InvoiceStatus.SETTLED
    )
    agg = settled.aggregate(count=Count("id"), sellers=Count("seller", distinct=True))
    return {"settled_count": agg["count"] or 0, "seller_count": agg["sellers"] or 0}
