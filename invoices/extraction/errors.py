"""Typed extraction errors with stable codes.

Every failure that leaves :func:`invoices.extraction.extract_document` is an
:class:`ExtractionError` subclass; ``code`` is a stable UPPER_SNAKE string for the API and the
dashboards, ``message`` is a sentence that can be shown to the seller.
"""

from __future__ import annotations


class ExtractionError(Exception):
    """Base class: the document could not be read. ``code`` and ``message`` are stable."""

    code: str = "EXTRACTION_FAILED"
    default_message: str = "The document could not be read."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class UnsupportedFileType(ExtractionError):
    code = "UNSUPPORTED_FILE_TYPE"
    default_message = "Upload a PDF, PNG, JPEG or e-invoice XML file."


class FileTooLarge(ExtractionError):
    code = "FILE_TOO_LARGE"
    default_message = "The file is too large."


class EncryptedDocument(ExtractionError):
    code = "ENCRYPTED_DOCUMENT"
    default_message = "The PDF is password-protected. Upload an unprotected copy."


class CorruptDocument(ExtractionError):
    code = "CORRUPT_DOCUMENT"
    default_message = "The file is damaged or incomplete and cannot be read."


class EmptyDocument(ExtractionError):
    code = "EMPTY_DOCUMENT"
    default_message = "The document has no pages."


class TooManyPages(ExtractionError):
    code = "TOO_MANY_PAGES"
    default_message = "The document has too many pages for an invoice."


class ImageTooLarge(ExtractionError):
    code = "IMAGE_TOO_LARGE"
    default_message = "The image dimensions are too large."


class NoTextFound(ExtractionError):
    code = "NO_TEXT_FOUND"
    default_message = "No text could be read from the document."


class ExtractionTimeout(ExtractionError):
    code = "EXTRACTION_TIMEOUT"
    default_message = "Reading the document took too long."


class OcrUnavailable(ExtractionError):
    """The OCR engine (tesseract) is missing or broken on this host - an operations problem."""

    code = "OCR_UNAVAILABLE"
    default_message = "Scanned documents cannot be read right now. Please try again later."
