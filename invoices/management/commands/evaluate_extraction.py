"""``manage.py evaluate_extraction MANIFEST.tsv [--mode auto|text|ocr|all] [--ocr-all]
[--cv group] [--json] [--misses]``.

Field-level accuracy against the ``*.gt.json`` ground truth, per field and per document group
(manifest ``kind``; pdf-text split into e-invoice / plain). Scoring rules live in
``invoices.extraction.evaluation``. ``--mode all`` runs auto, text and ocr and prints a table per
mode. ``--ocr-all`` also OCRs the text PDFs in ocr mode.

``--cv group``: leave-one-group-out by the MANIFEST ``group`` column (the issuer template): for
each group, whatever is learned (the ranker, :mod:`invoices.extraction.ranker`) is fitted on
the other groups only, then that group is scored. The table puts the plain score and the
cross-validated one side by side, per field and per kind (e-invoice, text layer, images and
scans).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from invoices.extraction.evaluation import (
    aggregate,
    by_kind,
    evaluate_entries,
    evaluate_leave_one_group_out,
    format_side_by_side,
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
        parser.add_argument("--cv", choices=("group",), default=None,
                            help="also score leave-one-group-out (MANIFEST group column)")
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument("--misses", action="store_true", help="list per-document misses")

    def fold_fitter(self):
        """The per-fold fitter for ``--cv group``; None while nothing is learned (then the
        cross-validated score is the plain score, and is not computed twice)."""
        return None

    def handle(self, *args, **options):
        entries = load_manifest(options["manifest"])
        limits = extraction_limits()
        modes = ("auto", "text", "ocr") if options["mode"] == "all" else (options["mode"],)
        output: dict = {"modes": {}}
        all_scores = []
        fitter = self.fold_fitter()
        for mode in modes:
            scores = evaluate_entries(entries, mode, limits, ocr_all=options["ocr_all"])
            all_scores.extend(scores)
            report = aggregate(scores)
            report["documents"] = [
                {"document": s.path, "group": s.group, "misses": s.misses, "error": s.error}
                for s in scores
            ]
            report["kinds"] = aggregate(by_kind(scores))
            if options["cv"]:
                cv_scores = (
                    evaluate_leave_one_group_out(entries, mode, limits, fit=fitter,
                                                 ocr_all=options["ocr_all"])
                    if fitter is not None else scores
                )
                report["cv_group"] = aggregate(by_kind(cv_scores))
                report["cv_group"]["fitted"] = fitter is not None
            output["modes"][mode] = report
            if not options["json"]:
                self.stdout.write(format_table(report, f"\n== mode {mode} =="))
                if options["cv"]:
                    self.stdout.write(format_side_by_side(
                        {"plain": report["kinds"], "logo": report["cv_group"]},
                        f"\n== mode {mode}: plain vs leave-one-group-out, per kind ==",
                    ))
                    if fitter is None:
                        self.stdout.write("(rules only: nothing is fitted to the shared set, so "
                                          "the leave-one-group-out score is the plain score)")
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
