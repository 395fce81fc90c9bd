"""Reads for the seller dashboards (pure reads, owner-scoped; each a fixed number of queries).

The ownership-checked lookups (``invoice_get_for_seller``) stay in :mod:`invoices.selectors`;
this module adds the aggregates and presentation helpers the dashboard pages need.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db.models import Count, QuerySet, Sum

from paymint.core import clock
from paymint.core.money import MINOR_UNITS, quantize_money

from .enums import MODEL_TO_EXTRACTED, InvoiceStatus
from .models import Invoice, InvoiceStatusEvent
from .pricing import Offer, invoice_offer

#: Advance paid, debtor has not paid yet: the seller's "outstanding" (statuses that exist in
#: this version of the state machine).
OUTSTANDING_STATUSES = tuple(
    s for s in ("DISBURSED", "OVERDUE", "DEFAULTED") if s in InvoiceStatus.values
)
#: Invoice statuses whose due date the seller should keep an eye on.
UPCOMING_STATUSES = (InvoiceStatus.LISTED, InvoiceStatus.FUNDED, *OUTSTANDING_STATUSES)

def seller_outstanding(*, seller) -> list[dict]:
    """Face value of the seller's disbursed (advance paid, not yet repaid) invoices per currency:
    ``[{"currency", "total", "count"}]`` (one query)."""
    rows = (
        Invoice.objects.filter(seller=seller, status__in=OUTSTANDING_STATUSES)
        .values("currency")
        .annotate(total=Sum("face_value"), count=Count("id"))
        .order_by("currency")
    )
    return [
        {"currency": r["currency"], "total": r["total"] or Decimal(0), "count": r["count"]}
        for r in rows
    ]


def seller_status_counts(*, seller) -> list[dict]:
    """How many of the seller's invoices are in each status, in lifecycle order (one query)."""
    counts = dict(
        Invoice.objects.filter(seller=seller)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [
        {"status": status, "label": status.label, "count": counts[status]}
        for status in InvoiceStatus
        if counts.get(status)
    ]


def seller_upcoming_due(*, seller, limit: int = 5) -> QuerySet[Invoice]:
    """The seller's financed or listed invoices with the nearest due dates (one query)."""
    return Invoice.objects.filter(
        seller=seller, status__in=UPCOMING_STATUSES, due_date__gte=clock.today()
    ).order_by("due_date", "id")[:limit]


def invoice_timeline(*, invoice: Invoice) -> QuerySet[InvoiceStatusEvent]:
    """The invoice's status events, oldest first, with who made each change (one query)."""
    return InvoiceStatusEvent.objects.filter(invoice=invoice).select_related("actor")


def invoice_field_confidence(*, invoice: Invoice) -> dict[str, float | None]:
    """Extraction confidence (0-1) per editable model field; None when nothing was extracted."""
    confidence = (invoice.extraction or {}).get("confidence") or {}
    if not confidence:
        return dict.fromkeys(MODEL_TO_EXTRACTED)
    return {
        model_name: float(confidence.get(extracted_name) or 0.0)
        for model_name, extracted_name in MODEL_TO_EXTRACTED.items()
    }


def invoice_field_regions(*, invoice: Invoice) -> dict[str, dict]:
    """Where on the document each editable field was read, when the extraction knows it:
    ``{model field: {"page": 0-based, "x0", "top", "x1", "bottom"}}`` with the box as
    fractions (0..1) of the page's width and height, ``top`` from the top edge.

    Read from ``invoice.extraction["fields"][<extracted name>]["region"]`` (written by the
    extraction for text-layer and OCR reads; e-invoice XML and QR values have none). A region
    that is not a well-formed box on a page is left out rather than drawn wrong."""
    fields = (invoice.extraction or {}).get("fields")
    if not isinstance(fields, dict):
        return {}
    regions = {}
    for model_name, extracted_name in MODEL_TO_EXTRACTED.items():
        entry = fields.get(extracted_name)
        region = entry.get("region") if isinstance(entry, dict) else None
        if not isinstance(region, dict):
            continue
        try:
            page = int(region["page"])
            x0, top, x1, bottom = (float(region[k]) for k in ("x0", "top", "x1", "bottom"))
        except (KeyError, TypeError, ValueError):
            continue
        if page < 0 or not (0 <= x0 < x1 <= 1 and 0 <= top < bottom <= 1):
            continue
        regions[model_name] = {"page": page, "x0": x0, "top": top, "x1": x1, "bottom": bottom}
    return regions


def invoice_current_offer(*, invoice: Invoice) -> Offer | None:
    """The seller's offer for a priced invoice if funded today (None when not priced)."""
    if invoice.status != InvoiceStatus.PRICED or not (
        invoice.advance_rate and invoice.face_value and invoice.due_date and invoice.currency
    ):
        return None
    return invoice_offer(
        face_value=invoice.face_value,
        currency=invoice.currency,
        advance_rate=invoice.advance_rate,
        discount_rate=invoice.discount_rate,
        platform_fee_rate=settings.PAYMINT["PLATFORM_FEE_RATE"],
        start=clock.today(),
        due_date=invoice.due_date,
    )


def invoice_field_values(*, invoice: Invoice) -> dict:
    """The editable fields' current values, amounts shown in the currency's minor unit."""
    values = {name: getattr(invoice, name) for name in MODEL_TO_EXTRACTED}
    for name in ("face_value", "amount_due"):
        amount = values[name]
        if amount is not None:
            if invoice.currency in MINOR_UNITS:
                values[name] = quantize_money(amount, invoice.currency)
            else:
                values[name] = amount.quantize(Decimal("0.01"))
    return values


#: Maturity buckets of the receivables chart: (label, first day, last day) from today;
#: ``None`` is open-ended.
MATURITY_BUCKETS: tuple[tuple[str, int | None, int | None], ...] = (
    ("Overdue", None, -1),
    ("0-30 days", 0, 30),
    ("31-60 days", 31, 60),
    ("61-90 days", 61, 90),
    ("Over 90 days", 91, None),
)


def seller_receivables_by_maturity(*, seller) -> list[dict]:
    """Face value of the seller's listed, funded and financed invoices by days to maturity,
    per currency: ``[{"bucket", "currency", "total", "count"}]`` in bucket order (one query)."""
    today = clock.today()
    rows = (
        Invoice.objects.filter(seller=seller, status__in=UPCOMING_STATUSES, due_date__isnull=False)
        .values("currency", "due_date")
        .annotate(total=Sum("face_value"), count=Count("id"))
        .order_by()
    )
    sums: dict[tuple[str, str], dict] = {}
    for row in rows:
        days = (row["due_date"] - today).days
        label = next(
            name
            for name, first, last in MATURITY_BUCKETS
            if (first is None or days >= first) and (last is None or days <= last)
        )
        cell = sums.setdefault(
            (label, row["currency"]),
            {"bucket": label, "currency": row["currency"], "total": Decimal(0), "count": 0},
        )
        cell["total"] += row["total"] or Decimal(0)
        cell["count"] += row["count"]
    order = {name: i for i, (name, _, _) in enumerate(MATURITY_BUCKETS)}
    return sorted(sums.values(), key=lambda c: (order[c["bucket"]], c["currency"]))


def maturity_chart(rows: list[dict]) -> dict:
    """Chart.js data (bars: maturity bucket x currency) for the receivables rows (display
    only: floats are fine here, the table beside the chart shows the exact amounts)."""
    currencies = sorted({r["currency"] for r in rows})
    totals = {(r["bucket"], r["currency"]): float(r["total"]) for r in rows}
    labels = [name for name, _, _ in MATURITY_BUCKETS]
    return {
        "labels": labels,
        "datasets": [
            {"label": c, "data": [totals.get((b, c), 0) for b in labels]} for c in currencies
        ],
    }
