"""``manage.py evaluate_extraction MANIFEST.tsv [--mode auto|text|ocr|all] [--ocr-all]
[--cv group] [--json] [--misses]``.

Field-level accuracy against the ``*.gt.json`` ground truth, per field and per document group
(manifest ``kind``; pdf-text split into e-invoice / plain). Scoring rules live in
``invoices.extraction.evaluation``. ``--mode all`` runs auto, text and ocr and prints a table per
mode. ``--ocr-all`` also OCRs the text PDFs in ocr mode.

``--cv group``: leave-one-group-out by the MANIFEST ``group`` column (the issuer template): for
each group, the ranker (:mod:`invoices.extraction.ranker`) is trained on the synthetic corpus
(``--synthetic``, generated from ``--seed`` when missing) plus the other groups only, then that
group is scored. The plain score uses the committed model (trained on every group).
``--rules-only``: no ranker anywhere. The table puts the plain score and the
cross-validated one side by side, per field and per kind (e-invoice, text layer, images and
scans).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand

from invoices.extraction.evaluation import (
    aggregate,
    by_kind,
    evaluate_entries,
    evaluate_leave_one_group_out,
    expected_calibration_error,
    format_ece,
    format_side_by_side,
    format_table,
    load_manifest,
)
from invoices.extraction.ranker import default_ranker
from invoices.extraction.ranker.training import BaseResults, FoldFitter, cached_training_rows
from invoices.management.commands.train_extractor import (
    DEFAULT_COUNT,
    DEFAULT_SEED,
    DEFAULT_SYNTHETIC,
    synthetic_manifest,
)
from invoices.services import extraction_limits


class Command(BaseCommand):
    help = "Measure extraction accuracy against a ground-truth manifest."
    requires_system_checks: list[str] = []  # offline tool: no URL/model checks needed

    def add_arguments(self, parser):
        parser.add_argument("manifest")
        parser.add_argument("--mode", choices=("auto", "text", "ocr", "all"), default="auto")
        parser.add_argument("--ocr-all", action="store_true", help="OCR text PDFs too")
        parser.add_argument(
            "--cv",
            choices=("group",),
            default=None,
            help="also score leave-one-group-out (MANIFEST group column)",
        )
        parser.add_argument(
            "--synthetic",
            default=DEFAULT_SYNTHETIC,
            help="synthetic corpus the folds' rankers also train on "
            "(generated from --seed when missing)",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
        parser.add_argument(
            "--rules-only",
            action="store_true",
            help="score the rules alone (no ranker, nothing fitted)",
        )
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument("--misses", action="store_true", help="list per-document misses")

    def fold_fitter(self, options, base: BaseResults) -> FoldFitter | None:
        """The per-fold fitter for ``--cv group``: a ranker trained on the synthetic corpus
        plus the other groups. None with ``--rules-only`` (nothing is fitted, so the
        cross-validated score is the plain score and is not computed twice)."""
        if options["rules_only"]:
            return None
        manifest = synthetic_manifest(
            Path(options["synthetic"]), count=options["count"], seed=options["seed"]
        )
        rows = cached_training_rows(manifest, base)
        return FoldFitter(base, rows, seed=options["seed"])

    def handle(self, *args, **options):
        entries = load_manifest(options["manifest"])
        limits = extraction_limits()
        modes = ("auto", "text", "ocr") if options["mode"] == "all" else (options["mode"],)
        output: dict = {"modes": {}}
        all_scores = []
        # Each document is extracted once by the rules; the committed ranker (plain score)
        # and each fold's ranker (--cv) re-score that same result.
        base = BaseResults(limits)
        fitter = self.fold_fitter(options, base) if options["cv"] else None
        plain = FoldFitter(base, {}, seed=options["seed"]).extractor(
            None if options["rules_only"] else default_ranker()
        )
        rules = FoldFitter(base, {}, seed=options["seed"]).extractor(None)
        for mode in modes:
            scores = evaluate_entries(
                entries, mode, limits, ocr_all=options["ocr_all"], extract=plain
            )
            all_scores.extend(scores)
            report = aggregate(scores)
            report["documents"] = [
                {"document": s.path, "group": s.group, "misses": s.misses, "error": s.error}
                for s in scores
            ]
            report["kinds"] = aggregate(by_kind(scores))
            report["ece"] = expected_calibration_error(scores)
            if not options["rules_only"]:
                rules_scores = evaluate_entries(
                    entries, mode, limits, extract=rules, ocr_all=options["ocr_all"]
                )
                report["rules_kinds"] = aggregate(by_kind(rules_scores))
                report["rules_ece"] = expected_calibration_error(rules_scores)
            if options["cv"]:
                cv_scores = (
                    evaluate_leave_one_group_out(
                        entries, mode, limits, fit=fitter, ocr_all=options["ocr_all"]
                    )
                    if fitter is not None
                    else scores
                )
                report["cv_group"] = aggregate(by_kind(cv_scores))
                report["cv_group"]["fitted"] = fitter is not None
                report["cv_group_ece"] = expected_calibration_error(cv_scores)
            output["modes"][mode] = report
            if not options["json"]:
                self.stdout.write(format_table(report, f"\n== mode {mode} =="))
                if "rules_kinds" in report:
                    self.stdout.write(
                        format_side_by_side(
                            {"rules": report["rules_kinds"], "ranker": report["kinds"]},
                            f"\n== mode {mode}: the rules alone vs with the ranker, per kind ==",
                        )
                    )
                    self.stdout.write(format_ece("rules", report["rules_ece"]))
                self.stdout.write(format_ece("plain", report["ece"]))
                if options["cv"]:
                    self.stdout.write(
                        format_side_by_side(
                            {"plain": report["kinds"], "logo": report["cv_group"]},
                            f"\n== mode {mode}: plain vs leave-one-group-out, per kind ==",
                        )
                    )
                    self.stdout.write(format_ece("leave-one-group-out", report["cv_group_ece"]))
                    if fitter is None:
                        self.stdout.write(
                            "(rules only: nothing is fitted, so the "
                            "leave-one-group-out score is the plain score)"
                        )
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
