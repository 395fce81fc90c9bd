"""``manage.py evaluate_extraction MANIFEST.tsv [--mode auto|text|ocr|all] [--ocr-all] [--json]``.

Field-level accuracy against the ``*.gt.json`` ground truth, per field and per document group
(manifest ``kind``; pdf-text split into e-invoice / plain). Scoring rules live in
``invoices.extraction.evaluation``. ``--mode all`` runs auto, text and ocr and prints a table per
mode. ``--ocr-all`` also OCRs the text PDFs in ocr mode.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from invoices.extraction.evaluation import (
    aggregate,
    evaluate_entries,
    format_table,
    load_manifest,
)
from invoices.services import extraction_limits


class Command(BaseCommand):
    help = "Measure extraction accuracy against a ground-truth manifest."
    requires_system_checks: list[str] = []  # offline tool: no URL/model checks needed

    def add_arguments(self, parser):
        parser.add_argument("manifest")
        parser.add_argument("--mode", choices=("auto", "text", "ocr", "all"), default="auto")
        parser.add_argument("--ocr-all", action="store_true", help="OCR text PDFs too")
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument("--misses", action="store_true", help="list per-document misses")

    def handle(self, *args, **options):
        entries = load_manifest(options["manifest"])
        limits = extraction_limits()
        modes = ("auto", "text", "ocr") if options["mode"] == "all" else (options["mode"],)
        output: dict = {"modes": {}}
        all_scores = []
        for mode in modes:
            scores = evaluate_entries(entries, mode, limits, ocr_all=options["ocr_all"])
            all_scores.extend(scores)
            report = aggregate(scores)
            report["documents"] = [
                {"document": s.path, "group": s.group, "misses": s.misses, "error": s.error}
                for s in scores
            ]
            output["modes"][mode] = report
            if not options["json"]:
                self.stdout.write(format_table(report, f"\n== mode {mode} =="))
                if options["misses"]:
                    for s in scores:
                        if s.misses or s.error:
                            self.stdout.write(
                                f"  {s.path}: misses={','.join(s.misses)} {s.error or ''}"
                            )
        overall = aggregate(all_scores)
        output["overall"] = overall["overall"]
        if options["json"]:
            self.stdout.write(json.dumps(output, indent=2, default=str))
        elif len(modes) > 1:
            self.stdout.write(
                f"\nall modes: {overall['overall'] * 100:.1f}% of {overall['scored']} fields"
            )
