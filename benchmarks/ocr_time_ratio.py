"""OCR CPU time per page: PayMint's OCR (image clean-up + tesseract) against the plain
``tesseract`` command on the same images, measured in one run (issue #15: within 1.3x).

    .venv/bin/python benchmarks/ocr_time_ratio.py [--synthetic N] [--seed S] [--repeat R]

Pages: the shared set's photos and scans (``../shared/invoices``) plus the photos and scans of
``N`` synthetic documents (default 12, every one degraded; seed 5, a seed no evaluation
uses). A scanned PDF's page is rendered once (as the pipeline renders it, ~300 dpi) and both
sides read that image; a photo is read from its JPEG file. For each page, in turn:

- plain: ``tesseract IMAGE stdout -l eng+deu+fra tsv`` (PayMint's languages and output);
- PayMint: :func:`invoices.extraction.ocr.ocr_images` on the decoded image (grayscale,
  upscaling of small images, background flattening, autocontrast, deskew, tesseract).

Both run with ``OMP_THREAD_LIMIT=1``. Time is CPU (user + system of this process and of the
tesseract children, ``getrusage``), not wall: the machine is shared. The ratio is the sum of
PayMint's CPU over the sum of plain tesseract's; each page is read ``R`` times (default 1)
alternating the two. Prints a table per kind and the share of PayMint's time spent before
tesseract.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from invoices.extraction.evaluation import load_manifest  # noqa: E402
from invoices.extraction.ocr import (  # noqa: E402
    OCR_LANGUAGES,
    ocr_words,
    open_image,
    preprocess,
    render_pdf_pages,
)
from invoices.extraction.schema import Deadline, ExtractionLimits  # noqa: E402
from invoices.synthetic import generate_corpus  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "invoices"


def cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def pages_of(entries, limits: ExtractionLimits, tmp: Path) -> list[tuple[str, str, Path]]:
    """(label, group, image file) per page (group: shared/synthetic and the kind); scans
    rendered to PNG once."""
    out = []
    for entry in entries:
        data = entry.path.read_bytes()
        origin = "shared" if SHARED in entry.path.parents else "synthetic"
        kind = f"{origin} {entry.kind}"
        if data[:5] == b"%PDF-":
            for i, img in enumerate(render_pdf_pages(data, limits, Deadline(300))):
                f = tmp / f"{entry.path.stem}-{i}.png"
                img.save(f)
                out.append((f"{entry.path.name}#{i + 1}", kind, f))
        else:
            out.append((entry.path.name, kind, entry.path))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic", type=int, default=12)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    os.environ["OMP_THREAD_LIMIT"] = "1"
    limits = ExtractionLimits()
    with tempfile.TemporaryDirectory(prefix="ocr-ratio-") as name:
        tmp = Path(name)
        entries = [e for e in load_manifest(SHARED / "MANIFEST.tsv") if e.kind != "pdf-text"]
        if args.synthetic:
            generate_corpus(args.synthetic, seed=args.seed, out_dir=tmp / "syn", image_share=1.0)
            entries += [
                e for e in load_manifest(tmp / "syn" / "MANIFEST.tsv") if e.kind != "pdf-text"
            ]
        pages = pages_of(entries, limits, tmp)
        totals: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            for _label, group, path in pages:
                t = totals.setdefault(group, [0, 0.0, 0.0, 0.0])
                start = cpu()
                subprocess.run(  # noqa: S603
                    ["tesseract", str(path), "stdout", "-l", OCR_LANGUAGES, "tsv"],  # noqa: S607
                    check=True,
                    capture_output=True,
                )
                plain = cpu() - start
                start = cpu()
                img = open_image(path.read_bytes(), limits)
                prepared = preprocess(img, limits)
                before = cpu() - start
                ocr_words(prepared, Deadline(300))
                ours = cpu() - start
                t[0] += 1
                t[1] += plain
                t[2] += ours
                t[3] += before
    print(
        f"{'pages':28} {'n':>4} {'plain s/page':>13} {'PayMint s/page':>15} {'ratio':>6} "
        f"{'clean-up share':>15}"
    )
    all_n = all_plain = all_ours = all_before = 0.0
    for group, (n, plain, ours, before) in sorted(totals.items()):
        print(
            f"{group:28} {int(n):4d} {plain / n:13.2f} {ours / n:15.2f} {ours / plain:6.2f} "
            f"{before / ours:14.0%}"
        )
        all_n, all_plain, all_ours, all_before = (
            all_n + n,
            all_plain + plain,
            all_ours + ours,
            all_before + before,
        )
    print(
        f"{'all':28} {int(all_n):4d} {all_plain / all_n:13.2f} {all_ours / all_n:15.2f} "
        f"{all_ours / all_plain:6.2f} {all_before / all_ours:14.0%}"
    )
    print(
        f"(CPU seconds; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"load {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
