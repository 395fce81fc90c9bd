"""Verification checks run when a seller submits an invoice.

Each check is a :class:`Check` with a stable ``code``; blocking checks that fail stop the
submission with that code, warnings are stored and shown to ops and investors.

The stored messages are written for the seller who submitted ("matches your KYB", "is not your
company's"); investors read :func:`checks_for_investors` instead: the outcome of each check in
neutral words chosen by its code, never the seller's text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from compliance.public import EU_COUNTRIES, InvalidTaxId, detect_tax_id, validate_tax_id

from .error_codes import InvoicesError

REQUIRED_FIELDS = ("invoice_number", "issuer_name", "debtor_name", "currency", "face_value",
                   "due_date")


@dataclass(frozen=True, slots=True)
class Check:
    code: str
    passed: bool
    blocking: bool
    message: str
    field: str | None = None

    def as_dict(self) -> dict:
        return {"code": self.code, "passed": self.passed, "blocking": self.blocking,
                "message": self.message, "field": self.field}


def _tax_id_check(value: str, country: str | None, field: str, code: str) -> Check:
    if not value:
        return Check(code, True, False, "No tax id on the invoice.", field)
    prefix = value.strip()[:2].upper()
    if country is None and prefix in EU_COUNTRIES | {"EL", "GB"}:
        country = "GR" if prefix == "EL" else prefix
    try:
        if country:
            validate_tax_id(value, country)
        elif detect_tax_id(value) is None:
            raise InvalidTaxId("unknown scheme")
    except InvalidTaxId:
        if country is None:
            # Without a country we cannot be sure of the scheme: a warning, not a block.
            return Check(code, False, False, f"Tax id {value} could not be validated.", field)
        return Check(code, False, True,
                     f"Tax id {value} is not valid (format or check digit).", field)
    return Check(code, True, True, f"Tax id {value} is valid.", field)


def run_checks(
    *,
    values: dict,
    seller_tax_id: str,
    seller_country: str,
    supported_currencies: list[str],
    today: dt.date,
    min_tenor_days: int,
    max_tenor_days: int,
    duplicate_by_hash: bool,
    duplicate_by_fields: bool,
    duplicate_by_image: bool = False,
) -> list[Check]:
    """All submission checks for the invoice ``values`` (field name -> value).

    Pure: duplicate lookups are done by the caller and passed in as booleans. Duplicates come
    first: a double-financing attempt is reported as such whatever else is wrong.
    """
    checks: list[Check] = []
    checks.append(Check(InvoicesError.DUPLICATE_DOCUMENT, not duplicate_by_hash, True,
                        "This document was already submitted." if duplicate_by_hash
                        else "No earlier submission of this document.", None))
    checks.append(Check(InvoicesError.DUPLICATE_INVOICE, not duplicate_by_fields, True,
                        "An invoice with this number and debtor was already submitted."
                        if duplicate_by_fields else "No earlier invoice with this number.",
                        "invoice_number"))
    checks.append(Check(InvoicesError.DUPLICATE_DOCUMENT_IMAGE, not duplicate_by_image, True,
                        "The first page looks the same as an invoice already submitted "
                        "(same number or amount)." if duplicate_by_image
                        else "No look-alike document.", None))
    missing = [name for name in REQUIRED_FIELDS if values.get(name) in (None, "")]
    for name in missing:
        checks.append(Check(InvoicesError.MISSING_FIELD, False, True, f"{name} is required.", name))

    currency = values.get("currency")
    if currency and currency not in supported_currencies:
        checks.append(Check(InvoicesError.UNSUPPORTED_CURRENCY, False, True,
                            f"{currency} is not a currency PayMint finances.", "currency"))
    face_value = values.get("face_value")
    if face_value is not None and face_value <= 0:
        checks.append(Check(InvoicesError.NON_POSITIVE_AMOUNT, False, True,
                            "The invoice total must be positive.", "face_value"))
    amount_due = values.get("amount_due")
    if face_value is not None and amount_due is not None and amount_due > face_value:
        checks.append(Check(InvoicesError.AMOUNT_DUE_ABOVE_TOTAL, False, True,
                            "The amount due is larger than the invoice total.", "amount_due"))

    due = values.get("due_date")
    if due is not None:
        tenor = (due - today).days
        if tenor < min_tenor_days:
            checks.append(Check(InvoicesError.DUE_DATE_NOT_IN_FUTURE, False, True,
                                f"The due date must be at least {min_tenor_days} days ahead.",
                                "due_date"))
        elif tenor > max_tenor_days:
            checks.append(Check(InvoicesError.TENOR_TOO_LONG, False, True,
                                f"The due date must be within {max_tenor_days} days.",
                                "due_date"))
        else:
            checks.append(Check("DUE_DATE", True, True, f"Due in {tenor} days.", "due_date"))
    issue = values.get("issue_date")
    if issue is not None and due is not None and issue > due:
        checks.append(Check(InvoicesError.ISSUE_AFTER_DUE, False, True,
                            "The issue date is after the due date.", "issue_date"))
    if issue is not None and issue > today:
        checks.append(Check(InvoicesError.ISSUE_DATE_IN_FUTURE, False, True,
                            "The issue date is in the future.", "issue_date"))

    issuer_tax_id = values.get("issuer_tax_id") or ""
    checks.append(_tax_id_check(issuer_tax_id, seller_country, "issuer_tax_id",
                                InvoicesError.INVALID_TAX_ID))
    if issuer_tax_id and checks[-1].passed:
        compact = validate_tax_id(issuer_tax_id, seller_country).compact
        matches = compact == seller_tax_id
        checks.append(Check(
            InvoicesError.ISSUER_TAX_ID_MISMATCH, matches, True,
            "Issuer tax id matches your KYB." if matches
            else "The issuer's tax id on the invoice is not your company's.",
            "issuer_tax_id",
        ))
    debtor_tax_id = values.get("debtor_tax_id") or ""
    checks.append(_tax_id_check(debtor_tax_id, None, "debtor_tax_id",
                                InvoicesError.INVALID_DEBTOR_TAX_ID))

    return checks


#: What investors read for each check code: (passed, not passed). Outcome only, no values and
#: nothing addressed to the seller.
INVESTOR_WORDING: dict[str, tuple[str, str]] = {
    InvoicesError.DUPLICATE_DOCUMENT: (
        "No earlier submission of this document.",
        "The document was submitted before."),
    InvoicesError.DUPLICATE_INVOICE: (
        "No earlier invoice with this number and debtor.",
        "An invoice with this number and debtor was submitted before."),
    InvoicesError.DUPLICATE_DOCUMENT_IMAGE: (
        "No look-alike document.",
        "The document looks like one submitted before."),
    InvoicesError.MISSING_FIELD: (
        "The required fields are present.",
        "A required field is missing."),
    InvoicesError.UNSUPPORTED_CURRENCY: (
        "The currency is supported.",
        "The currency is not supported."),
    InvoicesError.NON_POSITIVE_AMOUNT: (
        "The invoice total is positive.",
        "The invoice total is not positive."),
    InvoicesError.AMOUNT_DUE_ABOVE_TOTAL: (
        "The amount due is within the invoice total.",
        "The amount due is larger than the invoice total."),
    "DUE_DATE": (  # a check that never fails (the failures have their own codes below)
        "The due date is within the financed range.",
        "The due date is outside the financed range."),
    InvoicesError.DUE_DATE_NOT_IN_FUTURE: (
        "The due date is far enough ahead.",
        "The due date is too close."),
    InvoicesError.TENOR_TOO_LONG: (
        "The due date is within the financed range.",
        "The due date is too far ahead."),
    InvoicesError.ISSUE_AFTER_DUE: (
        "The issue date is before the due date.",
        "The issue date is after the due date."),
    InvoicesError.ISSUE_DATE_IN_FUTURE: (
        "The issue date is not in the future.",
        "The issue date is in the future."),
    InvoicesError.INVALID_TAX_ID: (
        "The issuer's tax id is valid.",
        "The issuer's tax id could not be validated."),
    InvoicesError.ISSUER_TAX_ID_MISMATCH: (
        "The issuer's tax id matches the seller's verified company.",
        "The issuer's tax id does not match the seller's verified company."),
    InvoicesError.INVALID_DEBTOR_TAX_ID: (
        "The debtor's tax id is valid.",
        "The debtor's tax id could not be validated."),
}

#: Tax id checks pass without blocking when the invoice prints no tax id (nothing to check).
_ABSENT_TAX_ID = {
    InvoicesError.INVALID_TAX_ID: "No issuer tax id on the invoice.",
    InvoicesError.INVALID_DEBTOR_TAX_ID: "No debtor tax id on the invoice.",
}


def checks_for_investors(checks: list[dict]) -> list[dict]:
    """The stored checks (:meth:`Check.as_dict`) as investors see them: the same code, outcome
    and field, with the message replaced by :data:`INVESTOR_WORDING` (an unknown code reads
    "Check passed." / "Check not passed."). Pure."""
    shown = []
    for check in checks or ():
        code = str(check.get("code") or "")
        passed, blocking = bool(check.get("passed")), bool(check.get("blocking"))
        if passed and not blocking and code in _ABSENT_TAX_ID:
            message = _ABSENT_TAX_ID[code]
        elif code in INVESTOR_WORDING:
            message = INVESTOR_WORDING[code][0 if passed else 1]
        else:
            message = "Check passed." if passed else "Check not passed."
        shown.append({"code": code, "passed": passed, "blocking": blocking,
                      "message": message, "field": check.get("field")})
    return shown
