"""Tax identifier validation with python-stdnum.

The check-digit algorithms are python-stdnum's; this module only decides which scheme applies
to a country and normalises the result. Supported: EU VAT numbers (all member states, with or
without the country prefix), India GSTIN (15 chars) and PAN (10 chars), UK VAT, Swiss UID/VAT,
US EIN, Australian ABN, and any other country stdnum has a ``vat`` module for.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from stdnum import get_cc_module
from stdnum.exceptions import ValidationError as StdnumValidationError

from paymint.core.errors import ValidationFailed

from .error_codes import ComplianceError

EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)

#: Explicit schemes per country, tried in order; others fall back to ``stdnum.<cc>.vat``.
_COUNTRY_SCHEMES: dict[str, tuple[str, ...]] = {
    "IN": ("stdnum.in_.gstin", "stdnum.in_.pan"),
    "US": ("stdnum.us.ein",),
    "AU": ("stdnum.au.abn",),
    "GB": ("stdnum.gb.vat",),
    "CH": ("stdnum.ch.vat", "stdnum.ch.uid"),
}


class InvalidTaxId(ValidationFailed):
    code = ComplianceError.INVALID_TAX_ID


@dataclass(frozen=True, slots=True)
class TaxId:
    """A validated tax id: ``compact`` (no spaces/separators, EU VAT with its country prefix)
    and ``scheme`` (the stdnum module name, e.g. ``stdnum.eu.vat``)."""

    compact: str
    scheme: str


def _vat_prefix(country: str) -> str:
    """The VAT number prefix of an EU member state (Greece uses ``EL``)."""
    return "EL" if country.upper() == "GR" else country.upper()


def _schemes_for(country: str) -> list[str]:
    country = country.upper()
    schemes = list(_COUNTRY_SCHEMES.get(country, ()))
    if country in EU_COUNTRIES:
        schemes.append("stdnum.eu.vat")
    if not schemes:
        module = get_cc_module(country.lower(), "vat")
        if module is not None:
            schemes.append(module.__name__)
    return schemes


def validate_tax_id(value: str, country: str) -> TaxId:
    """Validate ``value`` as a tax id of ``country`` (ISO 3166-1 alpha-2).

    EU VAT numbers are accepted with or without their country prefix and returned with it; the
    prefix must be the country's own (a valid French number is not a German tax id).

    Raises:
        InvalidTaxId: when no scheme of the country accepts the value (bad format or checksum).
    """
    raw = (value or "").strip()
    if not raw:
        raise InvalidTaxId("A tax id is required.", fields={"tax_id": ["This field is required."]})
    schemes = _schemes_for(country)
    if not schemes:
        raise InvalidTaxId(
            f"Tax ids of country {country!r} are not supported.",
            fields={"tax_id": [f"No tax id scheme for {country}."]},
        )
    for scheme in schemes:
        module = importlib.import_module(scheme)
        candidates = [raw]
        if scheme == "stdnum.eu.vat" and not raw[:2].isalpha():
            candidates.append(_vat_prefix(country) + raw)
        for candidate in candidates:
            try:
                compact = module.validate(candidate)
            except StdnumValidationError:
                continue
            if scheme == "stdnum.eu.vat" and compact[:2] != _vat_prefix(country):
                continue  # a valid VAT number, but of another member state
            return TaxId(compact=compact, scheme=scheme)
    raise InvalidTaxId(
        f"{raw!r} is not a valid tax id for {country.upper()} (format or check digit).",
        fields={"tax_id": ["Invalid format or check digit."]},
    )


def detect_tax_id(value: str) -> TaxId | None:
    """Best-effort validation of a tax id printed on a document, country unknown.

    Tries an EU VAT number (country prefix), a GSTIN, a PAN, an ABN. Returns ``None`` when no
    scheme accepts the value.
    """
    raw = (value or "").strip()
    for scheme in (
        "stdnum.eu.vat",
        "stdnum.in_.gstin",
        "stdnum.in_.pan",
        "stdnum.gb.vat",
        "stdnum.au.abn",
    ):
        module = importlib.import_module(scheme)
        try:
            return TaxId(compact=module.validate(raw), scheme=scheme)
        except StdnumValidationError:
            continue
    return None
