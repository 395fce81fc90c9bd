"""Scoring of extraction results against ground truth (pure functions + a corpus runner).

Rules (field-level accuracy):
- ground-truth ``null`` fields are not scored;
- names: case-, accent- and punctuation-insensitive, legal-form suffixes (GmbH, AG, Ltd, Inc,
  LLC, SA, SARL, SAS, Pvt Ltd, KG, & Co. KG, B.V., ...) ignored; any of
  ``extra.issuer_name_alternatives`` (or ``buyer_name_alternatives``) is accepted too;
- amounts: equal to the cent; dates: exactly equal (ISO);
- tax ids: compared without spaces/punctuation/case and without a leading "ABN"/"VAT"-style label;
- invoice numbers: compared without whitespace and case, and without a leading "#";
- currency: ISO code, case-insensitive.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .errors import ExtractionError
from .pipeline import extract_document, has_embedded_einvoice
from .schema import FIELD_NAMES, ExtractionLimits, ExtractionResult

LEGAL_SUFFIXES = frozenset(
    [
        "gmbh",
        "ag",
        "kg",
        "ohg",
        "ug",
        "mbh",
        "gbr",
        "ek",
        "ev",
        "co",
        "and",
        "ltd",
        "limited",
        "llc",
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "plc",
        "llp",
        "lp",
        "sa",
        "sarl",
        "sas",
        "sasu",
        "eurl",
        "bv",
        "nv",
        "pvt",
        "private",
        "pty",
        "srl",
        "spa",
        "oy",
        "ab",
        "as",
        "aps",
        "kft",
        "sro",
    ]
)
_TAX_LABEL = re.compile(
    r"^(?:abn|acn|gstin|gst|vat|tva|ust|ustid|ustidnr|btw|tin|uid|nif|cif|mwst)(?:no|nr)?[:\s.#-]*",
    re.I,
)


def normalize_name(name: str) -> str:
    """Lower-case, strip accents and punctuation, drop trailing legal forms.

    "Bei Spiel GmbH" -> "bei spiel"; "Metallbau Leipzig GmbH & Co. KG" -> "metallbau leipzig".
    """
    t = unicodedata.normalize("NFKD", name)
    t = "".join(c for c in t if not unicodedata.combining(c)).lower()
    t = re.sub(r"[.'’]", "", t)
    t = t.replace("&", " and ")
    t = re.sub(r"[^\w]+|_", " ", t)
    tokens = t.split()
    while tokens and tokens[-1] in LEGAL_SUFFIXES:
        tokens.pop()
    return " ".join(tokens)


def names_match(predicted: str | None, expected: str, alternatives: tuple[str, ...] = ()) -> bool:
    if not predicted:
        return False
    got = normalize_name(predicted)
    return bool(got) and any(got == normalize_name(e) for e in (expected, *alternatives))


def _decimal(value) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None


def amounts_match(predicted, expected) -> bool:
    got, want = _decimal(predicted), _decimal(expected)
    return got is not None and got == want


def dates_match(predicted, expected) -> bool:
    if predicted is None:
        return False
    return str(predicted)[:10] == str(expected)[:10]


def normalize_tax_id(value: str) -> str:
    t = re.sub(r"[^0-9A-Za-z]", "", str(value)).upper()
    return _TAX_LABEL.sub("", t) if not re.match(r"^[A-Z]{2}\d", t) else t


def tax_ids_match(predicted, expected) -> bool:
    if not predicted:
        return False
    return normalize_tax_id(predicted) == normalize_tax_id(expected)


def normalize_invoice_number(value: str) -> str:
    return re.sub(r"\s+", "", str(value)).lstrip("#").casefold()


def field_matches(name: str, predicted, expected, extra: dict | None = None) -> bool | None:
    """Compare one field; None when the ground truth is null (not scored)."""
    if expected is None:
        return None
    extra = extra or {}
    if name in ("issuer_name", "buyer_name"):
        alts = tuple(extra.get(f"{name}_alternatives") or ())
        return names_match(predicted, expected, alts)
    if name in ("total_amount", "amount_due"):
        return amounts_match(predicted, expected)
    if name in ("issue_date", "due_date"):
        return dates_match(predicted, expected)
    if name in ("issuer_tax_id", "buyer_tax_id"):
        return tax_ids_match(predicted, expected)
    if name == "invoice_number":
        return predicted is not None and normalize_invoice_number(
            predicted
        ) == normalize_invoice_number(expected)
    if name == "currency":
        return predicted is not None and str(predicted).upper() == str(expected).upper()
    return predicted == expected


def score_document(predicted: dict, ground_truth: dict) -> dict[str, bool | None]:
    """Per-field match for one document. ``predicted``: to_json_dict() output; ``ground_truth``:
    the parsed ``*.gt.json`` (with ``fields`` and optional ``extra``)."""
    extra = ground_truth.get("extra") or {}
    gt = ground_truth["fields"]
    return {
        name: field_matches(name, predicted.get(name), gt.get(name), extra) for name in FIELD_NAMES
    }


# --- corpus ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestEntry:
    path: Path
    kind: str  # pdf-text | pdf-scan | image
    gt_path: Path
    ground_truth: dict = field(hash=False, compare=False)
    #: The issuer template (MANIFEST ``group``): documents of one group are never split
    #: between training and scoring.
    group: str = ""


def load_manifest(manifest: str | Path) -> list[ManifestEntry]:
    """Read MANIFEST.tsv; paths are resolved relative to the manifest's folder."""
    manifest = Path(manifest)
    base = manifest.parent
    out = []
    with manifest.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row.get("has_ground_truth", "yes") != "yes" or not row.get("gt_path"):
                continue
            gt_path = base / row["gt_path"]
            gt = json.loads(gt_path.read_text(encoding="utf-8"))
            group = row.get("group") or Path(row["path"]).stem
            out.append(ManifestEntry(base / row["path"], row["kind"], gt_path, gt, group))
    return out


@dataclass
class Tally:
    correct: int = 0
    scored: int = 0

    def add(self, ok: bool) -> None:
        self.scored += 1
        self.correct += int(ok)

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.scored if self.scored else None


@dataclass
class DocumentScore:
    path: str
    group: str
    matches: dict[str, bool | None]
    predicted: dict
    error: str | None = None

    @property
    def misses(self) -> list[str]:
        return [k for k, v in self.matches.items() if v is False]


def aggregate(scores: list[DocumentScore]) -> dict:
    """Accuracy per group and field.

    Returns ``{"groups": {group: {"overall", "scored", "fields": {field: acc}}}, "overall",
    "scored"}`` with accuracies as floats 0-1 (None when nothing was scored).
    """
    per_group: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    total = Tally()
    for s in scores:
        for name, ok in s.matches.items():
            if ok is None:
                continue
            per_group[s.group][name].add(ok)
            per_group[s.group]["__all__"].add(ok)
            total.add(ok)
    groups = {}
    for group, tallies in sorted(per_group.items()):
        groups[group] = {
            "overall": tallies["__all__"].accuracy,
            "scored": tallies["__all__"].scored,
            "fields": {n: tallies[n].accuracy for n in FIELD_NAMES if tallies[n].scored},
        }
    return {"groups": groups, "overall": total.accuracy, "scored": total.scored}


def document_group(entry: ManifestEntry, data: bytes) -> str:
    """Manifest kind, with pdf-text split into ``pdf-text/e-invoice`` and ``pdf-text/plain``."""
    if entry.kind != "pdf-text":
        return entry.kind
    return "pdf-text/e-invoice" if has_embedded_einvoice(data) else "pdf-text/plain"


#: The three kinds targets are set for, from a document group.
KIND_OF_GROUP = {
    "pdf-text/e-invoice": "e-invoice",
    "xml": "e-invoice",
    "pdf-text/plain": "text layer",
    "pdf-scan": "images and scans",
    "image": "images and scans",
}


def kind_of(group: str) -> str:
    """ "e-invoice", "text layer" or "images and scans" for a document group."""
    return KIND_OF_GROUP.get(group, group)


def by_kind(scores: list[DocumentScore]) -> list[DocumentScore]:
    """The same scores with their group replaced by the kind (for per-kind tables)."""
    return [
        DocumentScore(s.path, kind_of(s.group), s.matches, s.predicted, s.error) for s in scores
    ]


def evaluate_entries(
    entries: list[ManifestEntry],
    mode: str,
    limits=None,
    *,
    ocr_all: bool = False,
    extract: Callable[..., ExtractionResult] | None = None,
) -> list[DocumentScore]:
    """Extract and score each entry. Mode "text" evaluates only text PDFs, mode "ocr" only
    scans/images (all documents with ``ocr_all``); errors count as misses of every GT field.
    ``extract(data, mode=, limits=)`` defaults to :func:`extract_document` (the rules and the
    committed ranker)."""
    limits = limits or ExtractionLimits()
    extract = extract or extract_document
    scores: list[DocumentScore] = []
    for entry in entries:
        if mode == "text" and entry.kind != "pdf-text":
            continue
        if mode == "ocr" and entry.kind == "pdf-text" and not ocr_all:
            continue
        data = entry.path.read_bytes()
        group = document_group(entry, data)
        try:
            predicted = extract(data, mode=mode, limits=limits).to_json_dict()
            error = None
        except ExtractionError as exc:
            predicted, error = {}, exc.code
        scores.append(
            DocumentScore(
                str(entry.path),
                group,
                score_document(predicted, entry.ground_truth),
                predicted,
                error,
            )
        )
    return scores


def format_table(report: dict, title: str) -> str:
    """Plain-text table: rows = fields, columns = groups (+ overall)."""
    groups = list(report["groups"])
    head = f"{'field':15}" + "".join(f"{g:>20}" for g in groups)
    lines = [title, head, "-" * len(head)]

    def cell(acc):
        return f"{'-':>20}" if acc is None else f"{acc * 100:19.1f}%"

    for name in FIELD_NAMES:
        lines.append(
            f"{name:15}" + "".join(cell(report["groups"][g]["fields"].get(name)) for g in groups)
        )
    lines.append(f"{'ALL':15}" + "".join(cell(report["groups"][g]["overall"]) for g in groups))
    lines.append(
        f"{'n scored':15}" + "".join(f"{report['groups'][g]['scored']:>20}" for g in groups)
    )
    overall = report["overall"]
    lines.append(
        f"overall: {overall * 100:.1f}% of {report['scored']} fields"
        if overall is not None
        else "overall: -"
    )
    return "\n".join(lines)


#: ``fit(training_entries) -> extract``: builds the extraction used on a held-out group from
#: the other groups' documents (e.g. trains the ranker on them). None: the rules alone.
FoldFitter = Callable[[list[ManifestEntry]], Callable[..., ExtractionResult] | None]


def evaluate_leave_one_group_out(
    entries: list[ManifestEntry],
    mode: str,
    limits=None,
    *,
    fit: FoldFitter | None = None,
    ocr_all: bool = False,
) -> list[DocumentScore]:
    """Leave-one-group-out: for each MANIFEST ``group`` (issuer template), ``fit`` on every
    other group's entries, then score that group's entries with what it returned. No document
    is scored by a model that saw its issuer. Without ``fit`` (or when it returns None) the
    extraction is the plain one, which nothing was fitted to: the score equals the plain
    score. Returns one DocumentScore per scored entry, in manifest order."""
    scored: dict[str, DocumentScore] = {}
    for group in sorted({e.group for e in entries}):
        held_out = [e for e in entries if e.group == group]
        extract = fit([e for e in entries if e.group != group]) if fit is not None else None
        for score in evaluate_entries(held_out, mode, limits, ocr_all=ocr_all, extract=extract):
            scored[score.path] = score
    return [scored[str(e.path)] for e in entries if str(e.path) in scored]


def format_side_by_side(reports: dict[str, dict], title: str) -> str:
    """Plain-text table: rows = fields, columns = (report, kind) accuracies, e.g. the plain
    score beside the leave-one-group-out score for each kind. ``reports``: name -> the
    :func:`aggregate` of :func:`by_kind` scores."""
    kinds = sorted({k for r in reports.values() for k in r["groups"]})
    columns = [(name, kind) for kind in kinds for name in reports]
    head = f"{'field':15}" + "".join(
        f"{(kind[:12] + ' ' + name)[:22]:>24}" for name, kind in columns
    )
    lines = [title, head, "-" * len(head)]

    def cell(acc):
        return f"{'-':>24}" if acc is None else f"{acc * 100:23.1f}%"

    def acc(name, kind, fname=None):
        group = reports[name]["groups"].get(kind)
        if group is None:
            return None
        return group["overall"] if fname is None else group["fields"].get(fname)

    for fname in FIELD_NAMES:
        lines.append(f"{fname:15}" + "".join(cell(acc(n, k, fname)) for n, k in columns))
    lines.append(f"{'ALL':15}" + "".join(cell(acc(n, k)) for n, k in columns))
    for name, report in reports.items():
        overall = report["overall"]
        lines.append(
            f"{name}: "
            + (f"{overall * 100:.1f}% of {report['scored']} fields" if overall is not None else "-")
        )
    return "\n".join(lines)


def expected_calibration_error(
    scores: list[DocumentScore], *, bins: int = 10, fields: tuple[str, ...] = FIELD_NAMES
) -> dict:
    """Expected calibration error of the per-field confidences: scored fields (ground truth
    not null) are put in ``bins`` equal-width confidence bins; ECE = sum over bins of
    (share of fields) x |accuracy - mean confidence| (Guo et al., 2017, "On Calibration of
    Modern Neural Networks"). Returns ``{"ece", "n", "by_kind": {kind: {"ece", "n"}}}``
    (kinds as :func:`kind_of`); ``ece`` is None when nothing was scored."""

    def ece(pairs: list[tuple[float, bool]]) -> float | None:
        if not pairs:
            return None
        total = 0.0
        for b in range(bins):
            lo, hi = b / bins, (b + 1) / bins
            inside = [(c, ok) for c, ok in pairs if lo <= c < hi or (b == bins - 1 and c == hi)]
            if inside:
                accuracy = sum(ok for _, ok in inside) / len(inside)
                confidence = sum(c for c, _ in inside) / len(inside)
                total += len(inside) / len(pairs) * abs(accuracy - confidence)
        return total

    everything: list[tuple[float, bool]] = []
    per_kind: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for s in scores:
        confidence = (s.predicted or {}).get("confidence") or {}
        for name, ok in s.matches.items():
            if ok is None or name not in fields:
                continue
            pair = (float(confidence.get(name) or 0.0), bool(ok))
            everything.append(pair)
            per_kind[kind_of(s.group)].append(pair)
    return {
        "ece": ece(everything),
        "n": len(everything),
        "by_kind": {k: {"ece": ece(v), "n": len(v)} for k, v in sorted(per_kind.items())},
    }


def format_ece(name: str, report: dict) -> str:
    """One line: overall ECE and per kind."""

    def fmt(value):
        return "-" if value is None else f"{value:.3f}"

    kinds = ", ".join(f"{k} {fmt(v['ece'])} (n={v['n']})" for k, v in report["by_kind"].items())
    return f"ECE {name}: {fmt(report['ece'])} over {report['n']} fields; {kinds}"
