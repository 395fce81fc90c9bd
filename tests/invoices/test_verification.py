"""Submission checks: one test per check code (pure, no database)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoices.verification import run_checks

TODAY = dt.date(2020, 11, 22)
GOOD = {
    "invoice_number": "RE-20201121/508",
    "issuer_name": "Bei Spiel GmbH",
    "issuer_tax_id": "DE136695976",
    "debtor_name": "Theodor Est",
    "debtor_tax_id": "",
    "currency": "EUR",
    "face_value": Decimal("571.04"),
    "amount_due": Decimal("571.04"),
    "issue_date": dt.date(2020, 11, 21),
    "due_date": dt.date(2020, 12, 12),
}


def checks(values=None, *, seller_tax_id="DE136695976", seller_country="DE", **kwargs):
    params = {
        "values": {**GOOD, **(values or {})},
        "seller_tax_id": seller_tax_id,
        "seller_country": seller_country,
        "supported_currencies": ["EUR", "USD", "GBP", "INR"],
        "today": TODAY,
        "min_tenor_days": 7,
        "max_tenor_days": 180,
        "duplicate_by_hash": False,
        "duplicate_by_fields": False,
    }
    params.update(kwargs)
    return run_checks(**params)


def failed(result):
    return [(c.code, c.field) for c in result if c.blocking and not c.passed]


def by_code(result, code):
    matches = [c for c in result if c.code == code]
    assert len(matches) == 1, result
    return matches[0]


def test_good_invoice_passes_every_blocking_check():
    result = checks()
    assert failed(result) == []
    # Duplicates are checked first, so double financing is reported as such.
    assert [c.code for c in result] == [
        "DUPLICATE_DOCUMENT",
        "DUPLICATE_INVOICE",
        "DUPLICATE_DOCUMENT_IMAGE",
        "DUE_DATE",
        "INVALID_TAX_ID",
        "ISSUER_TAX_ID_MISMATCH",
        "INVALID_DEBTOR_TAX_ID",
    ]
    assert by_code(result, "DUE_DATE").message == "Due in 20 days."


@pytest.mark.parametrize(
    "field",
    ["invoice_number", "issuer_name", "debtor_name", "currency", "face_value", "due_date"],
)
def test_missing_field(field):
    result = checks({field: None if field in ("face_value", "due_date") else ""})
    assert ("MISSING_FIELD", field) in failed(result)


def test_optional_fields_may_be_blank():
    assert failed(checks({"issue_date": None, "amount_due": None, "issuer_tax_id": ""})) == []


def test_unsupported_currency():
    assert failed(checks({"currency": "JPY"})) == [("UNSUPPORTED_CURRENCY", "currency")]


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1.00")])
def test_non_positive_amount(amount):
    assert ("NON_POSITIVE_AMOUNT", "face_value") in failed(
        checks({"face_value": amount, "amount_due": None})
    )


def test_amount_due_above_total():
    assert failed(checks({"amount_due": Decimal("571.05")})) == [
        ("AMOUNT_DUE_ABOVE_TOTAL", "amount_due")
    ]
    assert failed(checks({"amount_due": Decimal("100.00")})) == []


@pytest.mark.parametrize(
    ("due", "code"),
    [
        (TODAY - dt.timedelta(days=1), "DUE_DATE_NOT_IN_FUTURE"),
        (TODAY, "DUE_DATE_NOT_IN_FUTURE"),
        (TODAY + dt.timedelta(days=6), "DUE_DATE_NOT_IN_FUTURE"),
        (TODAY + dt.timedelta(days=181), "TENOR_TOO_LONG"),
    ],
)
def test_due_date_window(due, code):
    assert failed(checks({"due_date": due})) == [(code, "due_date")]


@pytest.mark.parametrize("days", [7, 180])
def test_due_date_window_bounds_are_inclusive(days):
    result = checks({"due_date": TODAY + dt.timedelta(days=days)})
    assert failed(result) == []
    assert by_code(result, "DUE_DATE").passed


def test_issue_after_due():
    result = checks({"issue_date": dt.date(2020, 12, 13), "due_date": dt.date(2020, 12, 12)})
    assert ("ISSUE_AFTER_DUE", "issue_date") in failed(result)


def test_issue_date_in_future():
    result = checks({"issue_date": TODAY + dt.timedelta(days=1)})
    assert failed(result) == [("ISSUE_DATE_IN_FUTURE", "issue_date")]


def test_invalid_issuer_tax_id_blocks():
    result = checks({"issuer_tax_id": "DE123456789"})  # bad check digit
    assert failed(result) == [("INVALID_TAX_ID", "issuer_tax_id")]
    # no issuer match is attempted on an invalid id
    assert "ISSUER_TAX_ID_MISMATCH" not in {c.code for c in result}


def test_issuer_tax_id_without_country_prefix_is_matched_compact():
    result = checks({"issuer_tax_id": "136 695 976"})
    assert failed(result) == []
    assert by_code(result, "ISSUER_TAX_ID_MISMATCH").passed


def test_issuer_tax_id_of_another_company():
    # A valid German VAT number that is not the seller's
    result = checks(seller_tax_id="DE129273398")
    assert failed(result) == [("ISSUER_TAX_ID_MISMATCH", "issuer_tax_id")]
    assert by_code(result, "ISSUER_TAX_ID_MISMATCH").message == (
        "The issuer's tax id on the invoice is not your company's."
    )


def test_no_issuer_tax_id_is_not_blocking():
    result = checks({"issuer_tax_id": ""})
    check = by_code(result, "INVALID_TAX_ID")
    assert (check.passed, check.blocking) == (True, False)


def test_debtor_tax_id_valid():
    check = by_code(checks({"debtor_tax_id": "FR40303265045"}), "INVALID_DEBTOR_TAX_ID")
    assert (check.passed, check.blocking) == (True, True)


def test_debtor_tax_id_with_eu_prefix_and_bad_check_digit_blocks():
    result = checks({"debtor_tax_id": "FR40303265046"})
    assert failed(result) == [("INVALID_DEBTOR_TAX_ID", "debtor_tax_id")]


def test_debtor_tax_id_of_unknown_scheme_is_only_a_warning():
    check = by_code(checks({"debtor_tax_id": "XX-12345"}), "INVALID_DEBTOR_TAX_ID")
    assert (check.passed, check.blocking) == (False, False)
    assert failed(checks({"debtor_tax_id": "XX-12345"})) == []


def test_duplicate_document():
    result = checks(duplicate_by_hash=True)
    assert failed(result) == [("DUPLICATE_DOCUMENT", None)]
    assert by_code(result, "DUPLICATE_DOCUMENT").message == "This document was already submitted."


def test_duplicate_invoice_by_fields():
    assert failed(checks(duplicate_by_fields=True)) == [("DUPLICATE_INVOICE", "invoice_number")]


def test_as_dict():
    assert by_code(checks(), "DUE_DATE").as_dict() == {
        "code": "DUE_DATE",
        "passed": True,
        "blocking": True,
        "message": "Due in 20 days.",
        "field": "due_date",
    }
