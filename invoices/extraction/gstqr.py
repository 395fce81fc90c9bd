"""The signed QR code of Indian GST e-invoices (IRN QR).

Since 2020 a GST e-invoice above the threshold carries a QR code issued by the Invoice
Registration Portal (IRP): a JWS (RS256, compact serialization) whose payload holds ``data``, a
JSON string with the fields ``SellerGstin``, ``BuyerGstin``, ``DocNo``, ``DocTyp``, ``DocDt``
(dd/mm/yyyy), ``TotInvVal``, ``ItemCnt``, ``MainHsnCode``, ``Irn`` and ``IrnDt`` (NIC's
"e-Invoice System - API specification", signed QR code section).

We decode the QR with zxing-cpp, read the payload, and - when the IRP's public key is
configured (PEM) - verify the signature with PyJWT. Names are not in the QR; they come from
the page. Without a key the fields are still used, with a little less confidence and a warning.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
from decimal import Decimal, InvalidOperation

import jwt
import zxingcpp
from PIL import Image

from .schema import ExtractedField

SOURCE = "gst-qr"
SIGNATURE_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256")
_FIELD_MAP = {
    "DocNo": "invoice_number",
    "SellerGstin": "issuer_tax_id",
    "BuyerGstin": "buyer_tax_id",
}


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def decode_qr_texts(images: list[Image.Image]) -> list[str]:
    """Texts of all QR codes found on ``images`` (zxing-cpp)."""
    texts: list[str] = []
    for img in images:
        for barcode in zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode):
            if barcode.text:
                texts.append(barcode.text)
    return texts


def decode_jws_payload(token: str) -> dict | None:
    """The JSON payload of a compact JWS (``header.payload.signature``), unverified, or None
    when ``token`` is not one."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    try:
        json.loads(_b64url(parts[0]))
        payload = json.loads(_b64url(parts[1]))
    except (ValueError, TypeError):
        return None
    return payload if isinstance(payload, dict) else None


def verify_jws(token: str, public_key_pem: str) -> bool:
    """True when ``token``'s signature verifies with ``public_key_pem``. Only asymmetric
    algorithms are accepted (the IRP signs with RS256; an HMAC or "none" header is refused).
    Expiry and audience are not checked."""
    try:
        jwt.decode(token.strip(), public_key_pem, algorithms=list(SIGNATURE_ALGORITHMS),
                   options={"verify_exp": False, "verify_aud": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return False
    return True


def parse_gst_qr(text: str, *, public_key_pem: str = "") -> tuple[dict, bool] | None:
    """The IRN QR payload's ``data`` as a dict and whether its signature was verified, or
    None when ``text`` is not a GST e-invoice QR. A configured key that does not verify the
    token makes it None too (a forged QR is ignored, not trusted)."""
    payload = decode_jws_payload(text)
    if payload is None:
        return None
    data = payload.get("data")
    try:
        data = json.loads(data) if isinstance(data, str) else data
    except ValueError:
        return None
    if not isinstance(data, dict) or "DocNo" not in data or "SellerGstin" not in data:
        return None
    verified = False
    if public_key_pem:
        if not verify_jws(text, public_key_pem):
            return None
        verified = True
    return data, verified


def gst_qr_fields(data: dict, *, verified: bool) -> dict[str, ExtractedField]:
    """Extraction fields from an IRN QR payload (currency is INR by law)."""
    confidence = 0.98 if verified else 0.93
    fields: dict[str, ExtractedField] = {}
    for key, name in _FIELD_MAP.items():
        value = str(data.get(key) or "").strip()
        if value:
            fields[name] = ExtractedField(value, confidence, SOURCE)
    try:
        total = Decimal(str(data.get("TotInvVal")))
        if total.is_finite():
            fields["total_amount"] = ExtractedField(total.quantize(Decimal("0.01")), confidence,
                                                    SOURCE)
            fields["currency"] = ExtractedField("INR", confidence, SOURCE)
    except (InvalidOperation, ValueError):
        pass
    with contextlib.suppress(ValueError):
        issued = dt.datetime.strptime(str(data.get("DocDt")), "%d/%m/%Y").date()
        fields["issue_date"] = ExtractedField(issued, confidence, SOURCE)
    return fields
