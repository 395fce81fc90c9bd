"""Structured e-invoice variants of a synthetic document: a standalone UN/CEFACT CII D16B file
(the Factur-X / ZUGFeRD 2 / XRechnung CII syntax, Factur-X BASIC WL profile: header only, no
lines) or an OASIS UBL 2.1 Invoice/CreditNote (Peppol BIS 3 header fields), written from the
document's ground truth with the stdlib. Credit notes are type code 381 (UBL: a ``CreditNote``),
invoices 380; amounts are positive (a credit note's sign is its type), in the document currency,
with two decimals.

Tax ids: a VAT number is registered with schemeID ``VA`` (CII) / tax scheme ``VAT`` (UBL); the
US EIN, not a VAT number, with ``FC`` (fiscal number) / ``TAX``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - building XML, nothing is parsed here
from datetime import date
from decimal import Decimal

from .layout import SyntheticDocument

CII_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
UBL_NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
UBL_ROOT_NS = {
    "Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
FACTURX_BASIC_WL = "urn:factur-x.eu:1p0:basicwl"
PEPPOL_BIS3 = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
SYNTAXES = ("cii", "ubl")
NON_VAT_COUNTRIES = frozenset({"US"})


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    """Append ``prefix:name`` (``tag``) to ``parent``; the prefix is resolved in CII_NS/UBL_NS."""
    prefix, name = tag.split(":")
    uri = {**CII_NS, **UBL_NS}[prefix]
    child = ET.SubElement(parent, f"{{{uri}}}{name}", attrib)
    if text is not None:
        child.text = text
    return child


def _money(value: Decimal) -> str:
    return f"{abs(value):.2f}"


def _amounts(doc: SyntheticDocument) -> dict[str, Decimal]:
    """Net, VAT, gross, prepaid and payable amounts (Decimal, 2 places) from the truth."""
    total = Decimal(str(doc.fields["total_amount"])).quantize(Decimal("0.01"))
    due = doc.fields["amount_due"]
    payable = total if due is None else Decimal(str(due)).quantize(Decimal("0.01"))
    tax = doc.tax_amount.quantize(Decimal("0.01"))
    return {
        "net": total - tax,
        "tax": tax,
        "gross": total,
        "prepaid": total - payable,
        "payable": payable,
    }


def _cii_date(parent: ET.Element, tag: str, iso: str) -> None:
    holder = _el(parent, tag)
    _el(holder, "udt:DateTimeString", date.fromisoformat(iso).strftime("%Y%m%d"), format="102")


def _cii_party(parent: ET.Element, tag: str, name: str, tax_id: str | None, country: str) -> None:
    party = _el(parent, tag)
    _el(party, "ram:Name", name)
    address = _el(party, "ram:PostalTradeAddress")
    _el(address, "ram:CountryID", country)
    if tax_id:
        scheme = "FC" if country in NON_VAT_COUNTRIES else "VA"
        registration = _el(party, "ram:SpecifiedTaxRegistration")
        _el(registration, "ram:ID", tax_id, schemeID=scheme)


def cii_xml(doc: SyntheticDocument) -> bytes:
    """The document as a CII D16B ``CrossIndustryInvoice`` (UTF-8 bytes, XML declaration)."""
    f, country, currency = doc.fields, doc.country.code, doc.country.currency
    amounts = _amounts(doc)
    root = ET.Element(f"{{{CII_NS['rsm']}}}CrossIndustryInvoice")
    context = _el(root, "rsm:ExchangedDocumentContext")
    guideline = _el(context, "ram:GuidelineSpecifiedDocumentContextParameter")
    _el(guideline, "ram:ID", FACTURX_BASIC_WL)
    header = _el(root, "rsm:ExchangedDocument")
    _el(header, "ram:ID", f["invoice_number"])
    _el(header, "ram:TypeCode", "381" if doc.kind == "credit_note" else "380")
    _cii_date(header, "ram:IssueDateTime", f["issue_date"])
    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    _cii_party(agreement, "ram:SellerTradeParty", f["issuer_name"], f["issuer_tax_id"], country)
    _cii_party(agreement, "ram:BuyerTradeParty", f["buyer_name"], f["buyer_tax_id"], country)
    _el(transaction, "ram:ApplicableHeaderTradeDelivery")
    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:InvoiceCurrencyCode", currency)
    vat = _el(settlement, "ram:ApplicableTradeTax")
    _el(vat, "ram:CalculatedAmount", _money(amounts["tax"]))
    _el(vat, "ram:TypeCode", "VAT")
    _el(vat, "ram:BasisAmount", _money(amounts["net"]))
    _el(vat, "ram:CategoryCode", "S")
    _el(vat, "ram:RateApplicablePercent", f"{doc.country.vat_rate * 100:.2f}")
    if f["due_date"]:
        terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
        _cii_date(terms, "ram:DueDateDateTime", f["due_date"])
    summation = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(summation, "ram:LineTotalAmount", _money(amounts["net"]))
    _el(summation, "ram:TaxBasisTotalAmount", _money(amounts["net"]))
    _el(summation, "ram:TaxTotalAmount", _money(amounts["tax"]), currencyID=currency)
    _el(summation, "ram:GrandTotalAmount", _money(amounts["gross"]))
    _el(summation, "ram:TotalPrepaidAmount", _money(amounts["prepaid"]))
    _el(summation, "ram:DuePayableAmount", _money(amounts["payable"]))
    return _serialize(root, {"rsm": CII_NS["rsm"], "ram": CII_NS["ram"], "udt": CII_NS["udt"]})


def _ubl_party(parent: ET.Element, tag: str, name: str, tax_id: str | None, country: str) -> None:
    party = _el(_el(parent, tag), "cac:Party")
    address = _el(party, "cac:PostalAddress")
    _el(_el(address, "cac:Country"), "cbc:IdentificationCode", country)
    if tax_id:
        scheme = _el(party, "cac:PartyTaxScheme")
        _el(scheme, "cbc:CompanyID", tax_id)
        tax = "TAX" if country in NON_VAT_COUNTRIES else "VAT"
        _el(_el(scheme, "cac:TaxScheme"), "cbc:ID", tax)
    _el(_el(party, "cac:PartyLegalEntity"), "cbc:RegistrationName", name)


def ubl_xml(doc: SyntheticDocument) -> bytes:
    """The document as a UBL 2.1 ``Invoice`` (``CreditNote`` for a credit note, whose due date
    is PaymentMeans/PaymentDueDate as UBL 2.1 has no header DueDate there)."""
    f, country, currency = doc.fields, doc.country.code, doc.country.currency
    amounts = _amounts(doc)
    credit = doc.kind == "credit_note"
    root_name = "CreditNote" if credit else "Invoice"
    root = ET.Element(f"{{{UBL_ROOT_NS[root_name]}}}{root_name}")
    _el(root, "cbc:CustomizationID", PEPPOL_BIS3)
    _el(root, "cbc:ID", f["invoice_number"])
    _el(root, "cbc:IssueDate", f["issue_date"])
    if f["due_date"] and not credit:
        _el(root, "cbc:DueDate", f["due_date"])
    _el(
        root,
        "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode",
        "381" if credit else "380",
    )
    _el(root, "cbc:DocumentCurrencyCode", currency)
    _ubl_party(root, "cac:AccountingSupplierParty", f["issuer_name"], f["issuer_tax_id"], country)
    _ubl_party(root, "cac:AccountingCustomerParty", f["buyer_name"], f["buyer_tax_id"], country)
    if f["due_date"] and credit:
        means = _el(root, "cac:PaymentMeans")
        _el(means, "cbc:PaymentMeansCode", "30")
        _el(means, "cbc:PaymentDueDate", f["due_date"])
    _el(_el(root, "cac:TaxTotal"), "cbc:TaxAmount", _money(amounts["tax"]), currencyID=currency)
    total = _el(root, "cac:LegalMonetaryTotal")
    for tag, key in (
        ("cbc:LineExtensionAmount", "net"),
        ("cbc:TaxExclusiveAmount", "net"),
        ("cbc:TaxInclusiveAmount", "gross"),
        ("cbc:PrepaidAmount", "prepaid"),
        ("cbc:PayableAmount", "payable"),
    ):
        _el(total, tag, _money(amounts[key]), currencyID=currency)
    return _serialize(root, {"": UBL_ROOT_NS[root_name], **UBL_NS})


def _serialize(root: ET.Element, prefixes: dict[str, str]) -> bytes:
    """UTF-8 bytes with the usual prefixes (``rsm``/``ram``/``udt``, ``cac``/``cbc``), without
    touching ElementTree's process-wide prefix registry."""
    uri_prefix = {uri: prefix for prefix, uri in prefixes.items()}
    for element in root.iter():
        uri, name = element.tag[1:].split("}")
        prefix = uri_prefix[uri]
        element.tag = f"{prefix}:{name}" if prefix else name
    for prefix, uri in prefixes.items():
        root.set(f"xmlns:{prefix}" if prefix else "xmlns", uri)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def einvoice_xml(doc: SyntheticDocument, syntax: str) -> bytes:
    """``doc`` as ``syntax`` ("cii" or "ubl"); raises ValueError for a receipt (no buyer, not
    an e-invoice) or an unknown syntax."""
    if doc.kind == "receipt":
        raise ValueError("receipts have no e-invoice variant")
    if syntax == "cii":
        return cii_xml(doc)
    if syntax == "ubl":
        return ubl_xml(doc)
    raise ValueError(f"unknown e-invoice syntax {syntax!r}")
