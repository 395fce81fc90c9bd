"""The learned ranker: candidates with their features, training reproducible from the seed,
re-ranking that fixes what the rules get wrong, calibrated confidences, and the rules as the
fallback when no model is there."""

from __future__ import annotations

import copy
import datetime as dt
import functools
from decimal import Decimal

import pytest

from invoices.extraction import ExtractedField, ExtractionResult, extract_document
from invoices.extraction.layout import Word, build_document
from invoices.extraction.ranker import (
    RANKED_FIELDS,
    FieldRanker,
    TrainingRows,
    default_ranker,
    document_candidates,
    training,
)
from invoices.extraction.ranker import model as ranker_model
from invoices.extraction.ranker.features import feature_count
from invoices.extraction.ranker.model import KEEP_RULES_RATIO
from invoices.extraction.ranker.training import BaseResults, FoldFitter, add_rows
from invoices.extraction.schema import FIELD_NAMES
from tests.invoices.test_extraction import INVOICE_LINES, make_text_pdf


def _page(lines: list[list[tuple[float, str]]]):
    """A one-page layout from rows of (x, text) runs, one row per 20 points."""
    words = []
    for row, runs in enumerate(lines):
        top = 60 + 20 * row
        for x, text in runs:
            for i, token in enumerate(text.split()):
                x0 = x + 40 * i
                words.append(Word(token, x0, x0 + 6 * len(token), top, top + 9))
    return build_document([(595.0, 842.0, words)], "text-layer")


def _invoice(total: str, subtotal: str, tax: str, paid: str | None, number: str):
    rows = [
        [(50, "ACME Trading Ltd"), (420, "INVOICE")],
        [(50, "Invoice No."), (200, number)],
        [(50, "Customer No."), (200, f"C{len(number) * 7919}")],
        [(50, "Tel"), (200, "0207 946 0018")],
        [(50, "Date"), (200, "03/11/2017")],
        [(50, "Subtotal"), (450, subtotal)],
        [(50, "VAT 20%"), (450, tax)],
        [(50, "Total"), (450, total)],
    ]
    if paid:
        rows.append([(50, "Deposit"), (450, paid)])
        due = Decimal(total.replace(",", "")) - Decimal(paid.replace(",", ""))
        rows.append([(50, "Balance Due"), (450, f"{due:,.2f}")])
    return _page(rows)


def _result(doc, **rules) -> ExtractionResult:
    fields = {n: ExtractedField(rules.get(n), 0.5, "text-layer") for n in FIELD_NAMES}
    return ExtractionResult(fields, "text-layer", "application/pdf", 1, (), layout=doc)


def _truth(total, due, number, issued="2017-11-03"):
    return {
        "fields": {
            "total_amount": total,
            "amount_due": due,
            "invoice_number": number,
            "issue_date": issued,
            "due_date": None,
        }
    }


def _training_rows(count: int = 40) -> dict[str, TrainingRows]:
    rows: dict[str, TrainingRows] = {}
    for i in range(count):
        sub = Decimal(100 + 37 * i)
        tax = (sub * Decimal("0.2")).quantize(Decimal("0.01"))
        total = sub + tax
        paid = (total / 4).quantize(Decimal("0.01")) if i % 2 else None
        due = total - paid if paid else total
        doc = _invoice(
            f"{total:,.2f}",
            f"{sub:,.2f}",
            f"{tax:,.2f}",
            f"{paid:,.2f}" if paid else None,
            f"INV-{1000 + i}",
        )
        # The rules (wrongly) took the subtotal: the ranker must learn not to.
        # Every sixth truth is not on the page (a misprint, an OCR slip): the best candidate
        # is then wrong, which is what calibration must learn.
        printed = i % 6 != 0
        truth = _truth(
            float(total if printed else total + 1),
            float(due),
            f"INV-{1000 + i}" if printed else "INV-0",
        )
        add_rows(rows, _result(doc, total_amount=sub), truth, f"doc{i}", f"group{i % 5}")
    return rows


@functools.cache
def _fitted(count: int, seed: int) -> FieldRanker:
    """``FieldRanker.fit(_training_rows(count), seed=seed)``, trained once per process and
    shared by the tests that only read it (a test that changes it takes a deep copy)."""
    return FieldRanker.fit(_training_rows(count), seed=seed)


def test_candidates_cover_every_value_with_fixed_length_features():
    doc = _invoice("1,200.00", "1,000.00", "200.00", "300.00", "INV-77")
    cands = document_candidates(doc, {"total_amount": Decimal("1000.00")})
    totals = {c.value for c in cands["total_amount"]}
    assert {Decimal("1200.00"), Decimal("1000.00"), Decimal("200.00"), Decimal("900.00")} <= totals
    dates = {c.value for c in cands["issue_date"]}
    assert dt.date(2017, 11, 3) in dates  # day-first (GB, £-less default)...
    assert dt.date(2017, 3, 11) in dates  # ...and the other reading of ambiguous digits
    assert "INV-77" in {c.value for c in cands["invoice_number"]}
    for name in RANKED_FIELDS:
        assert {len(c.features) for c in cands[name]} == {feature_count(name)}


def test_the_trained_ranker_prefers_the_total_over_the_subtotal_the_rules_took():
    ranker = _fitted(40, seed=3)
    doc = _invoice("2,400.00", "2,000.00", "400.00", "600.00", "INV-9")
    result = ranker.rerank(_result(doc, total_amount=Decimal("2000.00")))
    assert result.value("total_amount") == Decimal("2400.00")
    assert result.value("amount_due") == Decimal("1800.00")
    assert result.value("invoice_number") == "INV-9"
    assert 0.0 <= result.fields["total_amount"].confidence <= 1.0


def test_training_is_reproducible_from_the_seed():
    rows = _training_rows(20)
    doc = _invoice("2,400.00", "2,000.00", "400.00", None, "INV-9")
    features = [c.features for c in document_candidates(doc, {})["total_amount"]]
    first = FieldRanker.fit(rows, seed=7).models["total_amount"].predict_proba(features)
    again = FieldRanker.fit(rows, seed=7).models["total_amount"].predict_proba(features)
    assert (first == again).all()


def test_confidence_is_calibrated_by_isotonic_regression():
    ranker = _fitted(60, seed=1)
    assert ranker.calibrators  # out-of-fold scores -> probability of being right
    for name, calibrator in ranker.calibrators.items():
        probs = [ranker.confidence(name, s) for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
        assert probs == sorted(probs), name  # monotone
        assert all(0.0 <= p <= 1.0 for p in probs)
        assert calibrator.out_of_bounds == "clip"


def test_without_a_model_file_the_rules_answer(tmp_path, monkeypatch):
    monkeypatch.setattr(ranker_model, "MODEL_PATH", tmp_path / "absent.joblib")
    ranker_model.default_ranker.cache_clear()
    try:
        assert default_ranker() is None
        result = extract_document(make_text_pdf(INVOICE_LINES))
        assert result.value("total_amount") == Decimal("1234.56")
    finally:
        ranker_model.default_ranker.cache_clear()


def test_a_saved_model_is_loaded_once(tmp_path, monkeypatch):
    path = tmp_path / "ranker.joblib"
    _fitted(20, seed=1).save(path)
    monkeypatch.setattr(ranker_model, "MODEL_PATH", path)
    ranker_model.default_ranker.cache_clear()
    try:
        first = default_ranker()
        assert isinstance(first, FieldRanker) and default_ranker() is first
    finally:
        ranker_model.default_ranker.cache_clear()


def test_a_model_of_another_version_is_ignored(tmp_path, monkeypatch):
    path = tmp_path / "ranker.joblib"
    old = copy.deepcopy(_fitted(20, seed=1))
    old.version = 0
    old.save(path)
    monkeypatch.setattr(ranker_model, "MODEL_PATH", path)
    ranker_model.default_ranker.cache_clear()
    try:
        assert default_ranker() is None
    finally:
        ranker_model.default_ranker.cache_clear()


def test_e_invoice_results_are_not_reranked():
    ranker = _fitted(20, seed=1)
    fields = {n: ExtractedField("x", 0.98, "cii-xml") for n in FIELD_NAMES}
    result = ExtractionResult(fields, "einvoice-cii", "application/xml", 1, ())
    assert ranker.rerank(result) is result


def test_the_fold_fitter_extracts_each_document_once(monkeypatch):
    calls = []
    real = training.extract_document

    def counting(*args, **kwargs):
        calls.append(kwargs.get("ranker"))
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "extract_document", counting)
    base = BaseResults()
    pdf = make_text_pdf(INVOICE_LINES)
    ranker = _fitted(20, seed=1)
    for _fold in range(3):
        FoldFitter(base, {}, seed=1).extractor(ranker)(pdf, mode="auto")
    assert calls == [None]  # once, by the rules alone; each fold re-scores that result


def test_the_rules_confidence_of_other_fields_is_calibrated():
    rows = {"confidence:currency": TrainingRows()}
    for i in range(20):
        high = i < 10
        right = (i < 9) if high else (i >= 18)  # 0.9 -> 9 of 10 right; 0.3 -> 2 of 10
        rows["confidence:currency"].add((0.9 if high else 0.3,), right, f"d{i}", f"g{i % 4}")
    ranker = FieldRanker.fit(rows, seed=1)
    doc = _invoice("120.00", "100.00", "20.00", None, "INV-1")
    for raw, expected in ((0.9, 0.9), (0.3, 0.2)):
        fields = {n: ExtractedField(None, 0.0, "text-layer") for n in FIELD_NAMES}
        fields["currency"] = ExtractedField("EUR", raw, "text-layer")
        result = ExtractionResult(fields, "text-layer", "application/pdf", 1, (), layout=doc)
        assert ranker.rerank(result).fields["currency"].confidence == pytest.approx(expected)


def test_calibration_is_per_kind_of_reading_when_a_kind_has_enough_documents():
    """The same raw confidence is right 9 times in 10 on text layers and 5 in 10 on OCR'd
    pages: each kind gets its own calibrator and answer; a kind with too few documents falls
    back to the pooled one."""
    rows = {"confidence:currency": TrainingRows()}
    per_kind = ranker_model.MIN_KIND_CALIBRATION
    for kind, right_in_ten in (("text", 9), ("ocr", 5)):
        for i in range(per_kind):
            rows["confidence:currency"].add(
                (0.9,), i % 10 < right_in_ten, f"{kind}{i}", f"g{i % 4}", kind
            )
    ranker = FieldRanker.fit(rows, seed=1)
    assert {"currency", "currency@text", "currency@ocr"} <= set(ranker.calibrators)
    doc = _invoice("120.00", "100.00", "20.00", None, "INV-1")
    got = {}
    for method in ("text-layer", "ocr"):
        fields = {n: ExtractedField(None, 0.0, method) for n in FIELD_NAMES}
        fields["currency"] = ExtractedField("EUR", 0.9, method)
        result = ExtractionResult(fields, method, "application/pdf", 1, (), layout=doc)
        got[method] = ranker.rerank(result).fields["currency"].confidence
    assert got == {"text-layer": pytest.approx(0.9), "ocr": pytest.approx(0.5)}

    few = {"confidence:currency": TrainingRows()}
    for i in range(per_kind - 1):
        few["confidence:currency"].add((0.9,), i % 10 < 5, f"o{i}", f"g{i % 4}", "ocr")
        few["confidence:currency"].add((0.9,), i % 10 < 9, f"t{i}", f"g{i % 4}", "text")
    pooled = FieldRanker.fit(few, seed=1)
    assert set(pooled.calibrators) == {"currency"}
    assert pooled.confidence("currency", 0.9, "ocr") == pooled.confidence("currency", 0.9)


def test_real_documents_weigh_as_much_as_the_synthetic_corpus_in_calibration():
    """80 synthetic documents always right at 0.9, 9 real ones (8 at 0.9, right half the
    time): the real ones weigh as much as the 80, so 0.9 calibrates to about 0.76 (not 0.95
    as with the synthetic corpus counted alone)."""
    rows = {"confidence:currency": TrainingRows()}
    for i in range(80):
        rows["confidence:currency"].add((0.9,), True, f"s{i}", f"g{i % 4}")
    real = {"confidence:currency": TrainingRows()}
    for i in range(8):
        real["confidence:currency"].add((0.9,), i % 2 == 0, f"r{i}", f"r{i}")
    real["confidence:currency"].add((0.1,), False, "r-low", "r-low")
    merged = training.merge_rows(rows, training.as_real(real))
    weighted = FieldRanker.fit(merged, seed=1).confidence("currency", 0.9)
    assert weighted == pytest.approx((80 + 4 * 80 / 9) / (80 + 8 * 80 / 9))
    plain = training.merge_rows(rows, real)
    plain["confidence:currency"].real = []  # the same rows, none marked real
    assert FieldRanker.fit(plain, seed=1).confidence("currency", 0.9) > 0.9


def test_the_dates_of_a_service_period_are_no_issue_or_due_date_candidates():
    """QualityHosting's lines print "01.05.14-31.05.14" six times under a "Rechnungsdatum
    7. Mai 2014": a ranker trained on other issuers took the period's start for the issue
    date. Period bounds are no candidates; a lone date on its line still is."""
    doc = _page(
        [
            [(50, "QualityHosting AG"), (420, "Rechnung")],
            [(50, "Rechnungsdatum"), (200, "07.05.2014")],
            [(50, "Hosting Paket"), (200, "01.05.14-31.05.14"), (450, "29,18")],
            [(50, "Domain"), (200, "01.05.2014–31.05.2014"), (450, "1,00")],
            [(50, "Lieferdatum"), (200, "02.05.2014")],
        ]
    )
    dates = {c.value for c in document_candidates(doc, {})["issue_date"]}
    assert dates == {dt.date(2014, 5, 7), dt.date(2014, 5, 2)}


def test_the_rules_pick_stands_unless_the_model_clearly_prefers_another():
    ranker = _fitted(40, seed=3)
    doc = _invoice("2,400.00", "2,000.00", "400.00", None, "INV-9")
    # The rules read a credit note's total with its minus sign: same magnitude as the best
    # candidate, so the rules' signed value is kept.
    kept = ranker.rerank(_result(doc, total_amount=Decimal("-2400.00")))
    assert kept.value("total_amount") == Decimal("-2400.00")
    assert 0 < KEEP_RULES_RATIO < 1
