"""Result types of the extraction pipeline (pure data, no I/O)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from .errors import ExtractionTimeout

FIELD_NAMES = (
    "invoice_number",
    "issuer_name",
    "buyer_name",
    "total_amount",
    "amount_due",
    "currency",
    "issue_date",
    "due_date",
    "issuer_tax_id",
    "buyer_tax_id",
)

AMOUNT_FIELDS = frozenset({"total_amount", "amount_due"})
#: Fields a till receipt does not have (paid at the till, sold to whoever walked in).
RECEIPT_ABSENT_FIELDS = frozenset({"buyer_name", "buyer_tax_id", "amount_due", "due_date"})
DATE_FIELDS = frozenset({"issue_date", "due_date"})

FieldValue = str | Decimal | date | None


@dataclass(frozen=True)
class ExtractionLimits:
    """Resource limits for one extraction; the caller fills them from Django settings."""

    max_bytes: int = 15 * 1024 * 1024
    max_pages: int = 20  # PDFs with more pages are refused
    ocr_max_pages: int = 3  # OCR only the first N pages
    max_image_pixels: int = 40_000_000  # refuse images/rendered pages above this
    timeout_seconds: int = 90  # overall budget; tesseract calls get the remaining time
    gst_qr_public_key: str = ""  # PEM of the IRP key that signs GST e-invoice QR codes


@dataclass(frozen=True)
class ExtractedField:
    """One field value with its confidence (0.0-1.0) and where it came from."""

    value: FieldValue
    confidence: float
    source: str

    @classmethod
    def missing(cls, source: str = "none") -> ExtractedField:
        return cls(value=None, confidence=0.0, source=source)


#: Every ``ExtractionResult.method`` the pipeline writes (``Invoice.extraction_method``; blank
#: before extraction), with a label: the back office's filter offers these, not the distinct
#: values of the table (a full scan).
EXTRACTION_METHODS: tuple[tuple[str, str], ...] = (
    ("einvoice-cii", "e-invoice (CII)"),
    ("einvoice-ubl", "e-invoice (UBL)"),
    ("text-layer", "PDF text layer"),
    ("ocr", "OCR"),
)


@dataclass(frozen=True)
class ExtractionResult:
    """The extraction of one document; ``fields`` always holds every name in FIELD_NAMES."""

    fields: dict[str, ExtractedField]
    method: str  # "einvoice-cii" | "einvoice-ubl" | "text-layer" | "ocr"
    content_type: str
    page_count: int
    warnings: tuple[str, ...] = field(default=())
    #: The laid-out text (``layout.Document``) the fields were read from (text layer, OCR),
    #: for the ranker and the evaluation; None for e-invoices. Not serialized.
    layout: object | None = field(default=None, compare=False, repr=False)
    #: "invoice" | "credit_note" | "receipt" (read from the layout; e-invoices: "invoice").
    #: A receipt's issuer is the merchant; it has no buyer, due date or amount due.
    document_kind: str = "invoice"

    def value(self, name: str) -> FieldValue:
        """Return the value of field ``name`` (KeyError for unknown names)."""
        return self.fields[name].value

    def to_json_dict(self) -> dict:
        """JSON-safe dict: the 10 field names, ``confidence`` per field, ``method`` and
        ``document_kind``.

        Amounts are strings with their printed precision (``"571.04"``), never floats; dates are
        ISO strings; missing values are ``None``.
        """
        out: dict = {}
        for name in FIELD_NAMES:
            out[name] = json_value(self.fields[name].value)
        out["confidence"] = {name: round(self.fields[name].confidence, 3) for name in FIELD_NAMES}
        out["method"] = self.method
        out["document_kind"] = self.document_kind
        return out


def json_value(value: FieldValue) -> str | None:
    """Serialize a field value: Decimal -> plain string, date -> ISO string, str unchanged."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class Deadline:
    """Wall-clock budget for one extraction; ``check()`` raises ExtractionTimeout when spent."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise ExtractionTimeout()
