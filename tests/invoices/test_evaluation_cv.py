"""Leave-one-group-out evaluation (``evaluate_extraction --cv group``): no document is scored
by anything fitted on its own issuer's documents, and the report sets the cross-validated
score beside the plain one, per field and per kind."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from invoices.extraction import ExtractedField, ExtractionResult
from invoices.extraction.evaluation import (
    DocumentScore,
    aggregate,
    evaluate_entries,
    evaluate_leave_one_group_out,
    expected_calibration_error,
    kind_of,
    load_manifest,
)
from invoices.extraction.schema import FIELD_NAMES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "einvoices"
HEADER = (
    "path\tsource_repo\tsource_path\tlicense\tkind\thas_ground_truth\t"
    "fields_in_ground_truth\tgt_path\tgt_origin\tcountry\tcurrency\tgroup\tnote\n"
)


def _manifest(tmp_path: Path, docs: list[tuple[str, str, str, dict]]) -> Path:
    """Write documents (name, kind, group, gt fields) and a MANIFEST.tsv beside them."""
    rows = [HEADER]
    for name, kind, group, fields in docs:
        (tmp_path / name).write_bytes(f"document {name}".encode())
        gt = {"document": name, "fields": fields}
        (tmp_path / f"{name}.gt.json").write_text(json.dumps(gt))
        rows.append(f"{name}\tx\tx\tMIT\t{kind}\tyes\t\t{name}.gt.json\thand\tDE\tEUR\t{group}\t\n")
    manifest = tmp_path / "MANIFEST.tsv"
    manifest.write_text("".join(rows))
    return manifest


def _memorizer(training):
    """A 'model' that has learned each training document's answers by its number: perfect on
    what it saw, blank on anything else (the worst kind of overfitting)."""
    seen = {e.ground_truth["fields"]["invoice_number"]: e.ground_truth["fields"] for e in training}

    def extract(data: bytes, *, mode, limits):
        number = data.decode().split()[-1].split("-")[0]
        known = seen.get(number, {})
        fields = {n: ExtractedField(known.get(n), 0.9, "test") for n in FIELD_NAMES}
        return ExtractionResult(fields, "test", "image/png", 1, ())

    return extract


def test_no_group_is_scored_by_a_fit_that_saw_it(tmp_path):
    manifest = _manifest(
        tmp_path,
        [
            ("A1-a.png", "image", "issuer-a", {"invoice_number": "A1"}),
            ("A1-b.png", "image", "issuer-a", {"invoice_number": "A1"}),  # same issuer, same page
            ("B1-a.png", "image", "issuer-b", {"invoice_number": "B1"}),
            ("C1-a.png", "image", "issuer-c", {"invoice_number": "C1"}),
        ],
    )
    entries = load_manifest(manifest)
    assert [e.group for e in entries] == ["issuer-a", "issuer-a", "issuer-b", "issuer-c"]
    calls: list[set[str]] = []

    def fit(training):
        calls.append({e.group for e in training})
        return _memorizer(training)

    cv = evaluate_leave_one_group_out(entries, "auto", fit=fit)
    assert calls == [{"issuer-b", "issuer-c"}, {"issuer-a", "issuer-c"}, {"issuer-a", "issuer-b"}]
    assert [Path(s.path).name for s in cv] == [e.path.name for e in entries]
    assert aggregate(cv)["overall"] == 0.0  # memorizing helps nobody held out
    # Fitted on everything, the same memorizer looks perfect: what the plain score hides.
    plain = evaluate_entries(entries, "auto", extract=_memorizer(entries))
    assert aggregate(plain)["overall"] == 1.0


def test_without_a_fit_the_cross_validated_score_is_the_plain_one(tmp_path):
    manifest = _manifest(
        tmp_path,
        [
            ("A1-a.png", "image", "issuer-a", {"invoice_number": "A1"}),
            ("B1-a.png", "image", "issuer-b", {"invoice_number": "B1"}),
        ],
    )
    entries = load_manifest(manifest)
    fixed = _memorizer(entries)
    cv = evaluate_leave_one_group_out(entries, "auto", fit=lambda training: fixed)
    plain = evaluate_entries(entries, "auto", extract=fixed)
    assert [s.matches for s in cv] == [s.matches for s in plain]


def test_kinds_group_the_document_groups():
    assert kind_of("pdf-text/e-invoice") == kind_of("xml") == "e-invoice"
    assert kind_of("pdf-text/plain") == "text layer"
    assert kind_of("pdf-scan") == kind_of("image") == "images and scans"


def test_the_command_reports_both_scores_per_kind(tmp_path):
    docs = []
    for name, group in (
        ("xrechnung/01.01a-INVOICE_ubl.xml", "kosit"),
        ("peppol/BIS3_Invoice_positive.xml", "peppol"),
    ):
        target = tmp_path / Path(name).name
        shutil.copy(FIXTURES / name, target)
        docs.append((target.name, group))
    rows = [HEADER]
    for name, group in docs:
        gt = {
            "fields": {
                "invoice_number": "12345" if group == "peppol" else "123456XX",
                "currency": "DKK" if group == "peppol" else "EUR",
            }
        }
        (tmp_path / f"{name}.gt.json").write_text(json.dumps(gt))
        rows.append(f"{name}\tx\tx\tx\txml\tyes\t\t{name}.gt.json\thand\tDE\tEUR\t{group}\t\n")
    (tmp_path / "MANIFEST.tsv").write_text("".join(rows))
    out = io.StringIO()
    call_command(
        "evaluate_extraction",
        str(tmp_path / "MANIFEST.tsv"),
        "--cv",
        "group",
        "--rules-only",
        stdout=out,
    )
    text = out.getvalue()
    assert "plain vs leave-one-group-out, per kind" in text
    assert "e-invoice plain" in text and "e-invoice logo" in text
    assert "logo: 100.0% of 4 fields" in text
    out = io.StringIO()
    call_command(
        "evaluate_extraction",
        str(tmp_path / "MANIFEST.tsv"),
        "--cv",
        "group",
        "--rules-only",
        "--json",
        stdout=out,
    )
    report = json.loads(out.getvalue())["modes"]["auto"]
    assert report["cv_group"]["groups"]["e-invoice"]["overall"] == 1.0
    assert report["kinds"]["groups"]["e-invoice"]["fields"]["currency"] == 1.0


def _scored(confidence: float, ok: bool, group: str = "pdf-text/plain"):
    return DocumentScore(
        "d", group, {"total_amount": ok}, {"confidence": {"total_amount": confidence}}
    )


def test_expected_calibration_error():
    # Confidence 0.9 and 9 of 10 right: perfectly calibrated.
    calibrated = [_scored(0.9, i < 9) for i in range(10)]
    assert expected_calibration_error(calibrated)["ece"] == pytest.approx(0.0)
    # Confidence 0.9 but half wrong: off by 0.4.
    overconfident = [_scored(0.9, i < 5) for i in range(10)]
    assert expected_calibration_error(overconfident)["ece"] == pytest.approx(0.4)
    # Two bins, weighted by their share: 0.2 x |1 - 0.3| + 0.8 x |0.5 - 0.95| = 0.5.
    mixed = [_scored(0.3, True, "image")] * 2 + [_scored(0.95, i < 4) for i in range(8)]
    report = expected_calibration_error(mixed)
    assert report["ece"] == pytest.approx(0.2 * 0.7 + 0.8 * 0.45)
    assert report["by_kind"]["images and scans"]["ece"] == pytest.approx(0.7)
    assert report["n"] == 10
    assert expected_calibration_error([])["ece"] is None
