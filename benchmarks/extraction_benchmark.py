"""Extraction speed on the shared corpus.

    .venv/bin/python benchmarks/extraction_benchmark.py [CORPUS_DIR]

Prints seconds per page for (a) text-layer PDFs, (b) OCR through the pipeline (render +
preprocess + tesseract + field rules) and (c) the plain ``tesseract`` command on the same
rendered page images, then OCR throughput in pages/minute with 1 and 2 worker processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from invoices.extraction import ExtractionLimits, extract_document  # noqa: E402
from invoices.extraction.evaluation import load_manifest  # noqa: E402
from invoices.extraction.ocr import OCR_LANGUAGES, open_image, render_pdf_pages  # noqa: E402
from invoices.extraction.schema import Deadline  # noqa: E402

CORPUS = Path(
    sys.argv[1] if len(sys.argv) > 1
    else Path(__file__).resolve().parent.parent.parent / "shared" / "invoices"
)


def _ocr_job(path: str) -> int:
    result = extract_document(Path(path).read_bytes(), mode="ocr")
    return min(result.page_count, ExtractionLimits().ocr_max_pages)


def main() -> None:
    entries = load_manifest(CORPUS / "MANIFEST.tsv")
    text_pdfs = [e.path for e in entries if e.kind == "pdf-text"]
    ocr_docs = [e.path for e in entries if e.kind in ("pdf-scan", "image")]
    limits = ExtractionLimits()
    rows: list[tuple[str, int, float]] = []

    # (a) text layer (XML ignored)
    pages = 0
    started = time.perf_counter()
    for path in text_pdfs:
        pages += extract_document(path.read_bytes(), mode="text").page_count
    rows.append(("text layer (mode=text)", pages, time.perf_counter() - started))

    # (b) OCR pipeline
    pages = 0
    started = time.perf_counter()
    for path in ocr_docs:
        result = extract_document(path.read_bytes(), mode="ocr")
        pages += min(result.page_count, limits.ocr_max_pages)
    rows.append(("OCR pipeline (mode=ocr)", pages, time.perf_counter() - started))

    # (c) plain tesseract on the same rendered images
    with tempfile.TemporaryDirectory() as tmp:
        images = []
        for path in ocr_docs:
            data = path.read_bytes()
            if data[:5] == b"%PDF-":
                images += render_pdf_pages(data, limits, Deadline(120))
            else:
                images.append(open_image(data, limits))
        files = []
        for i, img in enumerate(images):
            f = Path(tmp) / f"p{i}.png"
            img.save(f)
            files.append(f)
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        started = time.perf_counter()
        for f in files:
            subprocess.run(
                ["tesseract", str(f), "stdout", "-l", OCR_LANGUAGES],
                check=True,
                capture_output=True,
                env=env,
            )
        rows.append(
            ("plain tesseract CLI (same images)", len(files), time.perf_counter() - started)
        )

    print(f"{'step':38} {'pages':>6} {'seconds':>9} {'s/page':>8}")
    for name, n, secs in rows:
        print(f"{name:38} {n:6d} {secs:9.2f} {secs / max(n, 1):8.2f}")

    # throughput with worker processes (each OCR document 3x to smooth the numbers)
    jobs = [str(p) for p in ocr_docs] * 3
    print(f"\n{'workers':>7} {'pages':>6} {'seconds':>9} {'pages/min':>10}")
    for workers in (1, 2):
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            n = sum(pool.map(_ocr_job, jobs))
        secs = time.perf_counter() - started
        print(f"{workers:7d} {n:6d} {secs:9.2f} {n / secs * 60:10.1f}")


if __name__ == "__main__":
    main()
