"""Invoice field extraction (pure Python, no Django).

    from invoices.extraction import extract_document, ExtractionLimits, ExtractionError

    result = extract_document(pdf_bytes, limits=ExtractionLimits(max_pages=20))
    result.value("total_amount")   # Decimal("571.04") or None
    result.to_json_dict()          # 10 fields + "confidence" + "method" + "document_kind"

Order of methods in mode "auto": embedded Factur-X/ZUGFeRD/XRechnung XML (or a bare CII/UBL
upload) -> the PDF text layer -> OCR (scans and images). Every failure raises an
:class:`ExtractionError` subclass with a stable ``code``.
"""

from .errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    ExtractionError,
    ExtractionTimeout,
    FileTooLarge,
    ImageTooLarge,
    NoTextFound,
    OcrUnavailable,
    TooManyPages,
    UnsupportedFileType,
)
from .pipeline import extract_document, has_embedded_einvoice, sniff_content_type
from .schema import (
    FIELD_NAMES,
    ExtractedField,
    ExtractionLimits,
    ExtractionResult,
)

__all__ = [
    "FIELD_NAMES",
    "CorruptDocument",
    "EmptyDocument",
    "EncryptedDocument",
    "ExtractedField",
    "ExtractionError",
    "ExtractionLimits",
    "ExtractionResult",
    "ExtractionTimeout",
    "FileTooLarge",
    "ImageTooLarge",
    "NoTextFound",
    "OcrUnavailable",
    "TooManyPages",
    "UnsupportedFileType",
    "extract_document",
    "has_embedded_einvoice",
    "sniff_content_type",
]
