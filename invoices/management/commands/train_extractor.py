"""``manage.py train_extractor [--synthetic DIR] [--count N] [--seed S] [--manifest M ...]``:
train the extraction ranker (:mod:`invoices.extraction.ranker`) and write the committed model
file.

Training data: the synthetic corpus in ``--synthetic`` (generated there from ``--seed`` when
it has no MANIFEST.tsv: 300 documents, 15 % also as photos or scans) plus every ``--manifest``
(by default the shared set). Reproducible: the same seed, corpus and manifests give the same
model; ``manage.py train_extractor`` with no options rebuilds the committed one (seed 1).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from invoices.extraction.evaluation import load_manifest
from invoices.extraction.ranker import MODEL_PATH, FieldRanker
from invoices.extraction.ranker.training import (
    BaseResults,
    as_real,
    cached_training_rows,
    merge_rows,
    training_rows,
)
from invoices.services import extraction_limits
from invoices.synthetic import generate_corpus

DEFAULT_SYNTHETIC = "var/synthetic-invoices"
DEFAULT_SEED = 1
DEFAULT_COUNT = 300
DEFAULT_IMAGE_SHARE = 0.15  # the committed model's corpus: 300 documents, 37 photos/scans


def synthetic_manifest(folder: Path, *, count: int, seed: int) -> Path:
    """The corpus's MANIFEST.tsv, generating the corpus first when there is none."""
    manifest = folder / "MANIFEST.tsv"
    if not manifest.exists():
        generate_corpus(count, seed=seed, out_dir=folder, image_share=DEFAULT_IMAGE_SHARE)
    return manifest


def shared_manifest() -> Path:
    return Path(settings.BASE_DIR).parent / "shared" / "invoices" / "MANIFEST.tsv"


class Command(BaseCommand):
    help = "Train the extraction ranker on synthetic invoices and the shared set."
    requires_system_checks: list[str] = []  # offline tool

    def add_arguments(self, parser):
        parser.add_argument("--synthetic", default=DEFAULT_SYNTHETIC)
        parser.add_argument(
            "--count",
            type=int,
            default=DEFAULT_COUNT,
            help="documents to generate when the corpus is missing",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument(
            "--manifest",
            action="append",
            default=None,
            help="real labelled documents (default: the shared set)",
        )
        parser.add_argument("--out", default=str(MODEL_PATH))

    def handle(self, *args, **options):
        base = BaseResults(extraction_limits())
        manifest = synthetic_manifest(
            Path(options["synthetic"]), count=options["count"], seed=options["seed"]
        )
        parts = [cached_training_rows(manifest, base)]
        for path in options["manifest"] or [str(shared_manifest())]:
            parts.append(as_real(training_rows(load_manifest(path), base)))
        rows = merge_rows(*parts)
        ranker = FieldRanker.fit(rows, seed=options["seed"])
        size = ranker.save(Path(options["out"]))
        counts = ", ".join(f"{name} {len(data.labels)}" for name, data in sorted(rows.items()))
        self.stdout.write(
            f"ranker v{ranker.version} -> {options['out']} ({size // 1024} KB); "
            f"candidate rows: {counts}; calibrated: "
            f"{', '.join(sorted(ranker.calibrators))}"
        )
