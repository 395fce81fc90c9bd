"""Indian GST e-invoices as JSON: the invoice schema (INV-01, version 1.1) and the Invoice
Registration Portal's (IRP) answer to it.

Two shapes are read (NIC's "e-Invoice System - API specification" and "e-invoice schema
INV-01"):

- the invoice itself: ``{"Version": "1.1", "TranDtls": ..., "DocDtls": {"Typ", "No", "Dt"},
  "SellerDtls": {"Gstin", "LglNm", "TrdNm", ...}, "BuyerDtls": ..., "ValDtls": {"TotInvVal",
  ...}, "PayDtls": {"CrDay", "PaidAmt", "PaymtDue"}, ...}`` (dates dd/mm/yyyy, amounts in INR);
- the IRP's answer (alone, or under ``result``/``data``): ``{"AckNo", "AckDt", "Irn",
  "SignedInvoice", "SignedQRCode", ...}``. ``SignedInvoice`` is a JWS (RS256) whose payload's
  ``data`` is the registered invoice above (with its ``Irn``); ``SignedQRCode`` is the QR's
  JWS (:mod:`.gstqr`).

The signed invoice is preferred (it is what the IRP registered). When the IRP's public key is
configured the signature is verified (a forged token is ignored); without one the payload is
used with a little less confidence, as for the QR code.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation

from .gstqr import decode_jws_payload, gst_qr_fields, parse_gst_qr, verify_jws
from .schema import FIELD_NAMES, ExtractedField

SOURCE = "gst-json"
VERIFIED_CONFIDENCE = 0.98
UNVERIFIED_CONFIDENCE = 0.93
PLAIN_JSON_CONFIDENCE = 0.95  # an unsigned invoice JSON: structured, but nobody vouches for it
_MAX_DEPTH = 3


def load_json_object(data: bytes) -> dict | list | None:
    """``data`` parsed as JSON (UTF-8, BOM allowed), or None when it is not JSON."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _is_invoice(obj) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("DocDtls"), dict)
        and isinstance(obj.get("SellerDtls"), dict)
    )


def _is_irp_answer(obj) -> bool:
    return isinstance(obj, dict) and (
        isinstance(obj.get("SignedInvoice"), str) or isinstance(obj.get("SignedQRCode"), str)
    )


def _find(obj, predicate, depth: int = 0):
    """The first dict satisfying ``predicate`` at ``obj`` or below it (a few levels: the
    answer may be wrapped as ``{"result": ...}``, ``{"data": ...}`` or in a list)."""
    if predicate(obj):
        return obj
    if depth >= _MAX_DEPTH:
        return None
    children = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else ()
    for child in children:
        if isinstance(child, dict | list):
            found = _find(child, predicate, depth + 1)
            if found is not None:
                return found
    return None


def is_gst_einvoice_json(data: bytes) -> bool:
    """True when ``data`` is a GST e-invoice JSON or an IRP answer holding a signed one."""
    obj = load_json_object(data)
    return obj is not None and (
        _find(obj, _is_irp_answer) is not None or _find(obj, _is_invoice) is not None
    )


def _inr(value) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount.quantize(Decimal("0.01")) if amount.is_finite() else None


def _ddmmyyyy(value) -> dt.date | None:
    try:
        return dt.datetime.strptime(str(value).strip(), "%d/%m/%Y").date()
    except ValueError:
        return None


def invoice_values(invoice: dict) -> dict[str, object]:
    """The PayMint fields of an INV-01 invoice dict (None where absent).

    Names are the legal names (``LglNm``, else ``TrdNm``); the total is ``ValDtls.TotInvVal``
    and the amount due ``PayDtls.PaymtDue`` (INR); the due date is the issue date plus
    ``PayDtls.CrDay`` credit days when that is positive.
    """
    doc = invoice.get("DocDtls") or {}
    seller = invoice.get("SellerDtls") or {}
    buyer = invoice.get("BuyerDtls") or {}
    values = invoice.get("ValDtls") or {}
    pay = invoice.get("PayDtls") or {}
    issued = _ddmmyyyy(doc.get("Dt"))
    due = None
    credit_days = pay.get("CrDay")
    if issued is not None and isinstance(credit_days, int | float) and credit_days > 0:
        due = issued + dt.timedelta(days=int(credit_days))
    total = _inr(values.get("TotInvVal")) if values.get("TotInvVal") is not None else None
    amount_due = _inr(pay.get("PaymtDue")) if pay.get("PaymtDue") is not None else None
    return {
        "invoice_number": str(doc.get("No") or "").strip() or None,
        "issuer_name": (seller.get("LglNm") or seller.get("TrdNm") or "").strip() or None,
        "buyer_name": (buyer.get("LglNm") or buyer.get("TrdNm") or "").strip() or None,
        "total_amount": total,
        "amount_due": amount_due,
        "currency": "INR" if total is not None else None,
        "issue_date": issued,
        "due_date": due,
        "issuer_tax_id": (seller.get("Gstin") or "").strip() or None,
        "buyer_tax_id": (buyer.get("Gstin") or "").strip() or None,
    }


def _signed_invoice(answer: dict, public_key_pem: str) -> tuple[dict, bool] | None:
    token = answer.get("SignedInvoice")
    if not isinstance(token, str):
        return None
    payload = decode_jws_payload(token)
    if payload is None:
        return None
    invoice = payload.get("data")
    if isinstance(invoice, str):
        invoice = load_json_object(invoice.encode("utf-8"))
    if not _is_invoice(invoice):
        return None
    verified = False
    if public_key_pem:
        if not verify_jws(token, public_key_pem):
            return None
        verified = True
    return invoice, verified


def extract_gst_json(
    data: bytes, *, public_key_pem: str = ""
) -> tuple[dict[str, ExtractedField], str, tuple[str, ...]] | None:
    """Fields of a GST e-invoice JSON or IRP answer: ``(fields, method, warnings)``, or None
    when ``data`` is neither.

    Order: the IRP-signed invoice, else the signed QR code's payload (fewer fields), else an
    unsigned invoice JSON. ``method`` is "einvoice-gst-json"; the warning
    ``GST_SIGNATURE_NOT_VERIFIED`` says a signed payload was used without a configured key.
    """
    obj = load_json_object(data)
    if obj is None:
        return None
    answer = _find(obj, _is_irp_answer)
    values: dict[str, object] | None = None
    confidence = PLAIN_JSON_CONFIDENCE
    warnings: tuple[str, ...] = ()
    if answer is not None:
        signed = _signed_invoice(answer, public_key_pem)
        if signed is not None:
            invoice, verified = signed
            values = invoice_values(invoice)
            confidence = VERIFIED_CONFIDENCE if verified else UNVERIFIED_CONFIDENCE
            warnings = () if verified else ("GST_SIGNATURE_NOT_VERIFIED",)
        elif isinstance(answer.get("SignedQRCode"), str):
            parsed = parse_gst_qr(answer["SignedQRCode"], public_key_pem=public_key_pem)
            if parsed is not None:
                qr, verified = parsed
                fields = {name: ExtractedField.missing(SOURCE) for name in FIELD_NAMES}
                fields.update(gst_qr_fields(qr, verified=verified))
                warnings = () if verified else ("GST_SIGNATURE_NOT_VERIFIED",)
                return fields, "einvoice-gst-json", warnings
    if values is None:
        invoice = _find(obj, _is_invoice)
        if invoice is None:
            return None
        values = invoice_values(invoice)
    fields = {
        name: ExtractedField(values[name], confidence, SOURCE)
        if values.get(name) is not None
        else ExtractedField.missing(SOURCE)
        for name in FIELD_NAMES
    }
    return fields, "einvoice-gst-json", warnings
