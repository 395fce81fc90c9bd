"""Indian GST e-invoices: the IRP's signed QR code is read from the page and verified."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import jwt
import pytest
import segno
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import Image, ImageDraw, ImageFont

from invoices.extraction import ExtractionLimits, extract_document

PAYLOAD = {
    "SellerGstin": "27AAPFU0939F1ZV", "BuyerGstin": "29AAGCB7383J1Z4", "DocNo": "MH/2024/0042",
    "DocTyp": "INV", "DocDt": "15/03/2024", "TotInvVal": 118000.5, "ItemCnt": 2,
    "MainHsnCode": "998314", "Irn": "a5c12dca80e743321740b001fd70953e8738d109865d28ba4013750f"
    "2046f229", "IrnDt": "2024-03-15 11:32:00",
}


@pytest.fixture(scope="module")
def irp_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def invoice_png(token: str) -> bytes:
    """A printed invoice page: some text and the signed QR code, as a PNG."""
    page = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=36)
    draw.text((80, 80), "TAX INVOICE", fill=0, font=font)
    draw.text((80, 140), "Futura Textiles Pvt Ltd", fill=0, font=font)
    draw.text((80, 400), "Bill to: Bharat Retail Ltd", fill=0, font=font)
    draw.text((80, 700), "IRN: a5c12dca80e743321740b001fd70953e", fill=0, font=font)
    qr = io.BytesIO()
    segno.make(token, error="m").save(qr, kind="png", scale=4, border=4)
    page.paste(Image.open(qr).convert("L"), (760, 80))
    out = io.BytesIO()
    page.save(out, format="PNG")
    return out.getvalue()


def signed(key, payload=PAYLOAD) -> str:
    return jwt.encode({"data": json.dumps(payload), "iss": "NIC"}, key, algorithm="RS256")


def test_signed_qr_fields_are_read_and_verified(irp_key):
    limits = ExtractionLimits(gst_qr_public_key=public_pem(irp_key))
    result = extract_document(invoice_png(signed(irp_key)), limits=limits)
    assert result.method == "einvoice-gst-qr"
    assert result.value("invoice_number") == "MH/2024/0042"
    assert result.value("issuer_tax_id") == "27AAPFU0939F1ZV"
    assert result.value("buyer_tax_id") == "29AAGCB7383J1Z4"
    assert result.value("total_amount") == Decimal("118000.50")
    assert result.value("currency") == "INR"
    assert result.value("issue_date") == dt.date(2024, 3, 15)
    assert result.fields["invoice_number"].confidence == pytest.approx(0.98)
    assert "GST_QR_SIGNATURE_NOT_VERIFIED" not in result.warnings


def test_without_a_key_the_fields_are_used_but_marked_unverified(irp_key):
    result = extract_document(invoice_png(signed(irp_key)), limits=ExtractionLimits())
    assert result.value("invoice_number") == "MH/2024/0042"
    assert "GST_QR_SIGNATURE_NOT_VERIFIED" in result.warnings


def test_a_forged_qr_is_ignored(irp_key):
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = signed(forger, {**PAYLOAD, "TotInvVal": 9999999})
    limits = ExtractionLimits(gst_qr_public_key=public_pem(irp_key))
    result = extract_document(invoice_png(forged), limits=limits)
    assert result.method == "ocr"
    assert result.value("total_amount") != Decimal("9999999.00")
