"""The synthetic invoice generator (``make_synthetic_invoices``): reproducible from its seed,
labels that match what is printed, valid tax ids, every kind and country it promises."""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from decimal import Decimal

import pdfplumber
import pytest
from django.core.management import call_command
from stdnum.de import vat as de_vat
from stdnum.es import cif as es_cif
from stdnum.fr import tva as fr_tva
from stdnum.gb import vat as gb_vat
from stdnum.in_ import gstin as in_gstin
from stdnum.it import iva as it_iva
from stdnum.nl import btw as nl_btw

from invoices.extraction.einvoice import extract_einvoice
from invoices.extraction.evaluation import aggregate, evaluate_entries, load_manifest
from invoices.synthetic import build_document, generate_corpus
from invoices.synthetic.einvoice import CII_NS, UBL_ROOT_NS
from invoices.synthetic.locales import COUNTRIES, tax_id

VALIDATORS = {
    "DE": de_vat.is_valid,
    "FR": fr_tva.is_valid,
    "IT": lambda v: it_iva.is_valid(v[2:]),
    "ES": lambda v: es_cif.is_valid(v[2:]),
    "NL": nl_btw.is_valid,
    "GB": gb_vat.is_valid,
    "IN": in_gstin.is_valid,
}


@pytest.mark.parametrize("key", sorted(COUNTRIES))
def test_tax_ids_are_valid_for_their_country(key):
    country = COUNTRIES[key]
    rng = random.Random(3)
    for _ in range(20):
        number = tax_id(country, rng)
        if country.code in VALIDATORS:
            assert VALIDATORS[country.code](number), number
        else:
            assert len(number) >= 9


#: Photos and scans rendered at 50 dpi instead of 200: the same code, a sixteenth of the pixels
#: to degrade (at 200 dpi these two tests took about 13 s of CPU each).
TEST_DPI = 50


def test_the_same_seed_writes_the_same_corpus(tmp_path):
    first = generate_corpus(6, seed=11, out_dir=tmp_path / "a", image_share=0.5, dpi=TEST_DPI)
    second = generate_corpus(6, seed=11, out_dir=tmp_path / "b", image_share=0.5, dpi=TEST_DPI)
    assert [f.path for f in first] == [f.path for f in second]
    for f in first:
        assert (tmp_path / "a" / f.path).read_bytes() == (tmp_path / "b" / f.path).read_bytes()
    other = generate_corpus(6, seed=12, out_dir=tmp_path / "c", image_share=0.5, dpi=TEST_DPI)
    assert [f.document.fields for f in other] != [f.document.fields for f in first]


def test_labels_are_what_the_pdf_prints(tmp_path):
    files = generate_corpus(8, seed=5, out_dir=tmp_path, image_share=0.0)
    for f in files:
        with pdfplumber.open(tmp_path / f.path) as pdf:
            text = "\n".join(page.extract_text() or "" for page in pdf.pages)
        truth = json.loads((tmp_path / f"{f.path[:-4]}.gt.json").read_text())
        fields = truth["fields"]
        assert truth["document"] == f.path
        for name in ("invoice_number", "issuer_name", "issuer_tax_id"):
            assert fields[name] in text, (f.path, name)
        total = Decimal(str(fields["total_amount"]))
        assert total > 0  # credit notes too: the truth is the positive total
        digits = f"{total:.2f}".replace(".", "")
        assert digits in "".join(ch for ch in text if ch.isdigit()), f.path


def test_the_manifest_feeds_the_evaluation(tmp_path):
    generate_corpus(10, seed=2, out_dir=tmp_path, image_share=0.6, dpi=TEST_DPI)
    entries = load_manifest(tmp_path / "MANIFEST.tsv")
    assert len(entries) >= 10
    assert {e.kind for e in entries} >= {"pdf-text"}
    assert all(e.group and e.gt_path.exists() and e.path.exists() for e in entries)
    images = [e for e in entries if e.kind != "pdf-text"]
    assert images and all(e.ground_truth["fields"]["invoice_number"] for e in images)


def test_many_documents_cover_every_country_kind_and_trap():
    rng = random.Random(1)
    docs = [build_document(i, rng) for i in range(400)]
    assert {d.country.code for d in docs} == {c.code for c in COUNTRIES.values()}
    assert {"de", "fr", "it", "es", "nl", "gb", "us", "in", "my"} <= {
        d.group.split("-")[1] for d in docs
    }
    kinds = Counter(d.kind for d in docs)
    assert kinds["invoice"] and kinds["credit_note"] and kinds["receipt"]
    assert any(d.pages > 1 for d in docs)  # multi-page invoices
    deposits = [
        d
        for d in docs
        if d.fields["amount_due"] is not None and d.fields["amount_due"] < d.fields["total_amount"]
    ]
    assert deposits  # amount due below the total after a deposit
    for d in docs:
        if d.kind == "receipt":
            assert d.fields["due_date"] is None and d.fields["buyer_name"] is None
    printed = " ".join(t.text for d in docs for t in d.texts)
    for mark in ("₹", "Rs", "RM", "€", "£", "$", "Herrn", "SIMPLIFIED TAX INVOICE", "formerly"):
        assert mark in printed, mark


def test_the_command_writes_the_corpus(tmp_path):
    out = io.StringIO()
    call_command("make_synthetic_invoices", "3", "--seed", "4", "--out", str(tmp_path), stdout=out)
    assert "pdf-text" in out.getvalue()
    assert (tmp_path / "MANIFEST.tsv").exists()
    assert len(list(tmp_path.glob("*.gt.json"))) >= 3


def test_images_record_their_degradation_and_label_only_what_they_show(tmp_path):
    """A photo or scan's truth records the degradation drawn; a multi-page invoice is scanned
    page by page, and its photo (of the first page) does not label the totals printed on the
    last."""
    files = generate_corpus(25, seed=1, out_dir=tmp_path, image_share=1.0, dpi=TEST_DPI)
    multi = {f.kind for f in files if f.document.pages > 1 and f.kind != "pdf-text"}
    assert multi == {"image", "pdf-scan"}  # seed 1 has a multi-page photo and scan
    for f in files:
        truth = json.loads((tmp_path / f"{f.path.rsplit('.', 1)[0]}.gt.json").read_text())
        if f.kind == "pdf-text":
            assert "degradation" not in truth
            assert truth["fields"] == f.document.fields
            continue
        degradation = truth["degradation"]
        assert degradation["degradation"] == ("photo" if f.kind == "image" else "scan")
        assert {"rotation", "noise", "jpeg"} <= set(degradation)
        assert ("blur" in degradation and "shadow" in degradation) or "scale" in degradation
        if f.kind == "pdf-scan":
            with pdfplumber.open(tmp_path / f.path) as pdf:
                assert len(pdf.pages) == f.document.pages
            assert truth["fields"] == f.document.fields
        elif f.document.pages > 1:
            assert f.document.later_page_fields >= {"total_amount"}
            assert truth["fields"]["total_amount"] is None
            assert truth["fields"]["invoice_number"] == f.document.fields["invoice_number"]


def test_the_einvoice_share_adds_xml_and_changes_nothing_else(tmp_path):
    """Share 0 (the default) writes no XML; a share adds CII/UBL files and leaves every
    other file of the corpus byte for byte as it was (their draw has its own generator)."""
    plain = generate_corpus(8, seed=5, out_dir=tmp_path / "a", image_share=0.5, dpi=TEST_DPI)
    both = generate_corpus(
        8, seed=5, out_dir=tmp_path / "b", image_share=0.5, dpi=TEST_DPI, einvoice_share=1.0
    )
    assert not any(f.kind == "xml" for f in plain)
    assert [f for f in both if f.kind != "xml"] == plain
    for f in plain:
        assert (tmp_path / "a" / f.path).read_bytes() == (tmp_path / "b" / f.path).read_bytes()
    xml = [f for f in both if f.kind == "xml"]
    assert {f.document.name for f in xml} == {
        f.document.name for f in plain if f.kind == "pdf-text" and f.document.kind != "receipt"
    }


def test_einvoices_extract_through_the_real_pipeline(tmp_path):
    """Standalone CII and UBL files written from the truth, in the real namespaces (seed 2
    has credit notes, type 381, in both syntaxes and US EINs registered as FC), extract with
    at least 99 % field accuracy (no OCR)."""
    files = generate_corpus(8, seed=2, out_dir=tmp_path, image_share=0.0, einvoice_share=1.0)
    xml = [f for f in files if f.kind == "xml"]
    assert {(f.path.rsplit("-", 1)[1], f.document.kind) for f in xml} >= {
        ("cii.xml", "credit_note"),
        ("ubl.xml", "credit_note"),
        ("cii.xml", "invoice"),
        ("ubl.xml", "invoice"),
    }
    for f in xml:
        data = (tmp_path / f.path).read_bytes()
        _fields, method = extract_einvoice(data)
        credit = f.document.kind == "credit_note"
        if f.path.endswith("-cii.xml"):
            assert method == "einvoice-cii"
            assert data.count(CII_NS["rsm"].encode()) == 1
            assert (b"<ram:TypeCode>381<" in data) == credit
        else:
            assert method == "einvoice-ubl"
            assert UBL_ROOT_NS["CreditNote" if credit else "Invoice"].encode() in data
            assert (b"CreditNoteTypeCode>381<" in data) == credit
    fiscal = [f for f in xml if b'schemeID="FC"' in (tmp_path / f.path).read_bytes()]
    assert fiscal  # the parser reads an FC id when there is no VA one
    entries = [e for e in load_manifest(tmp_path / "MANIFEST.tsv") if e.kind == "xml"]
    assert len(entries) == len(xml)
    report = aggregate(evaluate_entries(entries, "auto"))
    assert report["groups"]["xml"]["scored"] >= 8 * len(xml)
    assert report["overall"] >= 0.99, report
