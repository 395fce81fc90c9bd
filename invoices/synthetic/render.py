"""Rendering: a laid-out synthetic document to a text PDF (reportlab, DejaVu Sans so that
₹, € and accents print), and a PDF page to a Pillow image (pypdfium2)."""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from .layout import SyntheticDocument

#: Debian's fonts-dejavu-core (scripts/setup-system.sh installs it).
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = {False: ("DejaVuSans", "DejaVuSans.ttf"), True: ("DejaVuSans-Bold", "DejaVuSans-Bold.ttf")}


def register_fonts() -> None:
    """Register DejaVu Sans (regular, bold) with reportlab once; raises FileNotFoundError with
    the package to install when the fonts are missing."""
    for name, filename in FONTS.values():
        if name in pdfmetrics.getRegisteredFontNames():
            continue
        path = FONT_DIR / filename
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: install fonts-dejavu-core")
        pdfmetrics.registerFont(TTFont(name, str(path)))


def render_pdf(doc: SyntheticDocument) -> bytes:
    """The document as a PDF with a text layer, one page per ``doc.pages``. Deterministic:
    reportlab's invariant mode fixes the creation date and document id."""
    register_fonts()
    out = io.BytesIO()
    width, height = doc.page_size
    pdf = canvas.Canvas(out, pagesize=(width, height), invariant=1)
    pdf.setTitle(doc.name)
    for page in range(doc.pages):
        for text in (t for t in doc.texts if t.page == page):
            pdf.setFont(FONTS[text.bold][0], text.size)
            y = height - text.y
            if text.align == "right":
                pdf.drawRightString(text.x, y, text.text)
            elif text.align == "center":
                pdf.drawCentredString(text.x, y, text.text)
            else:
                pdf.drawString(text.x, y, text.text)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def render_page_image(pdf_bytes: bytes, *, page: int = 0, dpi: int = 200) -> Image.Image:
    """Page ``page`` of a PDF as an RGB image at ``dpi`` dots per inch."""
    document = pdfium.PdfDocument(pdf_bytes)
    try:
        bitmap = document[page].render(scale=dpi / 72)
        return bitmap.to_pil().convert("RGB")
    finally:
        document.close()
