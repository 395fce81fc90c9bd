"""Reads for invoices. Every read of a user-supplied id checks ownership here."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal

import pypdfium2 as pdfium
from django.conf import settings
from django.db.models import Avg, Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from PIL import Image

from paymint.core.errors import NotFound
from paymint.core.storage import PrivateFile, is_verified_staff
from paymint.core.tallies import tallies_kept

from .enums import InvoiceStatus
from .error_codes import InvoicesError
from .fingerprints import PHASH_MAX_DISTANCE, normalize_reference, phash_distance
from .models import Invoice, InvoiceStatusEvent, InvoiceTotal, OverdueBookTotal

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
        raise NotFound("Invoice not found.", code=InvoicesError.INVOICE_NOT_FOUND) from None


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
        raise NotFound("Invoice not found.", code=InvoicesError.INVOICE_NOT_FOUND)
    return invoice


def invoice_private_file(invoice: Invoice) -> PrivateFile:
    """The invoice's stored document as handed out: ``invoice-<id>.<ext>``, sniffed type."""
    return PrivateFile(
        file=invoice.document,
        filename=f"invoice-{invoice.public_id}.{invoice.document_extension}",
        content_type=invoice.document_content_type,
    )


def invoice_document_for_viewer(*, user, object_id) -> PrivateFile:
    """The document of invoice ``object_id`` (UUID) for its seller or two-factor verified
    staff whose role may view invoices (the private file resolver of
    ``paymint.core.storage``).

    Raises:
        NotFound: ``INVOICE_NOT_FOUND`` for a bad id or anyone else's invoice.
    """
    invoices = Invoice.objects.filter(public_id=_parse_uuid(object_id))
    if not is_verified_staff(user, "invoices.view_invoice"):
        invoices = invoices.filter(seller=user)
    invoice = invoices.first()
    if invoice is None:
        raise NotFound("Invoice not found.", code=InvoicesError.INVOICE_NOT_FOUND)
    return invoice_private_file(invoice)


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


#: Invoices whose advance is outstanding (listed or financed and not yet repaid).
EXPOSURE_STATUSES = frozenset({
    InvoiceStatus.LISTED, InvoiceStatus.FUNDED, InvoiceStatus.DISBURSED, InvoiceStatus.OVERDUE,
    InvoiceStatus.DEFAULTED,
})
#: Invoices that were late (went overdue) or defaulted, from their status history.
_WENT_OVERDUE = Q(events__to_status=InvoiceStatus.OVERDUE)
_DEFAULTED = Q(events__to_status=InvoiceStatus.DEFAULTED)


def seller_history(*, seller) -> dict:
    """The seller's record on PayMint for the scorecard: invoices repaid (settled), of those
    how many went overdue, how many defaulted, the average face value, and the outstanding
    book (advance amounts) per debtor key."""
    financed = Invoice.objects.filter(seller=seller, listing__disbursed_on__isnull=False)
    agg = financed.aggregate(
        settled=Count("id", filter=Q(status=InvoiceStatus.SETTLED), distinct=True),
        late=Count("id", filter=_WENT_OVERDUE, distinct=True),
        defaults=Count("id", filter=_DEFAULTED, distinct=True),
        avg=Avg("face_value"),
    )
    return {
        "settled_count": agg["settled"] or 0,
        "late_count": agg["late"] or 0,
        "default_count": agg["defaults"] or 0,
        "average_face_value": Decimal(agg["avg"]) if agg["avg"] is not None else None,
    }


def debtor_history(*, debtor_key: str) -> dict:
    """How often the debtor has paid invoices on PayMint, to how many sellers, and how many
    of its invoices went overdue or defaulted (across all sellers)."""
    if not debtor_key:
        return {"settled_count": 0, "seller_count": 0, "late_count": 0, "default_count": 0}
    invoices = Invoice.objects.filter(debtor_key=debtor_key,
                                      listing__disbursed_on__isnull=False)
    agg = invoices.aggregate(
        settled=Count("id", filter=Q(status=InvoiceStatus.SETTLED), distinct=True),
        sellers=Count("seller", filter=Q(status=InvoiceStatus.SETTLED), distinct=True),
        late=Count("id", filter=_WENT_OVERDUE, distinct=True),
        defaults=Count("id", filter=_DEFAULTED, distinct=True),
    )
    return {"settled_count": agg["settled"] or 0, "seller_count": agg["sellers"] or 0,
            "late_count": agg["late"] or 0, "default_count": agg["defaults"] or 0}


def exposure(*, currency: str, debtor_key: str = "", seller=None, exclude_invoice=None
             ) -> Decimal:
    """Outstanding advance amounts in ``currency`` on one debtor (across sellers) or of one
    seller: listings not yet repaid (listed amounts count in full, they may fill)."""
    qs = Invoice.objects.filter(status__in=EXPOSURE_STATUSES, currency=currency)
    if debtor_key:
        qs = qs.filter(debtor_key=debtor_key)
    if seller is not None:
        qs = qs.filter(seller=seller)
    if exclude_invoice is not None:
        qs = qs.exclude(pk=exclude_invoice.pk)
    total = qs.aggregate(total=Sum("listing__advance_amount"))["total"]
    return Decimal(total or 0)


def seller_debtor_share(*, seller, debtor_key: str, currency: str, adding: Decimal) -> Decimal:
    """Share (0-1) of the seller's outstanding book on one debtor once ``adding`` is added;
    0 while the seller has nothing else outstanding (one invoice is no concentration)."""
    book = exposure(currency=currency, seller=seller)
    if book <= 0:
        return Decimal(0)
    on_debtor = exposure(currency=currency, seller=seller, debtor_key=debtor_key) + adding
    return on_debtor / (book + adding)


def risk_calibration() -> list[dict]:
    """Predicted vs realized outcomes per grade, for financed invoices.

    Per grade: ``financed`` (disbursed), ``closed`` (settled, defaulted or written off),
    ``predicted_pd`` (mean probability of default recorded at scoring), ``realized_default_rate``
    (closed invoices that went through default), ``late_rate`` (closed invoices that went
    overdue) and ``mean_days_late`` (last distribution's business date minus the due date, over
    closed invoices paid after their due date). Three queries whatever the number of invoices.
    """
    defaulted = InvoiceStatusEvent.objects.filter(invoice=OuterRef("pk"),
                                                  to_status=InvoiceStatus.DEFAULTED)
    overdue = InvoiceStatusEvent.objects.filter(invoice=OuterRef("pk"),
                                                to_status=InvoiceStatus.OVERDUE)
    rows = (
        Invoice.objects.filter(listing__disbursed_on__isnull=False)
        .exclude(risk_grade="")
        .annotate(
            defaulted=Exists(defaulted),
            went_overdue=Exists(overdue),
            last_paid=Max("journal_entries__effective_date",
                          filter=Q(journal_entries__kind="SETTLEMENT")),
        )
        .values("risk_grade", "status", "due_date", "probability_of_default", "defaulted",
                "went_overdue", "last_paid")
    )
    closed_statuses = {InvoiceStatus.SETTLED, InvoiceStatus.WRITTEN_OFF, InvoiceStatus.DEFAULTED}
    grades: dict[str, dict] = {}
    for row in rows:
        g = grades.setdefault(row["risk_grade"], {
            "grade": row["risk_grade"], "financed": 0, "closed": 0, "defaults": 0, "late": 0,
            "pd_sum": Decimal(0), "pd_n": 0, "days_late": []})
        g["financed"] += 1
        if row["probability_of_default"] is not None:
            g["pd_sum"] += row["probability_of_default"]
            g["pd_n"] += 1
        if row["status"] in closed_statuses or row["defaulted"]:
            g["closed"] += 1
            g["defaults"] += int(row["defaulted"])
            g["late"] += int(row["went_overdue"])
            if row["last_paid"] and row["due_date"] and row["last_paid"] > row["due_date"]:
                g["days_late"].append((row["last_paid"] - row["due_date"]).days)
    report = []
    for grade in sorted(grades):
        g = grades[grade]
        report.append({
            "grade": grade,
            "financed": g["financed"],
            "closed": g["closed"],
            "predicted_pd": (g["pd_sum"] / g["pd_n"]) if g["pd_n"] else None,
            "realized_default_rate": (Decimal(g["defaults"]) / g["closed"]) if g["closed"]
            else None,
            "late_rate": (Decimal(g["late"]) / g["closed"]) if g["closed"] else None,
            "mean_days_late": (sum(g["days_late"]) / len(g["days_late"])) if g["days_late"]
            else 0.0,
        })
    return report


#: Content types PayMint renders to PNG pages itself (XML e-invoices have no page).
RENDERABLE_CONTENT_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg"})


def _document_bytes(invoice: Invoice) -> bytes | None:
    if invoice.document_content_type not in RENDERABLE_CONTENT_TYPES:
        return None
    try:
        with invoice.document.open("rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError, ValueError):
        return None


def invoice_page_count(*, invoice: Invoice) -> int:
    """How many pages of the document :func:`invoice_preview_png` can render: a PDF's pages
    (at most ``EXTRACTION_MAX_PAGES``), 1 for an image, 0 for XML or a missing/unreadable
    file. The caller checks access."""
    data = _document_bytes(invoice)
    if data is None:
        return 0
    if invoice.document_content_type != "application/pdf":
        return 1
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        return 0
    try:
        return min(len(pdf), settings.EXTRACTION_MAX_PAGES)
    finally:
        pdf.close()


def invoice_preview_png(*, invoice: Invoice, scale: float = 1.5, page: int = 0) -> bytes | None:
    """Page ``page`` (0-based) of the document rendered to PNG by PayMint (``scale`` x 72 dpi,
    grayscale, at most 1400 px on the longer side), or None when the stored file is gone, the
    page does not exist or cannot be rendered (XML e-invoices have no page; pages above
    ``EXTRACTION_MAX_IMAGE_PIXELS`` are not decoded). The bytes are PayMint's own rendering,
    never the upload, so they are safe to show inline; the caller checks access (staff in the
    admin, the owning seller on the invoice page)."""
    data = _document_bytes(invoice)
    if data is None or page < 0:
        return None
    max_pixels = settings.EXTRACTION_MAX_IMAGE_PIXELS
    image = None
    try:
        if invoice.document_content_type == "application/pdf":
            pdf = pdfium.PdfDocument(data)
            try:
                if page >= min(len(pdf), settings.EXTRACTION_MAX_PAGES):
                    return None
                pdf_page = pdf[page]
                width, height = pdf_page.get_size()
                if width * height * scale * scale <= max_pixels:
                    image = pdf_page.render(scale=scale, grayscale=True).to_pil().convert("L")
            finally:
                pdf.close()
        elif page == 0:
            img = Image.open(io.BytesIO(data))
            if img.size[0] * img.size[1] <= max_pixels:
                img.draft("L", (1400, 1400))
                image = img.convert("L")
    except Exception:  # noqa: BLE001 - unreadable document: no preview, extraction reports it
        return None
    if image is None:
        return None
    image.thumbnail((1400, 1400))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def invoice_counts_by_grade_and_status(*, statuses) -> dict[tuple[str, str], int]:
    """``{(risk grade, status): invoices}`` of the graded invoices in ``statuses`` (the back
    office's default rates). One query over the invoice tally (:class:`~.models.InvoiceTotal`,
    a few dozen rows, kept by PostgreSQL), or over the invoices on SQLite."""
    if tallies_kept():
        rows = (InvoiceTotal.objects.filter(status__in=statuses).exclude(risk_grade="")
                .values("risk_grade", "status").annotate(n=Sum("invoices")))
    else:
        rows = (Invoice.objects.filter(status__in=statuses).exclude(risk_grade="")
                .values("risk_grade", "status").annotate(n=Count("id")).order_by())
    return {(r["risk_grade"], r["status"]): int(r["n"]) for r in rows if r["n"]}


def invoice_overdue_book(*, due_before=None) -> list[tuple[str, object, int, Decimal]]:
    """The overdue book (OVERDUE and DEFAULTED invoices with a due date, due before
    ``due_before`` when given) as ``(currency, due date, invoices, face value)`` rows, one per
    currency and due date (face value in the currency, storage precision). One query over the
    overdue book tally (:class:`~.models.OverdueBookTotal`: a few rows per due date, kept by
    PostgreSQL), or over the invoices on SQLite."""
    if tallies_kept():
        rows = OverdueBookTotal.objects.all()
        if due_before is not None:
            rows = rows.filter(due_date__lt=due_before)
        rows = rows.values("currency", "due_date").annotate(
            n=Sum("invoices"), face=Sum("face_value"))
    else:
        rows = Invoice.objects.filter(
            status__in=(InvoiceStatus.OVERDUE, InvoiceStatus.DEFAULTED), due_date__isnull=False)
        if due_before is not None:
            rows = rows.filter(due_date__lt=due_before)
        rows = rows.values("currency", "due_date").annotate(
            n=Count("*"), face=Sum("face_value")).order_by()
    return sorted((r["currency"], r["due_date"], int(r["n"]), r["face"] or Decimal(0))
                  for r in rows if r["n"])
