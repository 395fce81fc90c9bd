"""Training data for the ranker, and the per-fold fitter of the leave-one-group-out
evaluation.

Each training document is extracted once by the rules alone (its layout kept); its
candidates are labelled by the evaluation's own matching rules against the ``.gt.json``
truth. Rows come from manifests (the synthetic corpus's, the shared set's training folds).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import joblib

from ..errors import ExtractionError
from ..evaluation import ManifestEntry, field_matches, load_manifest
from ..pipeline import extract_document
from ..schema import FIELD_NAMES, ExtractionLimits, ExtractionResult, json_value
from .features import FEATURES_KEY, RANKED_FIELDS, document_candidates
from .model import CONFIDENCE_PREFIX, FieldRanker, TrainingRows, kind_of_method

logger = logging.getLogger(__name__)


class BaseResults:
    """The rules-only extraction of each document, computed once and kept (OCR is slow), keyed
    by content and mode. ``get`` returns None for documents that fail to extract."""

    def __init__(self, limits: ExtractionLimits | None = None) -> None:
        self.limits = limits or ExtractionLimits()
        self._cache: dict[tuple[str, str], ExtractionResult | ExtractionError] = {}

    def get(self, data: bytes, mode: str = "auto") -> ExtractionResult:
        """The rules' result; raises the ExtractionError the document raised (cached too)."""
        key = (hashlib.sha256(data).hexdigest(), mode)
        if key not in self._cache:
            try:
                self._cache[key] = extract_document(
                    data, mode=mode, limits=self.limits, ranker=None
                )
            except ExtractionError as exc:
                self._cache[key] = exc
        cached = self._cache[key]
        if isinstance(cached, ExtractionError):
            raise cached
        return cached


def add_rows(
    rows: dict[str, TrainingRows], result: ExtractionResult, truth: dict, document: str, group: str
) -> None:
    """Label ``result``'s candidates against ``truth`` (a parsed ``.gt.json``) and append
    them; for the fields the ranker does not pick, append (the rules' confidence, right or
    not) under ``confidence:<field>`` for their calibration. Fields the truth leaves null
    are skipped."""
    if result.layout is None:
        return
    kind = kind_of_method(result.method)
    fields, extra = truth["fields"], truth.get("extra") or {}
    for name in FIELD_NAMES:
        if name in RANKED_FIELDS or fields.get(name) is None:
            continue
        got = result.fields[name]
        ok = field_matches(name, json_value(got.value), fields[name], extra)
        rows.setdefault(CONFIDENCE_PREFIX + name, TrainingRows()).add(
            (got.confidence,), bool(ok), document, group, kind
        )
    rules = {name: result.fields[name].value for name in RANKED_FIELDS}
    for name, cands in document_candidates(result.layout, rules).items():
        if fields.get(name) is None:
            continue
        target = rows.setdefault(name, TrainingRows())
        for cand in cands:
            ok = field_matches(name, json_value(cand.value), fields[name], extra)
            target.add(cand.features, bool(ok), document, group, kind)


def training_rows(
    entries: Iterable[ManifestEntry], base: BaseResults, mode: str = "auto"
) -> dict[str, TrainingRows]:
    """Candidate rows of ``entries`` (extracted through ``base``, so once per document).
    Documents that fail to extract, and e-invoices, give no rows."""
    rows: dict[str, TrainingRows] = {}
    for entry in entries:
        try:
            result = base.get(entry.path.read_bytes(), mode)
        except ExtractionError:
            continue
        add_rows(rows, result, entry.ground_truth, str(entry.path), entry.group)
    return rows


def cached_training_rows(
    manifest: Path, base: BaseResults, mode: str = "auto"
) -> dict[str, TrainingRows]:
    """:func:`training_rows` of a corpus's manifest, kept beside it (``.rows-*.joblib``) so
    that training and evaluation extract a synthetic corpus once. The cache is keyed by the
    manifest's content and the feature layout; delete it after changing the features."""
    entries = load_manifest(manifest)
    digest = hashlib.sha256(manifest.read_bytes() + FEATURES_KEY.encode()).hexdigest()[:16]
    cache = manifest.parent / f".rows-{mode}-{digest}.joblib"
    if cache.exists():
        return joblib.load(cache)
    rows = training_rows(entries, base, mode)
    joblib.dump(rows, cache, compress=3)
    return rows


def as_real(rows: dict[str, TrainingRows]) -> dict[str, TrainingRows]:
    """``rows`` marked as coming from real documents (they weigh more in calibration, see
    :data:`~.model.REAL_CALIBRATION_SHARE`)."""
    for data in rows.values():
        data.real = [True] * len(data.labels)
    return rows


def merge_rows(*parts: dict[str, TrainingRows]) -> dict[str, TrainingRows]:
    merged: dict[str, TrainingRows] = {}
    for part in parts:
        for name, data in part.items():
            target = merged.setdefault(name, TrainingRows())
            target.features += data.features
            target.labels += data.labels
            target.documents += data.documents
            target.groups += data.groups
            target.kinds += data.kinds or ["text"] * len(data.labels)
            target.real += getattr(data, "real", None) or [False] * len(data.labels)
    return merged


class FoldFitter:
    """``fit(training_entries) -> extract`` for :func:`evaluate_leave_one_group_out`: a
    ranker trained on the synthetic rows plus the training entries' rows, applied on top of
    the cached rules-only results (each document is extracted once for all folds)."""

    def __init__(
        self,
        base: BaseResults,
        synthetic_rows: dict[str, TrainingRows],
        *,
        seed: int,
        mode: str = "auto",
    ) -> None:
        self.base, self.synthetic_rows, self.seed, self.mode = base, synthetic_rows, seed, mode

    def __call__(self, training: list[ManifestEntry]) -> Callable[..., ExtractionResult]:
        real = as_real(training_rows(training, self.base, self.mode))
        rows = merge_rows(self.synthetic_rows, real)
        ranker = FieldRanker.fit(rows, seed=self.seed)
        return self.extractor(ranker)

    def extractor(self, ranker: FieldRanker | None) -> Callable[..., ExtractionResult]:
        """An ``extract(data, mode=, limits=)`` using the cached rules result + ``ranker``."""

        def extract(data: bytes, *, mode: str, limits=None) -> ExtractionResult:
            result = self.base.get(data, mode)
            return ranker.rerank(result) if ranker is not None else result

        return extract
