"""``manage.py make_synthetic_invoices N --seed S [--out DIR] [--image-share F]
[--einvoice-share F]``: write N labelled synthetic invoices and receipts (text PDFs, some also
as phone photos or scans, invoices and credit notes also as CII/UBL e-invoices) with
their ``.gt.json`` and a MANIFEST.tsv (see :mod:`invoices.synthetic`). The corpus is not
committed: it is rebuilt from the seed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand

from invoices.synthetic import generate_corpus


class Command(BaseCommand):
    help = "Generate a labelled synthetic invoice corpus (reproducible from --seed)."
    requires_system_checks: list[str] = []  # offline tool

    def add_arguments(self, parser):
        parser.add_argument("count", type=int)
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--out", default="var/synthetic-invoices")
        parser.add_argument(
            "--image-share",
            type=float,
            default=0.3,
            help="share of documents also written as a photo or a scan",
        )
        parser.add_argument(
            "--einvoice-share",
            type=float,
            default=0.0,
            help="share of invoices and credit notes also written as a CII or UBL XML "
            "e-invoice (0: none, the corpus as before)",
        )

    def handle(self, *args, **options):
        out = Path(options["out"])
        files = generate_corpus(
            options["count"],
            seed=options["seed"],
            out_dir=out,
            image_share=options["image_share"],
            einvoice_share=options["einvoice_share"],
        )
        kinds = Counter(f.kind for f in files)
        doc_kinds = Counter(f.document.kind for f in files if f.kind == "pdf-text")
        self.stdout.write(
            f"{len(files)} files in {out}: "
            + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            + " | "
            + ", ".join(f"{n} {k}" for k, n in sorted(doc_kinds.items()))
        )
