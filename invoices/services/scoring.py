"""Risk scoring of a submitted invoice: the scorecard's inputs from today's facts, the
grade and the offer (the scoring task's body), and re-scoring a priced invoice."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from paymint.core import clock

from ..enums import EXTRACTED_TO_MODEL, InvoiceStatus, RiskGrade
from ..error_codes import InvoicesError
from ..models import Invoice
from ..risk import RiskInputs, score_invoice
from ..selectors import debtor_history, seller_debtor_share, seller_history
from .status import invoice_transition
from .upload import model_value


def _extraction_confidence(invoice: Invoice) -> float:
    confidence = (invoice.extraction or {}).get("confidence") or {}
    keys = ("invoice_number", "issuer_name", "buyer_name", "total_amount", "currency",
            "due_date")
    values = [float(confidence.get(k) or 0.0) for k in keys]
    # Fields the seller filled or corrected are as good as the seller's word; treat as 0.7.
    extracted = invoice.extraction or {}
    for index, key in enumerate(keys):
        model_name = EXTRACTED_TO_MODEL[key]
        if model_value(model_name, extracted.get(key)) != (getattr(invoice, model_name) or None):
            values[index] = 0.7
    return sum(values) / len(values)


def _assess(invoice: Invoice):
    """Run the scorecard on ``invoice`` with today's facts (seller and debtor history,
    concentration, confirmation, extraction confidence, verification)."""
    history = seller_history(seller=invoice.seller)
    debtor = debtor_history(debtor_key=invoice.debtor_key)
    advance_estimate = invoice.face_value * settings.PAYMINT["GRADE_PRICING"]["A"][0]
    share = seller_debtor_share(seller=invoice.seller, debtor_key=invoice.debtor_key,
                                currency=invoice.currency, adding=advance_estimate)
    issuer_match = None
    for check in invoice.verification:
        if check["code"] == InvoicesError.ISSUER_TAX_ID_MISMATCH:
            issuer_match = bool(check["passed"])
    debtor_valid = None
    if invoice.debtor_tax_id:
        debtor_valid = any(c["code"] == InvoicesError.INVALID_DEBTOR_TAX_ID and c["passed"]
                           for c in invoice.verification)
    inputs = RiskInputs(
        tenor_days=(invoice.due_date - clock.today()).days,
        face_value=invoice.face_value,
        seller_average_face_value=history["average_face_value"],
        seller_settled_count=history["settled_count"],
        seller_late_count=history["late_count"],
        seller_default_count=history["default_count"],
        debtor_settled_count=debtor["settled_count"],
        debtor_seller_count=debtor["seller_count"],
        extraction_confidence=_extraction_confidence(invoice),
        structured_einvoice=invoice.extraction_method.startswith("einvoice"),
        issuer_tax_id_matches_seller=issuer_match,
        debtor_tax_id_valid=debtor_valid,
        debtor_late_count=debtor["late_count"],
        debtor_default_count=debtor["default_count"],
        debtor_confirmed=invoice.debtor_confirmed_at is not None,
        seller_debtor_share=float(share),
    )
    assessment = score_invoice(
        inputs,
        thresholds=settings.PAYMINT["GRADE_THRESHOLDS"],
        pricing=settings.PAYMINT["GRADE_PRICING"],
        pd_by_grade=settings.PAYMINT["GRADE_PD"],
    )
    return assessment


def _store_assessment(invoice: Invoice, assessment, *, with_offer: bool) -> None:
    invoice.risk_score = assessment.score
    invoice.risk_grade = assessment.grade
    invoice.risk_factors = [f.as_dict() for f in assessment.factors]
    invoice.probability_of_default = assessment.probability_of_default
    fields = ["risk_score", "risk_grade", "risk_factors", "probability_of_default",
              "updated_at"]
    if with_offer:
        invoice.advance_rate = assessment.max_advance_rate
        invoice.discount_rate = assessment.discount_rate
        fields += ["advance_rate", "discount_rate"]
    invoice.save(update_fields=fields)


def invoice_score(*, invoice_id: int) -> Invoice:
    """Score a submitted invoice and set its offer (the scoring task's body).

    Safe to run twice: only a ``SUBMITTED`` invoice is scored. Grade E invoices are rejected
    (not financeable) with the factors as the reason.
    """
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update(no_key=True).get(pk=invoice_id)
        if invoice.status != InvoiceStatus.SUBMITTED:
            return invoice
        assessment = _assess(invoice)
        financeable = assessment.grade != RiskGrade.E
        _store_assessment(invoice, assessment, with_offer=financeable)
        if not financeable:
            return invoice_transition(
                invoice=invoice, to_status=InvoiceStatus.REJECTED,
                reason=f"risk grade E (score {assessment.score}): not financeable",
            )
        return invoice_transition(
            invoice=invoice, to_status=InvoiceStatus.PRICED,
            reason=f"grade {assessment.grade}, score {assessment.score}",
        )


def invoice_rescore(*, invoice_id: int) -> Invoice:
    """Re-run the scorecard on a ``PRICED`` invoice whose facts changed (e.g. the debtor
    confirmed it): the offer follows the new grade. Other statuses are left as they are (a
    listing's terms are fixed). Grade E keeps the previous offer (no status change here)."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update(no_key=True).get(pk=invoice_id)
        if invoice.status != InvoiceStatus.PRICED:
            return invoice
        assessment = _assess(invoice)
        _store_assessment(invoice, assessment, with_offer=assessment.grade != RiskGrade.E)
    return invoice
