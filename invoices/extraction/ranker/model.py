"""The learned field ranker: one gradient-boosted classifier per field (scikit-learn's
HistGradientBoostingClassifier) scores each candidate's chance of being the true value; the
best candidate replaces the rules' pick, with a calibrated confidence (isotonic regression
fitted on out-of-fold scores, grouped by issuer template so no template calibrates itself).
The other fields keep the rules' values; their confidences are mapped by an isotonic
regression of the rules' confidence on being right.

Calibration is per kind of reading ("text": a PDF's text layer; "ocr": photos and scans) when
the training rows hold at least ``MIN_KIND_CALIBRATION`` documents of that kind with both
right and wrong picks: the same score means less on an OCR'd page (a garbled digit can make a
well-placed total wrong). Otherwise the field's pooled calibrator answers.

The committed model (``MODEL_PATH``, a joblib file of a few hundred KB) is loaded once per
process (:func:`default_ranker`); without it the rules alone answer. Training:
``manage.py train_extractor`` (reproducible from its seed).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import joblib
from threadpoolctl import threadpool_limits

from ..candidates import credit_magnitude, is_credit_note
from ..schema import AMOUNT_FIELDS, RECEIPT_ABSENT_FIELDS, ExtractedField, ExtractionResult
from .features import RANKED_FIELDS, document_candidates

logger = logging.getLogger(__name__)

MODEL_VERSION = 1
MODEL_PATH = Path(__file__).resolve().parent / f"ranker-v{MODEL_VERSION}.joblib"
CALIBRATION_FOLDS = 3
#: Documents of one kind (with right and wrong picks among them) needed before that kind gets
#: its own calibrator; below it the pooled one is used.
MIN_KIND_CALIBRATION = 40
#: Kinds of reading with their own calibration, from ``ExtractionResult.method``.
KINDS = ("text", "ocr")
#: Share of a calibrator's weight given to real documents (the shared set's training folds)
#: against the synthetic corpus: synthetic invoices are read right far more often than real
#: ones at the same score, and real ones are what the confidence is shown on.
REAL_CALIBRATION_SHARE = 0.5
#: One calibration point: (score, right, kind, real document).
Pair = tuple[float, int, str, bool]
#: Training rows under ``confidence:<field>`` calibrate the rules' confidence of the fields
#: the ranker does not pick (names, currency, tax ids): one feature, the raw confidence.
CONFIDENCE_PREFIX = "confidence:"
#: Field sources the ranker never overrides (a signed GST QR code's values).
AUTHORITATIVE_SOURCES = frozenset({"gst-qr"})


@dataclass
class TrainingRows:
    """Candidate rows of one field: features, 1 when the candidate equals the truth, the
    document each came from and its group (issuer template)."""

    features: list[tuple[float, ...]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    #: The kind of reading of each row's document ("text" or "ocr", see :func:`kind_of_method`).
    kinds: list[str] = field(default_factory=list)
    #: Whether each row comes from a real document (not the synthetic corpus).
    real: list[bool] = field(default_factory=list)

    def add(self, features, label: bool, document: str, group: str, kind: str = "text") -> None:
        self.features.append(features)
        self.labels.append(int(label))
        self.documents.append(document)
        self.groups.append(group)
        self.kinds.append(kind)


def kind_of_method(method: str) -> str:
    """ "ocr" for a result read by OCR, "text" for every other (text layer)."""
    return "ocr" if method == "ocr" else "text"


def _isotonic(pairs: list[Pair]):
    """Isotonic regression of being right on the score; real documents weigh as much, all
    together, as the synthetic ones (``REAL_CALIBRATION_SHARE``)."""
    from sklearn.isotonic import IsotonicRegression  # why: lazy, sklearn ~1 s

    real = sum(1 for p in pairs if p[3])
    synthetic = len(pairs) - real
    heavy = 1.0
    if real and synthetic:
        heavy = REAL_CALIBRATION_SHARE / (1 - REAL_CALIBRATION_SHARE) * synthetic / real
    calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    calibrator.fit(
        [p[0] for p in pairs],
        [p[1] for p in pairs],
        sample_weight=[heavy if p[3] else 1.0 for p in pairs],
    )
    return calibrator


def _calibrators(name: str, pairs: list[Pair]) -> dict:
    """The pooled calibrator of ``name`` and one per kind with enough documents (see
    ``MIN_KIND_CALIBRATION``), from (score, right, kind, real) per document."""
    out = {}
    if len({p[1] for p in pairs}) == 2:
        out[name] = _isotonic(pairs)
    for kind in KINDS:
        mine = [p for p in pairs if p[2] == kind]
        if len(mine) >= MIN_KIND_CALIBRATION and len({p[1] for p in mine}) == 2:
            out[f"{name}@{kind}"] = _isotonic(mine)
    return out


def _classifier(seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier  # why: lazy, sklearn ~1 s

    return HistGradientBoostingClassifier(
        max_iter=120,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=10,
        l2_regularization=1.0,
        random_state=seed,
    )


def _top_per_document(scores, rows: TrainingRows, indices) -> list[Pair]:
    """(best score, whether that best candidate is right, kind, real) per document among
    ``indices``."""
    best: dict[str, Pair] = {}
    for i, score in zip(indices, scores, strict=True):
        doc = rows.documents[i]
        if doc not in best or score > best[doc][0]:
            best[doc] = (float(score), rows.labels[i], _kind(rows, i), _real(rows, i))
    return list(best.values())


def _kind(rows: TrainingRows, i: int) -> str:
    return rows.kinds[i] if i < len(rows.kinds) else "text"  # rows cached before kinds


def _real(rows: TrainingRows, i: int) -> bool:
    real = getattr(rows, "real", None) or ()  # rows cached before the mark: synthetic
    return bool(real[i]) if i < len(real) else False


#: The rules' pick is kept when the model scores it at least this share of its best candidate.
KEEP_RULES_RATIO = 0.4


def _same(value, candidates: list) -> list[int]:
    """Indices of the candidates equal to the rules' ``value`` (amounts by magnitude: the
    rules keep a printed minus sign, candidates do not)."""
    if value is None:
        return []
    key = abs(value) if hasattr(value, "copy_abs") else value
    return [i for i, c in enumerate(candidates) if c == key]


@dataclass
class FieldRanker:
    """Per-field classifiers and isotonic calibrators; see the module docstring."""

    models: dict = field(default_factory=dict)
    calibrators: dict = field(default_factory=dict)
    version: int = MODEL_VERSION
    seed: int = 0

    @classmethod
    def fit(cls, rows: dict[str, TrainingRows], *, seed: int = 0) -> FieldRanker:
        """Train on candidate rows (see :func:`training_rows`). Fields with fewer than two
        classes are left to the rules. Deterministic for a given ``seed`` and rows."""
        with threadpool_limits(limits=1):  # small data: threads only contend on a busy host
            return cls._fit(rows, seed)

    @classmethod
    def _fit(cls, rows: dict[str, TrainingRows], seed: int) -> FieldRanker:
        ranker = cls(seed=seed)
        for key, data in rows.items():
            if not key.startswith(CONFIDENCE_PREFIX) or len(set(data.labels)) < 2:
                continue
            pairs = [
                (f[0], label, _kind(data, i), _real(data, i))
                for i, (f, label) in enumerate(zip(data.features, data.labels, strict=True))
            ]
            ranker.calibrators.update(_calibrators(key.removeprefix(CONFIDENCE_PREFIX), pairs))
        for name, data in rows.items():
            if name.startswith(CONFIDENCE_PREFIX) or len(set(data.labels)) < 2:
                continue
            ranker.models[name] = _classifier(seed).fit(data.features, data.labels)
            groups = sorted(set(data.groups))
            random.Random(seed).shuffle(groups)  # noqa: S311 - reproducible folds, no secret
            folds = [set(groups[k::CALIBRATION_FOLDS]) for k in range(CALIBRATION_FOLDS)]
            pairs: list[Pair] = []
            for held in folds:
                train = [i for i, g in enumerate(data.groups) if g not in held]
                test = [i for i, g in enumerate(data.groups) if g in held]
                if not test or len({data.labels[i] for i in train}) < 2:
                    continue
                model = _classifier(seed).fit(
                    [data.features[i] for i in train], [data.labels[i] for i in train]
                )
                scores = model.predict_proba([data.features[i] for i in test])[:, 1]
                pairs += _top_per_document(scores, data, test)
            ranker.calibrators.update(_calibrators(name, pairs))
        return ranker

    def confidence(self, name: str, score: float, kind: str = "text") -> float:
        """The calibrated probability that a pick scored ``score`` is right, read as ``kind``
        ("text" or "ocr"): that kind's calibrator when there is one, else the field's."""
        calibrator = self.calibrators.get(f"{name}@{kind}") or self.calibrators.get(name)
        return float(calibrator.predict([score])[0]) if calibrator is not None else score

    def rerank(self, result: ExtractionResult) -> ExtractionResult:
        """``result`` with each ranked field set to its best-scored candidate (value and
        calibrated confidence). Results without a layout (e-invoices) are returned as they
        are; a field without candidates keeps the rules' value."""
        doc = result.layout
        if doc is None:
            return result
        rules = {name: result.fields[name].value for name in RANKED_FIELDS}
        candidates = document_candidates(doc, rules)
        credit_note = is_credit_note(doc)
        kind = kind_of_method(result.method)
        fields = dict(result.fields)
        for name, got in result.fields.items():
            if name in self.models or name not in self.calibrators or got.value is None:
                continue
            if got.source in AUTHORITATIVE_SOURCES:
                continue
            confidence = self.confidence(name, got.confidence, kind)
            fields[name] = replace(got, confidence=round(confidence, 3))
        for name, model in self.models.items():
            cands = candidates.get(name) or []
            if not cands or result.fields[name].source in AUTHORITATIVE_SOURCES:
                continue
            if result.document_kind == "receipt" and name in RECEIPT_ABSENT_FIELDS:
                continue
            with threadpool_limits(limits=1):
                scores = model.predict_proba([c.features for c in cands])[:, 1]
            best = max(range(len(cands)), key=lambda i: scores[i])
            value, score = cands[best].value, scores[best]
            ruled = _same(result.fields[name].value, [c.value for c in cands])
            if ruled:
                # The rules' pick stands unless the model clearly prefers another candidate.
                rules_score = max(scores[i] for i in ruled)
                if rules_score >= KEEP_RULES_RATIO * score:
                    value, score = result.fields[name].value, rules_score
            source = result.fields[name].source
            value = credit_magnitude(value, name in AMOUNT_FIELDS and credit_note)
            confidence = round(self.confidence(name, score, kind), 3)
            fields[name] = ExtractedField(value, confidence, source)
        return replace(result, fields=fields)

    def save(self, path: Path = MODEL_PATH) -> int:
        """Write the model (joblib, compressed); returns its size in bytes."""
        joblib.dump(self, path, compress=3)
        return path.stat().st_size


@cache
def default_ranker() -> FieldRanker | None:
    """The committed model, loaded once per process; None (rules only) when the file is
    absent, of another version, or unreadable."""
    if not MODEL_PATH.exists():
        return None
    try:
        ranker = joblib.load(MODEL_PATH)
    except Exception:  # noqa: BLE001 - a broken model file must not stop extraction
        logger.exception("extraction ranker not loaded; using the rules")
        return None
    if not isinstance(ranker, FieldRanker) or ranker.version != MODEL_VERSION:
        logger.warning("extraction ranker %s ignored (version)", MODEL_PATH.name)
        return None
    return ranker
