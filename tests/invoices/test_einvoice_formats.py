"""Structured e-invoice formats read from samples in tests/fixtures/einvoices: real public
ones (each folder with its source's licence) for XRechnung UBL and CII, Peppol BIS 3 UBL and
Italian FatturaPA; a generated one (``india/generate_sample.py``, our own data, no third-party
licence) for the Indian GST e-invoice JSON with the IRP's signed answer. Sniffing reads the XML
root, however long the comments before it."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase

from invoices.enums import InvoiceStatus
from invoices.extraction import (
    ExtractionError,
    ExtractionLimits,
    extract_document,
    sniff_content_type,
)
from invoices.services import invoice_upload
from invoices.services.upload import ALLOWED_CONTENT_TYPES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "einvoices"

# Expected values read off each sample by hand (issuer/buyer names exactly as printed).
SAMPLES = {
    "xrechnung/01.01a-INVOICE_ubl.xml": (
        "einvoice-ubl",
        {
            "invoice_number": "123456XX",
            "issue_date": dt.date(2016, 4, 4),
            "total_amount": Decimal("336.90"),
            "amount_due": Decimal("336.90"),
            "currency": "EUR",
            "issuer_name": "[Seller name]",
            "issuer_tax_id": "DE 123456789",
        },
    ),
    "xrechnung/01.01a-INVOICE_uncefact.xml": (
        "einvoice-cii",
        {
            "invoice_number": "123456XX",
            "issue_date": dt.date(2016, 4, 4),
            "total_amount": Decimal("336.90"),
            "currency": "EUR",
            "buyer_name": "[Buyer name]",
        },
    ),
    "peppol/BIS3_Invoice_positive.xml": (
        "einvoice-ubl",
        {
            "invoice_number": "12345",
            "issue_date": dt.date(2019, 1, 25),
            "due_date": dt.date(2019, 2, 24),
            "total_amount": Decimal("782179.43"),
            "currency": "DKK",
            "issuer_name": "Company A",
            "buyer_name": "Company B",
            "issuer_tax_id": "DK12345678",
            "buyer_tax_id": "DK87654321",
        },
    ),
    "fatturapa/IT01234567890_FPR02.xml": (
        "einvoice-fatturapa",
        # No ImportoTotaleDocumento: the total is the VAT summary, 27.00 + 5.95.
        {
            "invoice_number": "123",
            "issue_date": dt.date(2014, 12, 18),
            "due_date": dt.date(2015, 1, 30),
            "total_amount": Decimal("32.95"),
            "amount_due": Decimal("32.95"),
            "currency": "EUR",
            "issuer_name": "SOCIETA' ALPHA SRL",
            "buyer_name": "BETA GAMMA",
            "issuer_tax_id": "IT01234567890",
            "buyer_tax_id": "09876543210",
        },
    ),
    "fatturapa/IT01234567890_FPA01.xml": (
        "einvoice-fatturapa",
        {
            "invoice_number": "123",
            "issue_date": dt.date(2017, 1, 18),
            "total_amount": Decimal("6.10"),
            "issuer_name": "ALPHA SRL",
            "buyer_name": "AMMINISTRAZIONE BETA",
        },
    ),
    "india/e-invoice-request.json": (
        "einvoice-gst-json",
        {
            "invoice_number": "PM/24-25/0042",
            "issue_date": dt.date(2025, 3, 15),
            "due_date": dt.date(2025, 4, 14),  # 30 credit days (PayDtls.CrDay)
            "total_amount": Decimal("58800.00"),
            "amount_due": Decimal("58800.00"),
            "currency": "INR",
            "issuer_name": "Sahyadri Looms Private Limited",
            "buyer_name": "Kaveri Fabrics and Co",
            "issuer_tax_id": "27AAKCS4821M1ZW",
            "buyer_tax_id": "29AAFFK7310Q1ZT",
        },
    ),
    # The IRP's answer: its SignedInvoice (a JWS) holds the registered invoice.
    "india/irp-response.json": (
        "einvoice-gst-json",
        {
            "invoice_number": "PM/24-25/0042",
            "issue_date": dt.date(2025, 3, 15),
            "total_amount": Decimal("58800.00"),
            "currency": "INR",
            "issuer_tax_id": "27AAKCS4821M1ZW",
            "buyer_name": "Kaveri Fabrics and Co",
        },
    ),
}
#: Folders whose sample we generated ourselves (README says how; no third-party licence).
GENERATED = {"india": "generate_sample.py"}


def test_every_sample_folder_carries_its_licence_or_is_generated_here():
    folders = {Path(name).parts[0] for name in SAMPLES}
    for folder in folders:
        if folder in GENERATED:
            assert (FIXTURES / folder / GENERATED[folder]).is_file(), folder
            assert not (FIXTURES / folder / "LICENSE").exists(), folder
            continue
        assert (FIXTURES / folder / "LICENSE").stat().st_size > 1000, folder
    readme = (FIXTURES / "README.md").read_text()
    for name in SAMPLES:
        assert Path(name).name in readme, name


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_real_sample_is_sniffed_and_read(name):
    method, expected = SAMPLES[name]
    data = (FIXTURES / name).read_bytes()
    content_type = "application/json" if name.endswith(".json") else "application/xml"
    assert sniff_content_type(data) == content_type
    result = extract_document(data)
    assert result.method == method
    for field, value in expected.items():
        assert result.value(field) == value, field
        assert result.fields[field].confidence >= 0.9


def _with_leading_comments(data: bytes, size: int) -> bytes:
    declaration, rest = data.split(b"?>", 1)
    comment = b"<!-- " + b"x" * size + b" -->\n"
    return declaration + b"?>\n" + comment + comment + rest


def test_a_valid_cii_file_with_long_comments_before_its_root_is_accepted():
    data = _with_leading_comments(
        (FIXTURES / "xrechnung/01.01a-INVOICE_uncefact.xml").read_bytes(), 4096
    )
    assert b"CrossIndustryInvoice" not in data[:8192]  # the old 4 KB sniff saw only comments
    assert sniff_content_type(data) == "application/xml"
    assert extract_document(data).value("total_amount") == Decimal("336.90")


@pytest.mark.parametrize(
    "data",
    [
        b"<?xml version='1.0'?><!-- " + b"c" * 6000 + b" --><html><body>Invoice</body></html>",
        b"<note><to>CrossIndustryInvoice</to></note>",  # the marker as text, not as the root
        b'{"invoice": {"number": "1", "total": 10}}',
        b"[1, 2, 3]",
        b"<not xml",
    ],
)
def test_other_xml_and_json_are_refused(data):
    with pytest.raises(ExtractionError) as info:
        sniff_content_type(data)
    assert info.value.code == "UNSUPPORTED_FILE_TYPE"


@pytest.fixture(scope="module")
def irp_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _irp_answer(key) -> bytes:
    invoice = json.loads((FIXTURES / "india/e-invoice-request.json").read_bytes())
    invoice["PayDtls"]["CrDay"] = 30
    token = jwt.encode({"data": json.dumps(invoice), "iss": "NIC"}, key, algorithm="RS256")
    return json.dumps(
        {"status": 1, "result": {"AckNo": 1, "Irn": "ab" * 32, "SignedInvoice": token}}
    ).encode()


def test_the_sample_irp_answer_verifies_with_its_published_key_and_its_qr_agrees():
    data = (FIXTURES / "india/irp-response.json").read_bytes()
    pem = (FIXTURES / "india/irp-sample-public-key.pem").read_text()
    result = extract_document(data, limits=ExtractionLimits(gst_qr_public_key=pem))
    assert result.warnings == ()  # both signatures check out against the sample's key
    assert result.value("total_amount") == Decimal("58800.00")
    qr = jwt.decode(
        json.loads(data)["result"]["SignedQRCode"], pem, algorithms=["RS256"]
    )
    claims = json.loads(qr["data"])
    assert (claims["DocNo"], claims["TotInvVal"]) == ("PM/24-25/0042", 58800.0)
    assert claims["SellerGstin"] == result.value("issuer_tax_id")


def test_signed_invoice_is_verified_with_the_configured_key(irp_key):
    limits = ExtractionLimits(gst_qr_public_key=_pem(irp_key))
    result = extract_document(_irp_answer(irp_key), limits=limits)
    assert result.warnings == ()
    assert result.fields["total_amount"].confidence == pytest.approx(0.98)
    assert result.value("due_date") == dt.date(2025, 4, 14)  # issued 15/03 + 30 credit days


def test_without_a_key_the_signed_invoice_is_used_but_flagged(irp_key):
    result = extract_document(_irp_answer(irp_key))
    assert result.warnings == ("GST_SIGNATURE_NOT_VERIFIED",)
    assert result.value("invoice_number") == "PM/24-25/0042"


def test_a_forged_signed_invoice_is_not_trusted(irp_key):
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    limits = ExtractionLimits(gst_qr_public_key=_pem(irp_key))
    with pytest.raises(ExtractionError) as info:
        extract_document(_irp_answer(forger), limits=limits)
    assert info.value.code == "UNSUPPORTED_FILE_TYPE"


def test_an_hmac_token_signed_with_the_public_key_is_refused(irp_key):
    pem = _pem(irp_key)
    invoice = json.loads((FIXTURES / "india/e-invoice-request.json").read_bytes())
    # PyJWT itself refuses a PEM as an HMAC secret; sign with the raw bytes to be sure.
    token = jwt.api_jws.PyJWS().encode(
        json.dumps({"data": json.dumps(invoice)}).encode(), b"k" * 32, algorithm="HS256"
    )
    answer = json.dumps({"SignedInvoice": token}).encode()
    with pytest.raises(ExtractionError):
        extract_document(answer, limits=ExtractionLimits(gst_qr_public_key=pem))


def test_json_uploads_are_allowed_and_stored_as_json(seller):
    assert "application/json" in ALLOWED_CONTENT_TYPES
    data = (FIXTURES / "india/irp-response.json").read_bytes()
    with TestCase.captureOnCommitCallbacks(execute=True):
        invoice = invoice_upload(seller=seller, uploaded_file=SimpleUploadedFile("x.txt", data))
    invoice.refresh_from_db()
    assert invoice.document_content_type == "application/json"
    assert invoice.document.name.endswith(".json")
    assert invoice.status == InvoiceStatus.EXTRACTED
    assert invoice.extraction_method == "einvoice-gst-json"
    assert invoice.invoice_number == "PM/24-25/0042"
    assert invoice.face_value == Decimal("58800.00") and invoice.currency == "INR"


def test_a_fatturapa_upload_is_stored_as_xml(seller):
    data = (FIXTURES / "fatturapa/IT01234567890_FPR02.xml").read_bytes()
    with TestCase.captureOnCommitCallbacks(execute=True):
        invoice = invoice_upload(seller=seller, uploaded_file=SimpleUploadedFile("f.xml", data))
    invoice.refresh_from_db()
    assert invoice.document.name.endswith(".xml")
    assert invoice.extraction_method == "einvoice-fatturapa"
    assert invoice.face_value == Decimal("32.95")
