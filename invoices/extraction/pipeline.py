"""Orchestration: sniff the content, then e-invoice XML -> PDF text layer -> OCR."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import replace

from pdfminer.pdfparser import PDFSyntaxError

from paymint.core.uploads import sniff_binary_type

from .einvoice import (
    EINVOICE_ATTACHMENT_NAMES,
    einvoice_xml_kind,
    extract_einvoice,
    looks_like_einvoice_xml,
)
from .errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    ExtractionError,
    FileTooLarge,
    NoTextFound,
    TooManyPages,
    UnsupportedFileType,
)
from .gstjson import extract_gst_json, is_gst_einvoice_json
from .gstqr import decode_qr_texts, gst_qr_fields, parse_gst_qr
from .heuristics import extract_fields
from .layout import Word, build_document
from .ocr import ocr_images, open_image, render_pdf_pages
from .ranker import FieldRanker, default_ranker
from .schema import FIELD_NAMES, Deadline, ExtractedField, ExtractionLimits, ExtractionResult

logger = logging.getLogger(__name__)

MODES = ("auto", "text", "ocr")
MIN_TEXT_WORDS = 8  # fewer words in the text layer -> treat the PDF as scanned


_LEADING_BLANKS = b"\xef\xbb\xbf\t\r\n "


def sniff_content_type(data: bytes) -> str:
    """Detect the file type from its content (never from the file name).

    Returns "application/pdf", "image/png", "image/jpeg", "application/xml" (an XML whose root
    element is a CII, UBL or FatturaPA invoice, however long the comments before it) or
    "application/json" (an Indian GST e-invoice JSON or the IRP's signed answer). Raises
    UnsupportedFileType for anything else (executables, archives, other XML or JSON, text...)
    and CorruptDocument for XML that declares a DOCTYPE.
    """
    binary = sniff_binary_type(data)
    if binary is not None:
        return binary
    first = data.lstrip(_LEADING_BLANKS)[:1]
    if first == b"<" and einvoice_xml_kind(data) is not None:
        return "application/xml"
    if first in (b"{", b"[") and is_gst_einvoice_json(data):
        return "application/json"
    raise UnsupportedFileType()


def _empty_fields(source: str) -> dict[str, ExtractedField]:
    return {name: ExtractedField.missing(source) for name in FIELD_NAMES}


class _Pdf:
    """pypdf checks (encryption, page count, attachments) on the raw bytes."""

    def __init__(self, data: bytes, limits: ExtractionLimits) -> None:
        import pypdf  # why: lazy, only PDFs need it (~0.1 s to import)

        if b"%%EOF" not in data[-4096:] and b"%%EOF" not in data:
            raise CorruptDocument("The PDF is incomplete (truncated upload?).")
        try:
            self.reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
            if self.reader.is_encrypted:
                try:
                    ok = self.reader.decrypt("")
                except Exception as exc:  # noqa: BLE001 - unsupported algorithms etc.
                    raise EncryptedDocument() from exc
                if not ok:
                    raise EncryptedDocument()
            self.page_count = len(self.reader.pages)
        except ExtractionError:
            raise
        except pypdf.errors.FileNotDecryptedError as exc:
            raise EncryptedDocument() from exc
        except (pypdf.errors.PdfReadError, ValueError, KeyError, TypeError, AttributeError,
                OSError) as exc:
            raise CorruptDocument() from exc
        except RecursionError as exc:
            raise CorruptDocument() from exc
        if self.page_count == 0:
            raise EmptyDocument()
        if self.page_count > limits.max_pages:
            raise TooManyPages(
                f"The document has {self.page_count} pages; "
                f"at most {limits.max_pages} are accepted."
            )
        self.encrypted = self.reader.is_encrypted

    def einvoice_xml(self) -> bytes | None:
        """The embedded Factur-X/ZUGFeRD/XRechnung XML, if any."""
        try:
            attachments = self.reader.attachments
            candidates: list[tuple[int, bytes]] = []
            for name, blobs in attachments.items():
                for blob in blobs:
                    if not isinstance(blob, bytes | bytearray):
                        continue
                    lname = name.lower()
                    if lname in EINVOICE_ATTACHMENT_NAMES or (
                        lname.endswith(".xml") and looks_like_einvoice_xml(bytes(blob))
                    ):
                        rank = 0 if lname in EINVOICE_ATTACHMENT_NAMES else 1
                        candidates.append((rank, bytes(blob)))
        except Exception:  # noqa: BLE001 - broken attachment trees must not kill extraction
            logger.info("unreadable PDF attachments", exc_info=True)
            return None
        if not candidates:
            return None
        return sorted(candidates, key=lambda c: c[0])[0][1]


def _text_layer_pages(data: bytes, deadline: Deadline, password: str | None):
    import pdfplumber  # why: lazy, only text-layer reads need it (~0.1 s to import)

    pages = []
    try:
        with pdfplumber.open(io.BytesIO(data), password=password or "") as pdf:
            for page in pdf.pages:
                deadline.check()
                raw = page.extract_words(x_tolerance_ratio=0.12, keep_blank_chars=False)
                words = [
                    Word(
                        w["text"],
                        float(w["x0"]),
                        float(w["x1"]),
                        float(w["top"]),
                        float(w["bottom"]),
                    )
                    for w in raw
                ]
                pages.append((float(page.width), float(page.height), words))
                page.close()
    except ExtractionError:
        raise
    except PDFSyntaxError as exc:
        raise CorruptDocument() from exc
    except Exception as exc:  # noqa: BLE001 - pdfminer raises many ad-hoc types on bad files
        raise CorruptDocument() from exc
    return pages


def _result_from_pages(pages, source, content_type, page_count, warnings) -> ExtractionResult:
    doc = build_document(pages, source)
    if doc.word_count == 0:
        raise NoTextFound()
    fields, more, kind = extract_fields(doc)
    return ExtractionResult(
        fields=fields,
        document_kind=kind,
        method=source,
        content_type=content_type,
        page_count=page_count,
        warnings=tuple(warnings + more),
        layout=doc,
    )


def _extract_pdf(data: bytes, mode: str, limits: ExtractionLimits, deadline: Deadline):
    pdf = _Pdf(data, limits)
    warnings: list[str] = []
    if mode == "auto":
        xml = pdf.einvoice_xml()
        if xml is not None:
            try:
                parsed = extract_einvoice(xml)
            except CorruptDocument:
                parsed = None
                warnings.append("EINVOICE_XML_UNREADABLE")
            if parsed is not None:
                fields, method = parsed
                return ExtractionResult(fields, method, "application/pdf", pdf.page_count, ())
    if mode in ("auto", "text"):
        pages = _text_layer_pages(data, deadline, "" if pdf.encrypted else None)
        words = sum(len(p[2]) for p in pages)
        if words >= MIN_TEXT_WORDS or mode == "text":
            if words == 0:
                raise NoTextFound("The PDF has no text layer.")
            result = _result_from_pages(
                pages, "text-layer", "application/pdf", pdf.page_count, warnings
            )
            if _mentions_irn(pages):
                # A GST e-invoice: its signed QR code is authoritative; render page 1 for it.
                first = render_pdf_pages(data, replace(limits, ocr_max_pages=1), deadline)
                result = _with_gst_qr(result, first, limits)
            return result
        warnings.append("NO_TEXT_LAYER")
    if pdf.page_count > limits.ocr_max_pages:
        warnings.append(f"OCR_LIMITED_TO_{limits.ocr_max_pages}_PAGES")
    images = render_pdf_pages(data, limits, deadline)
    return _ocr_with_gst_qr(images, "application/pdf", pdf.page_count, warnings, limits,
                            deadline)


def _mentions_irn(pages) -> bool:
    """True when a page prints an IRN (Invoice Reference Number): a GST e-invoice, whose
    signed QR code is then looked for."""
    return any(w.text.upper().strip(":.") in ("IRN", "GSTIN") or w.text.upper().startswith("IRN:")
               for _, _, words in pages for w in words)


def _ocr_with_gst_qr(images, content_type: str, page_count: int, warnings: list[str],
                     limits: ExtractionLimits, deadline: Deadline) -> ExtractionResult:
    """OCR the page images, then overlay a GST e-invoice QR code's fields if there is one (a
    page whose text cannot be read still yields the QR's fields)."""
    try:
        pages = ocr_images(images, limits, deadline)
        result = _result_from_pages(pages, "ocr", content_type, page_count, warnings)
        if not _mentions_irn(pages):
            return result  # not a GST e-invoice: no QR scan (it costs ~10 % of an OCR)
    except NoTextFound:
        empty = ExtractionResult(_empty_fields("ocr"), "ocr", content_type, page_count,
                                 tuple(warnings))
        result = _with_gst_qr(empty, images, limits)
        if result is empty:
            raise
        return result
    return _with_gst_qr(result, images, limits)


def _with_gst_qr(result: ExtractionResult, images, limits: ExtractionLimits) -> ExtractionResult:
    """Overlay the fields of an Indian GST e-invoice's signed QR code, when one is found."""
    for text in decode_qr_texts(images):
        parsed = parse_gst_qr(text, public_key_pem=limits.gst_qr_public_key)
        if parsed is None:
            continue
        data, verified = parsed
        fields = {**result.fields, **gst_qr_fields(data, verified=verified)}
        warnings = result.warnings + (() if verified else ("GST_QR_SIGNATURE_NOT_VERIFIED",))
        return ExtractionResult(fields, "einvoice-gst-qr", result.content_type,
                                result.page_count, warnings)
    return result


#: ``extract_document(..., ranker=DEFAULT_RANKER)``: the committed model when present.
DEFAULT_RANKER = "default"


def extract_document(
    data: bytes, *, mode: str = "auto", limits: ExtractionLimits | None = None,
    ranker: FieldRanker | str | None = DEFAULT_RANKER,
) -> ExtractionResult:
    """Extract invoice fields from an uploaded file.

    ``data``: the file bytes (PDF, PNG, JPEG, CII/UBL/FatturaPA XML, or GST e-invoice JSON).
    ``mode``: "auto" (embedded e-invoice XML, else text layer, else OCR), "text" (ignore
    embedded XML; text layer only) or "ocr" (force OCR of rendered pages). Returns an
    ExtractionResult whose ``fields`` has every FIELD_NAMES key (value None when not found).
    Raises only ExtractionError subclasses. ``ranker``: the learned ranker that re-scores the
    text-layer/OCR fields (:mod:`.ranker`): the committed model by default, None for the rules
    alone, or a FieldRanker (evaluation folds).
    """
    result = _extract(data, mode, limits or ExtractionLimits())
    if ranker == DEFAULT_RANKER:
        ranker = default_ranker()
    if isinstance(ranker, FieldRanker) and result.layout is not None:
        try:
            result = ranker.rerank(result)
        except Exception:  # noqa: BLE001 - the rules' answer stands if the model fails
            logger.exception("extraction ranker failed; the rules' fields are kept")
    return result


def _extract(data: bytes, mode: str, limits: ExtractionLimits) -> ExtractionResult:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if len(data) > limits.max_bytes:
        raise FileTooLarge(f"The file is larger than {limits.max_bytes // (1024 * 1024)} MB.")
    if not data:
        raise UnsupportedFileType("The file is empty.")
    deadline = Deadline(limits.timeout_seconds)
    content_type = sniff_content_type(data)
    try:
        if content_type == "application/pdf":
            return _extract_pdf(data, mode, limits, deadline)
        if content_type == "application/xml":
            parsed = extract_einvoice(data)
            if parsed is None:
                raise UnsupportedFileType("The XML file is not a CII, UBL or FatturaPA invoice.")
            fields, method = parsed
            return ExtractionResult(fields, method, content_type, 1, ())
        if content_type == "application/json":
            gst = extract_gst_json(data, public_key_pem=limits.gst_qr_public_key)
            if gst is None:
                raise UnsupportedFileType("The JSON file is not a GST e-invoice.")
            fields, method, warnings = gst
            return ExtractionResult(fields, method, content_type, 1, warnings)
        img = open_image(data, limits)
        return _ocr_with_gst_qr([img], content_type, 1, [], limits, deadline)
    except ExtractionError:
        raise
    except MemoryError as exc:
        raise CorruptDocument("The document is too complex to read.") from exc
    except Exception as exc:  # noqa: BLE001 - contract: only ExtractionError escapes
        logger.exception("unexpected extraction failure")
        raise CorruptDocument() from exc


def has_embedded_einvoice(data: bytes) -> bool:
    """True when ``data`` is a PDF with an embedded CII/UBL invoice (for evaluation splits)."""
    try:
        if sniff_content_type(data) != "application/pdf":
            return False
        return _Pdf(data, ExtractionLimits(max_pages=10_000)).einvoice_xml() is not None
    except ExtractionError:
        return False


__all__ = ["extract_document", "sniff_content_type", "has_embedded_einvoice", "re"]
