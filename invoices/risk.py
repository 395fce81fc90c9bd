"""The explainable risk scorecard: pure functions, no database.

A points-based scorecard in the tradition of credit scorecards (Siddiqi, *Credit Risk
Scorecards*, 2006): start from a base score, add or subtract points per factor, clamp to 0-100.
Every factor's contribution is returned so investors and ops see why an invoice scored as it
did. The grade comes from configurable score thresholds and sets the pricing: maximum advance
rate and annual discount rate (``settings.PAYMINT["GRADE_PRICING"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

BASE_SCORE = 55


@dataclass(frozen=True, slots=True)
class RiskInputs:
    """Facts about an invoice, its seller and its debtor.

    ``tenor_days``: days from scoring to the due date. ``extraction_confidence``: mean confidence
    (0-1) of the key fields as read from the document (fields the seller changed count 0.7).
    Histories count invoices on PayMint only; the debtor's across all sellers.
    ``debtor_confirmed``: the debtor confirmed through the signed link that the invoice is
    genuine and unpaid. ``seller_debtor_share``: share (0-1) of the seller's outstanding book on
    this debtor including this invoice (concentration).
    """

    tenor_days: int
    face_value: Decimal
    seller_average_face_value: Decimal | None
    seller_settled_count: int
    seller_late_count: int
    seller_default_count: int
    debtor_settled_count: int
    debtor_seller_count: int
    extraction_confidence: float
    structured_einvoice: bool
    issuer_tax_id_matches_seller: bool | None
    debtor_tax_id_valid: bool | None
    debtor_late_count: int = 0
    debtor_default_count: int = 0
    debtor_confirmed: bool = False
    seller_debtor_share: float = 0.0


@dataclass(frozen=True, slots=True)
class RiskFactor:
    """One line of the scorecard: ``points`` added to the base score and why."""

    code: str
    label: str
    points: int
    detail: str

    def as_dict(self) -> dict:
        return {"code": self.code, "label": self.label, "points": self.points,
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    score: int
    grade: str
    max_advance_rate: Decimal
    discount_rate: Decimal
    factors: tuple[RiskFactor, ...] = field(default_factory=tuple)
    probability_of_default: Decimal | None = None


def _tenor_points(days: int) -> tuple[int, str]:
    if days <= 30:
        return 10, f"{days} days to due date (short)"
    if days <= 60:
        return 6, f"{days} days to due date"
    if days <= 90:
        return 2, f"{days} days to due date"
    if days <= 120:
        return -4, f"{days} days to due date (long)"
    return -10, f"{days} days to due date (very long)"


def score_invoice(
    inputs: RiskInputs,
    *,
    thresholds: dict[str, int],
    pricing: dict[str, tuple[Decimal, Decimal]],
    pd_by_grade: dict[str, Decimal] | None = None,
) -> RiskAssessment:
    """Score an invoice 0-100 (higher is safer) and grade it A-E.

    Args:
        inputs: the facts, see :class:`RiskInputs`.
        thresholds: lower score bound per grade, e.g. ``{"A": 80, ..., "E": 0}``.
        pricing: per grade ``(max advance rate, annual discount rate)`` as fractions.
        pd_by_grade: estimated probability of default per grade (fraction), optional.
    """
    factors: list[RiskFactor] = []

    points, detail = _tenor_points(inputs.tenor_days)
    factors.append(RiskFactor("TENOR", "Tenor", points, detail))

    history = inputs.seller_settled_count
    if history == 0 and inputs.seller_default_count == 0:
        factors.append(RiskFactor("SELLER_HISTORY", "Seller history", -5,
                                  "first invoice on PayMint"))
    else:
        points = min(2 * history, 12) - 4 * inputs.seller_late_count \
            - 25 * inputs.seller_default_count
        factors.append(RiskFactor(
            "SELLER_HISTORY", "Seller history", points,
            f"{history} repaid, {inputs.seller_late_count} late, "
            f"{inputs.seller_default_count} defaulted",
        ))

    if inputs.debtor_settled_count:
        points = min(3 * inputs.debtor_settled_count, 10)
        factors.append(RiskFactor(
            "DEBTOR_HISTORY", "Debtor history", points,
            f"debtor paid {inputs.debtor_settled_count} invoices to "
            f"{inputs.debtor_seller_count} sellers",
        ))
    else:
        factors.append(RiskFactor("DEBTOR_HISTORY", "Debtor history", 0, "debtor new to PayMint"))
    if inputs.debtor_late_count or inputs.debtor_default_count:
        factors.append(RiskFactor(
            "DEBTOR_RECORD", "Debtor payment record",
            -4 * inputs.debtor_late_count - 20 * inputs.debtor_default_count,
            f"{inputs.debtor_late_count} paid late, {inputs.debtor_default_count} defaulted "
            f"on PayMint",
        ))
    if inputs.debtor_confirmed:
        factors.append(RiskFactor("DEBTOR_CONFIRMED", "Debtor confirmation", 8,
                                  "the debtor confirmed the invoice is genuine and unpaid"))
    share = inputs.seller_debtor_share
    if share > 0.8:
        factors.append(RiskFactor("CONCENTRATION", "Concentration on one debtor", -12,
                                  f"{share:.0%} of the seller's book on this debtor"))
    elif share > 0.5:
        factors.append(RiskFactor("CONCENTRATION", "Concentration on one debtor", -6,
                                  f"{share:.0%} of the seller's book on this debtor"))

    if inputs.seller_average_face_value and inputs.seller_average_face_value > 0:
        ratio = inputs.face_value / inputs.seller_average_face_value
        if ratio > 3:
            factors.append(RiskFactor("AMOUNT", "Amount vs seller's usual", -8,
                                      f"{ratio:.1f}x the seller's average"))
        else:
            factors.append(RiskFactor("AMOUNT", "Amount vs seller's usual", 2,
                                      f"{ratio:.1f}x the seller's average"))

    if inputs.structured_einvoice:
        factors.append(RiskFactor("EINVOICE", "Structured e-invoice", 8,
                                  "machine-readable e-invoice data embedded by the issuer"))
    confidence = inputs.extraction_confidence
    if confidence >= 0.9:
        points = 5
    elif confidence >= 0.6:
        points = 0
    else:
        points = -10
    factors.append(RiskFactor("EXTRACTION", "Document reading", points,
                              f"mean field confidence {confidence:.2f}"))

    if inputs.issuer_tax_id_matches_seller is True:
        factors.append(RiskFactor("ISSUER_TAX_ID", "Issuer tax id", 10,
                                  "issuer tax id on the invoice matches the seller's KYB"))
    elif inputs.issuer_tax_id_matches_seller is None:
        factors.append(RiskFactor("ISSUER_TAX_ID", "Issuer tax id", -5,
                                  "no issuer tax id on the invoice"))
    if inputs.debtor_tax_id_valid is True:
        factors.append(RiskFactor("DEBTOR_TAX_ID", "Debtor tax id", 5,
                                  "debtor tax id present and valid"))

    score = max(0, min(100, BASE_SCORE + sum(f.points for f in factors)))
    grade = next(g for g, floor in sorted(thresholds.items(), key=lambda kv: -kv[1])
                 if score >= floor)
    max_advance_rate, discount_rate = pricing[grade]
    return RiskAssessment(
        score=score, grade=grade, max_advance_rate=max_advance_rate,
        discount_rate=discount_rate, factors=tuple(factors),
        probability_of_default=(pd_by_grade or {}).get(grade),
    )
