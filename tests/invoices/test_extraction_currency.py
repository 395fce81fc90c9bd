"""Currencies printed as local marks: Malaysian receipts print RM (ringgit) before amounts."""

from __future__ import annotations

from decimal import Decimal

from invoices.extraction import extract_document
from invoices.extraction.heuristics import currency_of_tax_id
from invoices.extraction.parsing import currency_from_token, find_amounts
from tests.invoices.test_extraction import make_text_pdf


def test_rm_before_an_amount_is_ringgit():
    assert [(m.value, m.currency) for m in find_amounts("TOTAL RM 12.50")] == [
        (Decimal("12.50"), "MYR")
    ]
    assert find_amounts("RM12.50")[0].currency == "MYR"
    assert find_amounts("FORM 12.50")[0].currency is None  # not a mark inside a word
    assert currency_from_token("RM") == "MYR"


def test_a_malaysian_receipt_reads_as_myr():
    lines = [
        "Kedai Runcit Maju Jaya Sdn Bhd",
        "Jalan Ampang, 50450 Kuala Lumpur",
        "SST Reg No: W10-1808-32000001",
        "RESIT",
        "Receipt No: 88213",
        "Date: 03/11/2017",
        "2 x Teh Tarik RM 5.00",
        "TOTAL RM 12.50",
        "CASH RM 20.00",
        "CHANGE RM 7.50",
    ]
    result = extract_document(make_text_pdf(lines), ranker=None)
    assert result.value("currency") == "MYR"


def test_without_a_printed_currency_the_issuers_tax_id_country_decides():
    assert currency_of_tax_id("DE136695976") == "EUR"
    assert currency_of_tax_id("GB 123 4567 89") == "GBP"
    assert currency_of_tax_id("27AAPFU0939F1ZV") == "INR"
    assert currency_of_tax_id("CHE-123.456.789") is None
    lines = [
        "ACME Widgets GmbH",
        "USt-IdNr.: DE136695976",
        "Rechnung",
        "Rechnungsnummer: RE-7",
        "Datum: 12.03.2024",
        "Gesamtbetrag 1.234,56",
    ]
    result = extract_document(make_text_pdf(lines), ranker=None)
    assert result.value("currency") == "EUR"
    assert result.fields["currency"].confidence < 0.6  # a prior, flagged for checking
