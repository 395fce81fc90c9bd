"""Structured e-invoices: UN/CEFACT CII (ZUGFeRD 1/2, Factur-X, XRechnung CII), OASIS UBL
(XRechnung UBL, Peppol BIS 3) and the Italian FatturaPA (``FatturaElettronica`` 1.2).

Parsing is namespace-agnostic (local names) so that ZUGFeRD 1.0 (``CrossIndustryDocument``)
and CII D16B (``CrossIndustryInvoice``) share one reader. Documents with a DOCTYPE/ENTITY
declaration are refused (entity-expansion attacks) before parsing, and the parser itself is
defusedxml's (no DTD, no entities, no external resources).
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET  # noqa: S405 - DTDs are refused before parsing
from collections.abc import Iterator
from datetime import date
from decimal import Decimal, InvalidOperation

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from defusedxml.ElementTree import iterparse as defused_iterparse

from .errors import CorruptDocument
from .schema import FIELD_NAMES, ExtractedField

XML_CONFIDENCE = 0.98
EINVOICE_ATTACHMENT_NAMES = (
    "factur-x.xml",
    "zugferd-invoice.xml",
    "xrechnung.xml",
    "order-x.xml",
)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_xml(data: bytes) -> ET.Element:
    """Parse XML safely; raises CorruptDocument for DTDs or malformed XML."""
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise CorruptDocument("XML documents with a DOCTYPE are not accepted.")
    try:
        # defusedxml refuses DTDs, entities and external references (belt and braces).
        return defused_fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise CorruptDocument("XML documents with a DOCTYPE are not accepted.") from exc
    except ET.ParseError as exc:
        raise CorruptDocument("The XML file is malformed.") from exc


def xml_kind(root: ET.Element) -> str | None:
    """'cii' for CrossIndustryInvoice/Document, 'ubl' for Invoice/CreditNote, 'fatturapa' for
    FatturaElettronica, else None."""
    return _kind_of(_local(root.tag))


def _kind_of(name: str) -> str | None:
    if name in ("CrossIndustryInvoice", "CrossIndustryDocument"):
        return "cii"
    if name in ("Invoice", "CreditNote"):
        return "ubl"
    if name == "FatturaElettronica":
        return "fatturapa"
    return None


def einvoice_xml_kind(data: bytes) -> str | None:
    """The e-invoice syntax of ``data`` read from its root element ("cii", "ubl",
    "fatturapa"), or None when it is not XML or not an e-invoice.

    Only the document is read up to its root element's start tag, wherever that is: comments,
    processing instructions and whitespace before it can be any length. Raises CorruptDocument
    when the XML declares a DOCTYPE (refused everywhere, see :func:`parse_xml`).
    """
    try:
        for _event, element in defused_iterparse(io.BytesIO(data), events=("start",),
                                                 forbid_dtd=True):
            return _kind_of(_local(element.tag))
    except DefusedXmlException as exc:
        raise CorruptDocument("XML documents with a DOCTYPE are not accepted.") from exc
    except (ET.ParseError, ValueError):
        return None
    return None


def looks_like_einvoice_xml(data: bytes) -> bool:
    """True when ``data`` is XML whose root element is a CII, UBL or FatturaPA invoice (a
    DOCTYPE counts as no)."""
    try:
        return einvoice_xml_kind(data) is not None
    except CorruptDocument:
        return False


def _iter(el: ET.Element, name: str) -> Iterator[ET.Element]:
    for child in el.iter():
        if _local(child.tag) == name:
            yield child


def _first(el: ET.Element | None, *path: str) -> ET.Element | None:
    """First descendant following ``path`` of local names (each step searches descendants)."""
    if el is None:
        return None
    if not path:
        return el
    for cand in _iter(el, path[0]):
        found = _first(cand, *path[1:])
        if found is not None:
            return found
    return None


def _child(el: ET.Element | None, name: str) -> ET.Element | None:
    if el is None:
        return None
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el: ET.Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    t = el.text.strip()
    return t or None


def _cii_date(el: ET.Element | None) -> date | None:
    if el is None:
        return None
    ds = _first(el, "DateTimeString")
    raw = _text(ds) or _text(el)
    if not raw:
        return None
    digits = re.sub(r"\D", "", raw)
    try:
        if len(digits) >= 8:
            return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
    return None


def _iso_date(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def _amount(elements: list[ET.Element], currency: str | None) -> Decimal | None:
    chosen = None
    for el in elements:
        cur = el.get("currencyID")
        if chosen is None or (currency and cur == currency):
            chosen = el
    raw = _text(chosen)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if value.is_finite() and value.as_tuple().exponent > -2:
        value = value.quantize(Decimal("0.01"))  # "300" -> "300.00"
    return value if value.is_finite() else None


def _vat_id(party: ET.Element | None) -> str | None:
    """The party's VAT id (SpecifiedTaxRegistration ID with schemeID ``VA``), else its first
    other tax registration (``FC``, the fiscal number: EN 16931 BT-32, e.g. a US EIN)."""
    if party is None:
        return None
    fallback = None
    for reg in _iter(party, "SpecifiedTaxRegistration"):
        idel = _child(reg, "ID")
        if idel is None:
            continue
        if idel.get("schemeID") == "VA":
            return _text(idel)
        fallback = fallback or _text(idel)
    return fallback


def parse_cii(root: ET.Element) -> dict[str, object]:
    doc = _first(root, "ExchangedDocument") or _first(root, "HeaderExchangedDocument")
    seller = _first(root, "SellerTradeParty")
    buyer = _first(root, "BuyerTradeParty")
    currency = _text(_first(root, "InvoiceCurrencyCode"))
    summation = _first(root, "SpecifiedTradeSettlementHeaderMonetarySummation") or _first(
        root, "SpecifiedTradeSettlementMonetarySummation"
    )
    terms = _first(root, "SpecifiedTradePaymentTerms")
    return {
        "invoice_number": _text(_child(doc, "ID")),
        "issuer_name": _text(_child(seller, "Name")),
        "buyer_name": _text(_child(buyer, "Name")),
        "total_amount": _amount(list(_iter(summation, "GrandTotalAmount")), currency)
        if summation is not None
        else None,
        "amount_due": _amount(list(_iter(summation, "DuePayableAmount")), currency)
        if summation is not None
        else None,
        "currency": currency,
        "issue_date": _cii_date(_child(doc, "IssueDateTime")),
        "due_date": _cii_date(_first(terms, "DueDateDateTime")),
        "issuer_tax_id": _vat_id(seller),
        "buyer_tax_id": _vat_id(buyer),
    }


def _ubl_party(root: ET.Element, role: str) -> tuple[str | None, str | None]:
    party = _first(_child(root, role), "Party")
    if party is None:
        return None, None
    name = _text(_first(party, "PartyLegalEntity", "RegistrationName")) or _text(
        _first(party, "PartyName", "Name")
    )
    tax = None
    for scheme in _iter(party, "PartyTaxScheme"):
        tax = _text(_child(scheme, "CompanyID"))
        if tax:
            break
    return name, tax


def parse_ubl(root: ET.Element) -> dict[str, object]:
    currency = _text(_child(root, "DocumentCurrencyCode"))
    total = _child(root, "LegalMonetaryTotal")
    seller_name, seller_tax = _ubl_party(root, "AccountingSupplierParty")
    buyer_name, buyer_tax = _ubl_party(root, "AccountingCustomerParty")
    due = _text(_child(root, "DueDate")) or _text(_first(root, "PaymentMeans", "PaymentDueDate"))
    return {
        "invoice_number": _text(_child(root, "ID")),
        "issuer_name": seller_name,
        "buyer_name": buyer_name,
        "total_amount": _amount(
            [e for e in [_child(total, "TaxInclusiveAmount")] if e is not None], currency
        ),
        "amount_due": _amount(
            [e for e in [_child(total, "PayableAmount")] if e is not None], currency
        ),
        "currency": currency,
        "issue_date": _iso_date(_text(_child(root, "IssueDate"))),
        "due_date": _iso_date(due),
        "issuer_tax_id": seller_tax,
        "buyer_tax_id": buyer_tax,
    }


def _fpa_party(party: ET.Element | None) -> tuple[str | None, str | None]:
    """(name, tax id) of a FatturaPA CedentePrestatore/CessionarioCommittente: the
    Denominazione (or Nome Cognome), and IdPaese+IdCodice of IdFiscaleIVA (else the
    CodiceFiscale)."""
    anagrafica = _first(party, "DatiAnagrafici", "Anagrafica")
    name = _text(_child(anagrafica, "Denominazione"))
    if name is None:
        parts = [_text(_child(anagrafica, n)) for n in ("Nome", "Cognome")]
        name = " ".join(p for p in parts if p) or None
    vat = _first(party, "DatiAnagrafici", "IdFiscaleIVA")
    tax = None
    if vat is not None and _text(_child(vat, "IdCodice")):
        tax = f"{_text(_child(vat, 'IdPaese')) or ''}{_text(_child(vat, 'IdCodice'))}"
    return name, tax or _text(_first(party, "DatiAnagrafici", "CodiceFiscale"))


def _decimal_sum(elements: list[ET.Element]) -> Decimal | None:
    values = [_amount([e], None) for e in elements]
    values = [v for v in values if v is not None]
    return sum(values, Decimal("0.00")) if values else None


def parse_fatturapa(root: ET.Element) -> dict[str, object]:
    """Fields of a FatturaPA 1.2 invoice (Agenzia delle Entrate's ``FatturaElettronica``).

    The first FatturaElettronicaBody is read (a batch holds one invoice per body). The total is
    ImportoTotaleDocumento, else the sum of the VAT summaries (ImponibileImporto + Imposta);
    the amount due is the sum of the DettaglioPagamento amounts; the due date the first
    DataScadenzaPagamento. Source: "Specifiche tecniche del formato FatturaPA" v1.2.
    """
    header = _first(root, "FatturaElettronicaHeader")
    body = _first(root, "FatturaElettronicaBody")
    doc = _first(body, "DatiGeneraliDocumento")
    seller_name, seller_tax = _fpa_party(_first(header, "CedentePrestatore"))
    buyer_name, buyer_tax = _fpa_party(_first(header, "CessionarioCommittente"))
    total = _amount([e for e in [_child(doc, "ImportoTotaleDocumento")] if e is not None], None)
    if total is None:
        summaries = list(_iter(body, "DatiRiepilogo")) if body is not None else []
        total = _decimal_sum(
            [e for s in summaries for e in s if _local(e.tag) in ("ImponibileImporto", "Imposta")]
        )
    payments = list(_iter(body, "DettaglioPagamento")) if body is not None else []
    due = _decimal_sum([e for p in payments for e in p if _local(e.tag) == "ImportoPagamento"])
    due_dates = [_iso_date(_text(_child(p, "DataScadenzaPagamento"))) for p in payments]
    return {
        "invoice_number": _text(_child(doc, "Numero")),
        "issuer_name": seller_name,
        "buyer_name": buyer_name,
        "total_amount": total,
        "amount_due": due,
        "currency": _text(_child(doc, "Divisa")),
        "issue_date": _iso_date(_text(_child(doc, "Data"))),
        "due_date": next((d for d in due_dates if d is not None), None),
        "issuer_tax_id": seller_tax,
        "buyer_tax_id": buyer_tax,
    }


_PARSERS = {"cii": parse_cii, "ubl": parse_ubl, "fatturapa": parse_fatturapa}


def extract_einvoice(data: bytes) -> tuple[dict[str, ExtractedField], str] | None:
    """Read a CII, UBL or FatturaPA XML; returns (fields, method) or None when it is not an
    e-invoice. ``method`` is "einvoice-cii", "einvoice-ubl" or "einvoice-fatturapa".

    Raises CorruptDocument for malformed XML or XML with a DOCTYPE.
    """
    root = parse_xml(data)
    kind = xml_kind(root)
    if kind is None:
        return None
    values = _PARSERS[kind](root)
    source = f"{kind}-xml"
    fields = {
        name: ExtractedField(values.get(name), XML_CONFIDENCE, source)
        if values.get(name) is not None
        else ExtractedField.missing(source)
        for name in FIELD_NAMES
    }
    return fields, f"einvoice-{kind}"
