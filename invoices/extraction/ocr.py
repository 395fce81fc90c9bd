"""OCR: page rendering, image clean-up (grayscale, contrast, Otsu binarisation, deskew) and
tesseract word boxes.

Tesseract runs with ``OMP_THREAD_LIMIT=1`` (one core per call; parallelism comes from worker
processes) and a timeout taken from the extraction deadline.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytesseract
from PIL import Image, ImageFilter, ImageOps

from .errors import (
    CorruptDocument,
    ExtractionTimeout,
    ImageTooLarge,
    OcrUnavailable,
)
from .layout import Word
from .schema import Deadline, ExtractionLimits

OCR_LANGUAGES = "eng+deu+fra"
OCR_DPI = 300
MIN_OCR_WIDTH = 2000  # upscale small renders/photos to about this width
PageWords = tuple[float, float, list[Word]]


def open_image(data: bytes, limits: ExtractionLimits) -> Image.Image:
    """Decode a PNG/JPEG after checking its pixel count from the header (no full decode first).

    Raises ImageTooLarge above ``limits.max_image_pixels`` and CorruptDocument when undecodable.
    """
    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
    try:
        img = Image.open(io.BytesIO(data))
        width, height = img.size
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge() from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise CorruptDocument("The image cannot be decoded.") from exc
    if width * height > limits.max_image_pixels:
        raise ImageTooLarge()
    if width < 1 or height < 1:
        raise CorruptDocument("The image is empty.")
    try:
        img.load()
        img = ImageOps.exif_transpose(img)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge() from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise CorruptDocument("The image is damaged or truncated.") from exc
    return img


def render_pdf_pages(
    data: bytes, limits: ExtractionLimits, deadline: Deadline
) -> list[Image.Image]:
    """Render the first ``limits.ocr_max_pages`` pages at ~300 dpi as grayscale images.

    The resolution is lowered for very large pages so each render stays under
    ``max_image_pixels``; pages that would need less than 100 dpi raise ImageTooLarge.
    """
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise CorruptDocument() from exc
    images: list[Image.Image] = []
    use_poppler = shutil.which("pdftoppm") is not None
    try:
        for index in range(min(len(pdf), limits.ocr_max_pages)):
            deadline.check()
            page = pdf[index]
            width_pt, height_pt = page.get_size()
            scale = OCR_DPI / 72
            if width_pt * height_pt * scale * scale > limits.max_image_pixels:
                scale = math.sqrt(limits.max_image_pixels / (width_pt * height_pt)) * 0.99
                if scale < 100 / 72:
                    raise ImageTooLarge("A page is too large to be read.")
            img = None
            if use_poppler:
                img = _render_poppler(data, index, scale * 72, limits, deadline)
            if img is None:  # poppler missing or failed: render in-process with pdfium
                img = page.render(scale=scale, grayscale=True).to_pil().convert("L")
            images.append(img)
            page.close()
    except pdfium.PdfiumError as exc:
        raise CorruptDocument() from exc
    finally:
        pdf.close()
    return images


def _render_poppler(
    data: bytes, index: int, dpi: float, limits: ExtractionLimits, deadline: Deadline
) -> Image.Image | None:
    """Render one page with poppler's pdftoppm (its image scaling OCRs better than pdfium's)."""
    remaining = deadline.remaining()
    if remaining <= 1:
        raise ExtractionTimeout()
    with tempfile.TemporaryDirectory(prefix="paymint-ocr-") as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        out = Path(tmp) / "page"
        cmd = [
            "pdftoppm",
            "-gray",  # uncompressed PGM: encoding a 300 dpi page as PNG costs ~10x the render
            "-singlefile",
            "-r",
            str(int(dpi)),
            "-f",
            str(index + 1),
            "-l",
            str(index + 1),
            str(src),
            str(out),
        ]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=remaining)  # noqa: S603
        except subprocess.TimeoutExpired as exc:
            raise ExtractionTimeout() from exc
        except (subprocess.CalledProcessError, OSError):
            return None
        pgm = out.with_suffix(".pgm")
        if not pgm.exists():
            return None
        img = Image.open(pgm)
        if img.width * img.height > limits.max_image_pixels:
            raise ImageTooLarge("A page is too large to be read.")
        img.load()
        return img.convert("L")


def _otsu_threshold(img: Image.Image) -> int:
    hist = img.histogram()[:256]
    total = sum(hist)
    sum_all = sum(i * h for i, h in enumerate(hist))
    sum_b = w_b = 0.0
    best, threshold = -1.0, 128
    for t in range(256):
        w_b += hist[t]
        if w_b == 0:
            continue
        w_f = total - w_b
        if w_f == 0:
            break
        sum_b += t * hist[t]
        m_b = sum_b / w_b
        m_f = (sum_all - sum_b) / w_f
        between = w_b * w_f * (m_b - m_f) ** 2
        if between > best:
            best, threshold = between, t
    return threshold


def _skew_angle(binary: Image.Image) -> float:
    """Small-angle deskew by projection profile: the angle with the sharpest row profile."""
    small = binary.copy()
    small.thumbnail((900, 900))
    best_angle, best_score = 0.0, -1.0
    for step in range(-10, 11):
        angle = step * 0.5
        rotated = small.rotate(angle, fillcolor=255, resample=Image.Resampling.NEAREST)
        rows = rotated.resize((1, rotated.height), Image.Resampling.BOX).tobytes()
        mean = sum(rows) / len(rows)
        score = sum((r - mean) ** 2 for r in rows)
        if score > best_score:
            best_angle, best_score = angle, score
    return best_angle


BACKGROUND_CELL = 8  # the background is estimated on a 1/8 image (text strokes vanish there)
BACKGROUND_WINDOW = 15  # cells (120 px) in the local maximum: wider than text and dark bars
#: Lighting counts as even (nothing to flatten) when the darkest background cell is at least
#: this share of the lightest: a scan, a clean render.
EVEN_LIGHT = 0.85


def _local_max(cells: np.ndarray, size: int) -> np.ndarray:
    """Maximum over a ``size`` x ``size`` window around each cell (edges repeated), as two
    1-D passes (PIL's MaxFilter costs size^2 per pixel: 0.15 s at 15 on a 300 dpi page)."""
    half = size // 2
    padded = np.pad(cells, half, mode="edge")
    view = np.lib.stride_tricks.sliding_window_view
    return view(view(padded, size, axis=0).max(axis=-1), size, axis=1).max(axis=-1)


def flatten_background(gray: Image.Image) -> Image.Image:
    """Divide out uneven lighting (a shadow across a photo, a dark table around the page).

    The background is the image's local maximum over 15 x 15 cells of a 1/8 copy (wider than
    the strokes of body text and bold titles, and than a dark bar with white text in it, so
    those stay dark), smoothed; each pixel becomes its share of that background, so paper is
    white and ink dark in the shade as in the light. A page lit evenly (``EVEN_LIGHT``) is
    returned as it is. Costs about 15 ms of CPU for an even 300 dpi page and 50 ms for a
    shadowed 2000 x 2800 photo.
    """
    if min(gray.size) < 8 * BACKGROUND_CELL:
        return gray
    cells = np.asarray(gray.reduce(BACKGROUND_CELL))
    small = Image.fromarray(_local_max(cells, BACKGROUND_WINDOW))
    light = np.asarray(small.filter(ImageFilter.GaussianBlur(2)), dtype=np.float32)
    if light.min() >= EVEN_LIGHT * light.max():
        return gray
    # the gain 255 / background is computed on the small image and scaled up as floats
    gain = Image.fromarray(255.0 / np.maximum(light, 16.0), mode="F")
    page = np.asarray(gray, dtype=np.float32)
    page *= np.asarray(gain.resize(gray.size, Image.Resampling.BILINEAR))
    np.minimum(page, 255.0, out=page)
    return Image.fromarray(page.astype(np.uint8))


def preprocess(img: Image.Image, limits: ExtractionLimits) -> Image.Image:
    """Grayscale, upscale small images, autocontrast and deskew (angle from an Otsu copy)."""
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    gray = img.convert("L")
    if gray.width < MIN_OCR_WIDTH:
        factor = min(4.0, MIN_OCR_WIDTH / gray.width)
        if gray.width * gray.height * factor * factor <= limits.max_image_pixels:
            gray = gray.resize(
                (int(gray.width * factor), int(gray.height * factor)), Image.Resampling.LANCZOS
            )
    gray = ImageOps.autocontrast(flatten_background(gray), cutoff=1)
    # the skew is measured on an Otsu-binarised copy; tesseract gets the grayscale image
    # (its own binarisation handles inverted header bars better than a global threshold)
    threshold = _otsu_threshold(gray)
    binary = gray.point(lambda p: 255 if p > threshold else 0)
    angle = _skew_angle(binary)
    if abs(angle) >= 0.5:
        gray = gray.rotate(angle, fillcolor=255, expand=True, resample=Image.Resampling.BILINEAR)
    return gray


def ocr_words(img: Image.Image, deadline: Deadline, *, psm: int = 3) -> list[Word]:
    """Run tesseract on a prepared image and return word boxes in pixels.

    Raises ExtractionTimeout when the deadline passes, OcrUnavailable when tesseract is missing.
    """
    remaining = deadline.remaining()
    if remaining <= 1:
        raise ExtractionTimeout()
    os.environ["OMP_THREAD_LIMIT"] = "1"  # inherited by the tesseract subprocess
    try:
        # Hand tesseract an uncompressed TIFF: pytesseract would PNG-encode the image, which
        # costs as much as the OCR itself on a 300 dpi page, and leptonica reads a PGM about
        # 0.1 s slower than a TIFF of the same pixels (the words read are identical).
        with tempfile.NamedTemporaryFile(prefix="paymint-ocr-", suffix=".tif") as page:
            img.convert("L").save(page, format="TIFF")
            page.flush()
            data = pytesseract.image_to_data(
                page.name,
                lang=OCR_LANGUAGES,
                config=f"--psm {psm}",
                output_type=pytesseract.Output.DICT,
                timeout=max(1, int(remaining)),
            )
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrUnavailable() from exc
    except RuntimeError as exc:
        if "timeout" in str(exc).lower():
            raise ExtractionTimeout() from exc
        raise OcrUnavailable(str(exc)[:200]) from exc
    except pytesseract.TesseractError as exc:
        raise OcrUnavailable(str(exc)[:200]) from exc
    words: list[Word] = []
    for i, text in enumerate(data["text"]):
        text = (text or "").strip()
        try:
            conf = float(data["conf"][i])
        except (TypeError, ValueError):
            conf = -1
        if not text or conf < 0:
            continue
        left, top = data["left"][i], data["top"][i]
        width, height = data["width"][i], data["height"][i]
        words.append(Word(text, left, left + width, top, top + height, conf=conf / 100))
    return words


def ocr_images(
    images: list[Image.Image], limits: ExtractionLimits, deadline: Deadline
) -> list[PageWords]:
    """Preprocess and OCR each image; returns per-page ``(width, height, words)``."""
    pages: list[PageWords] = []
    for img in images:
        deadline.check()
        prepared = preprocess(img, limits)
        words = ocr_words(prepared, deadline)
        pages.append((float(prepared.width), float(prepared.height), words))
    return pages
