"""Document and invoice fingerprints for double-financing detection. Pure, no database.

Three detectors, from exact to fuzzy:

* the document's SHA-256 (the same file uploaded twice);
* a perceptual hash of the first page (pHash, DCT-based, 64 bits, via the ``imagehash``
  library): the same document re-scanned, re-rendered or re-saved. Two pages are "the same
  image" when their hashes differ in at most :data:`PHASH_MAX_DISTANCE` bits;
* a normalized fingerprint of the invoice's identity: issuer tax id, debtor, invoice number,
  amount and issue date, normalized (case, spacing, punctuation, legal-form suffixes), so the
  same invoice typed or formatted differently still matches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import unicodedata
from decimal import Decimal

import imagehash
import pypdfium2 as pdfium
from PIL import Image

#: Bits of difference up to which two first pages count as the same image (of 64). pHash
#: distances of re-scans/re-renders of one page are typically <= 4; unrelated pages ~32.
PHASH_MAX_DISTANCE = 6

_LEGAL_FORMS = re.compile(
    r"\b(gmbh|ag|kg|co|ltd|limited|inc|llc|sa|sarl|sas|bv|nv|srl|spa|plc|pvt|private|oy|ab|"
    r"as|aps|kgaa|ug|ohg|eg|se)\b"
)


def first_page_image(
    data: bytes, content_type: str, *, max_pixels: int, scale: float = 1.0
) -> Image.Image | None:
    """The first page as a grayscale image (PDFs rendered at ``scale`` x 72 dpi), or None if
    unreadable. Bounded: pages and images above ``max_pixels`` are not decoded.
    """
    try:
        if content_type == "application/pdf":
            pdf = pdfium.PdfDocument(data)
            try:
                if len(pdf) == 0:
                    return None
                page = pdf[0]
                width, height = page.get_size()
                if width * height * scale * scale > max_pixels:
                    return None
                return page.render(scale=scale, grayscale=True).to_pil().convert("L")
            finally:
                pdf.close()
        if content_type in ("image/png", "image/jpeg"):
            img = Image.open(io.BytesIO(data))
            if img.size[0] * img.size[1] > max_pixels:
                return None
            img.draft("L", (1024, 1024))
            return img.convert("L")
    except Exception:  # noqa: BLE001 - a fingerprint is best effort; extraction reports errors
        return None
    return None


def perceptual_hash(image: Image.Image) -> str:
    """64-bit pHash of ``image`` as 16 hex characters."""
    return str(imagehash.phash(image))


def phash_distance(a: str, b: str) -> int:
    """Hamming distance in bits between two hex pHashes."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def normalize_name(value: str) -> str:
    """Upper-case ASCII letters and digits only, legal-form suffixes removed."""
    text = unicodedata.normalize("NFKD", value or "").encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9 ]+", " ", text.lower())
    text = _LEGAL_FORMS.sub(" ", text)
    return re.sub(r"\s+", "", text).upper()


def normalize_reference(value: str) -> str:
    """Invoice numbers and tax ids: letters and digits only, upper case, no leading '#'."""
    return re.sub(r"[^A-Za-z0-9]+", "", value or "").upper()


def invoice_fingerprint(
    *, issuer_tax_id: str, debtor_name: str, invoice_number: str, amount: Decimal | None,
    issue_date: dt.date | None,
) -> str:
    """SHA-256 of the normalized identity of an invoice (see module doc); '' if the invoice
    number or amount is missing (too little to identify it)."""
    if not invoice_number or amount is None:
        return ""
    parts = [
        normalize_reference(issuer_tax_id),
        normalize_name(debtor_name),
        normalize_reference(invoice_number),
        f"{Decimal(amount).quantize(Decimal('0.01'))}",
        issue_date.isoformat() if issue_date else "",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def debtor_key(*, debtor_tax_id: str, debtor_name: str) -> str:
    """A stable key for a debtor across sellers: its tax id when known, else its normalized
    name (``TAX:DE123...`` / ``NAME:THEODOREST``)."""
    tax = normalize_reference(debtor_tax_id)
    if tax:
        return f"TAX:{tax}"
    name = normalize_name(debtor_name)
    return f"NAME:{name}" if name else ""
