"""Synthetic labelled invoices and receipts for training and measuring extraction.

    from invoices.synthetic import generate_corpus
    generate_corpus(200, seed=7, out_dir=Path("var/synthetic"))

writes, per document, a text PDF (``syn-00001.pdf``), sometimes a phone photo
(``syn-00001-photo.jpg``) or a scanned, image-only PDF (``syn-00001-scan.pdf``), and, when
asked (``einvoice_share``), a standalone CII or UBL e-invoice (``syn-00001-cii.xml``,
``syn-00001-ubl.xml``, manifest kind ``xml``; :mod:`.einvoice`), a ``.gt.json``
beside each in the shared set's format (a photo's or scan's also records the degradation
drawn under ``degradation``: rotation, blur, shadow, noise, JPEG quality, scale), and a
``MANIFEST.tsv`` (same columns as ``../shared/invoices/MANIFEST.tsv``; ``group`` = template +
country) that ``manage.py evaluate_extraction`` and ``manage.py train_extractor`` read.
Everything follows from the seed. Modules: :mod:`.locales` (country conventions, valid tax
ids), :mod:`.layout` (content and placement), :mod:`.render` (PDF and page images),
:mod:`.degrade` (photo, scan).
The corpus is never committed.
"""

from __future__ import annotations

import io
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from .degrade import office_scan, phone_photo
from .einvoice import SYNTAXES, einvoice_xml
from .layout import SyntheticDocument, build_document
from .render import render_page_image, render_pdf

FIXED_DATE = time.gmtime(1_704_067_200)  # 2024-01-01: scanned PDFs carry no wall-clock time
MANIFEST_COLUMNS = (
    "path",
    "source_repo",
    "source_path",
    "license",
    "kind",
    "has_ground_truth",
    "fields_in_ground_truth",
    "gt_path",
    "gt_origin",
    "country",
    "currency",
    "group",
    "note",
)


@dataclass(frozen=True)
class CorpusFile:
    path: str  # relative to the corpus folder
    kind: str  # pdf-text | image | pdf-scan | xml
    document: SyntheticDocument


def _write(
    out_dir: Path, name: str, data: bytes, doc: SyntheticDocument, degradation: dict | None
) -> dict:
    """Write the file and its ``.gt.json`` (a photo shows the first page only); returns the
    truth written."""
    (out_dir / name).write_bytes(data)
    stem = name.rsplit(".", 1)[0]
    photo = bool(degradation) and degradation.get("degradation") == "photo"
    truth = {**doc.ground_truth(first_page_only=photo), "document": name}
    if degradation:
        truth["degradation"] = {
            k: round(v, 3) if isinstance(v, float) else v for k, v in degradation.items()
        }
    (out_dir / f"{stem}.gt.json").write_text(
        json.dumps(truth, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    return truth


def generate_corpus(
    count: int,
    *,
    seed: int,
    out_dir: Path,
    image_share: float = 0.3,
    dpi: int = 200,
    einvoice_share: float = 0.0,
) -> list[CorpusFile]:
    """Write ``count`` documents (plus their photo/scan variants, about ``image_share`` of
    them, and standalone CII or UBL e-invoices, about ``einvoice_share`` of the invoices and
    credit notes: receipts have none) to ``out_dir`` with a MANIFEST.tsv; returns what was
    written. Same seed, same corpus (byte for byte for the PDFs and XML). The e-invoice draw
    uses its own generator per document, so ``einvoice_share`` adds files and changes
    nothing else (0, the default, writes the corpus as before)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    written: list[CorpusFile] = []
    rows = ["\t".join(MANIFEST_COLUMNS)]
    for index in range(count):
        doc = build_document(index, rng)
        pdf = render_pdf(doc)
        variants = [(f"{doc.name}.pdf", "pdf-text", pdf, None)]
        if rng.random() < image_share:
            page = render_page_image(pdf, dpi=dpi)
            record: dict = {}
            if rng.random() < 0.5:
                buf = io.BytesIO()
                phone_photo(page, rng, record).save(buf, format="JPEG", quality=85)
                variants.append((f"{doc.name}-photo.jpg", "image", buf.getvalue(), record))
            else:
                buf = io.BytesIO()
                scanned = office_scan(page, rng, record)
                # every page is scanned; pages after the first draw from their own generator,
                # so the corpus's main stream (and every other document) is as before
                more = [
                    office_scan(
                        render_page_image(pdf, page=number, dpi=dpi),
                        random.Random(f"{seed}:{index}:{number}"),  # noqa: S311
                    )
                    for number in range(1, doc.pages)
                ]
                scanned.save(
                    buf,
                    format="PDF",
                    resolution=dpi,
                    creationDate=FIXED_DATE,
                    modDate=FIXED_DATE,
                    save_all=bool(more),
                    append_images=more,
                )
                variants.append((f"{doc.name}-scan.pdf", "pdf-scan", buf.getvalue(), record))
        einvoice_rng = random.Random(f"{seed}:{index}:einvoice")  # noqa: S311
        if doc.kind != "receipt" and einvoice_rng.random() < einvoice_share:
            syntax = einvoice_rng.choice(SYNTAXES)
            xml = einvoice_xml(doc, syntax)
            variants.append((f"{doc.name}-{syntax}.xml", "xml", xml, None))
        for name, kind, data, degradation in variants:
            truth = _write(out_dir, name, data, doc, degradation)
            labelled = ",".join(k for k, v in truth["fields"].items() if v is not None)
            gt = f"{name.rsplit('.', 1)[0]}.gt.json"
            rows.append(
                "\t".join(
                    (
                        name,
                        "synthetic",
                        "",
                        "generated",
                        kind,
                        "yes",
                        labelled,
                        gt,
                        "synthetic",
                        doc.country.code,
                        doc.country.currency,
                        doc.group,
                        doc.kind,
                    )
                )
            )
            written.append(CorpusFile(name, kind, doc))
    (out_dir / "MANIFEST.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return written


__all__ = ["CorpusFile", "SyntheticDocument", "build_document", "generate_corpus"]
