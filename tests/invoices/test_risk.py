"""The risk scorecard: factors, clamping and grades from thresholds (no database)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from django.conf import settings

from invoices.risk import BASE_SCORE, RiskInputs, score_invoice

THRESHOLDS = {"A": 80, "B": 65, "C": 50, "D": 35, "E": 0}
PRICING = settings.PAYMINT["GRADE_PRICING"]

# Scores exactly BASE_SCORE (55): tenor 20 d (+10), first invoice (-5), new debtor (0),
# confidence 0.7 (0), no issuer tax id (-5).
NEUTRAL = RiskInputs(
    tenor_days=20,
    face_value=Decimal("1000"),
    seller_average_face_value=None,
    seller_settled_count=0,
    seller_late_count=0,
    seller_default_count=0,
    debtor_settled_count=0,
    debtor_seller_count=0,
    extraction_confidence=0.7,
    structured_einvoice=False,
    issuer_tax_id_matches_seller=None,
    debtor_tax_id_valid=None,
)


def score(**changes):
    return score_invoice(
        dataclasses.replace(NEUTRAL, **changes), thresholds=THRESHOLDS, pricing=PRICING
    )


def points(assessment, code):
    return {f.code: f.points for f in assessment.factors}[code]


def test_neutral_inputs_score_the_base_score():
    assessment = score()
    assert assessment.score == BASE_SCORE == 55
    assert assessment.grade == "C"
    assert (assessment.max_advance_rate, assessment.discount_rate) == PRICING["C"]
    assert [f.code for f in assessment.factors] == [
        "TENOR",
        "SELLER_HISTORY",
        "DEBTOR_HISTORY",
        "EXTRACTION",
        "ISSUER_TAX_ID",
    ]


def test_score_is_base_plus_the_sum_of_factor_points():
    assessment = score(
        tenor_days=45,
        seller_settled_count=3,
        seller_late_count=1,
        debtor_settled_count=2,
        debtor_seller_count=2,
        seller_average_face_value=Decimal("500"),
        structured_einvoice=True,
        extraction_confidence=0.95,
        issuer_tax_id_matches_seller=True,
        debtor_tax_id_valid=True,
    )
    # 55 + 6 (tenor) + (6 - 4) (history) + 6 (debtor) + 2 (amount 2x) + 8 + 5 + 10 + 5 = 99
    assert assessment.score == 99
    assert assessment.score == BASE_SCORE + sum(f.points for f in assessment.factors)
    assert assessment.grade == "A"


@pytest.mark.parametrize(
    ("days", "expected"),
    [(0, 10), (30, 10), (31, 6), (60, 6), (61, 2), (90, 2), (91, -4), (120, -4), (121, -10)],
)
def test_tenor_bands(days, expected):
    assert points(score(tenor_days=days), "TENOR") == expected


@pytest.mark.parametrize(
    ("settled", "late", "defaulted", "expected"),
    [
        (0, 0, 0, -5),  # first invoice
        (1, 0, 0, 2),
        (6, 0, 0, 12),
        (20, 0, 0, 12),  # capped at 12
        (5, 2, 0, 2),  # 10 - 8
        (5, 0, 1, -15),  # 10 - 25
        (0, 0, 1, -25),  # only a default
    ],
)
def test_seller_history(settled, late, defaulted, expected):
    assessment = score(
        seller_settled_count=settled, seller_late_count=late, seller_default_count=defaulted
    )
    assert points(assessment, "SELLER_HISTORY") == expected


@pytest.mark.parametrize(("settled", "expected"), [(0, 0), (1, 3), (3, 9), (4, 10), (50, 10)])
def test_debtor_history(settled, expected):
    assert points(score(debtor_settled_count=settled, debtor_seller_count=1), "DEBTOR_HISTORY") == (
        expected
    )


def test_amount_factor_against_the_sellers_average():
    assert points(score(seller_average_face_value=Decimal("333.34")), "AMOUNT") == 2  # 2.99x
    assert points(score(seller_average_face_value=Decimal("300")), "AMOUNT") == -8  # 3.33x
    codes = {f.code for f in score(seller_average_face_value=Decimal("0")).factors}
    assert "AMOUNT" not in codes


@pytest.mark.parametrize(
    ("confidence", "expected"), [(0.9, 5), (0.89, 0), (0.6, 0), (0.59, -10), (0.0, -10)]
)
def test_extraction_confidence(confidence, expected):
    assert points(score(extraction_confidence=confidence), "EXTRACTION") == expected


def test_tax_id_factors():
    assert points(score(issuer_tax_id_matches_seller=True), "ISSUER_TAX_ID") == 10
    assert points(score(issuer_tax_id_matches_seller=None), "ISSUER_TAX_ID") == -5
    assert points(score(debtor_tax_id_valid=True), "DEBTOR_TAX_ID") == 5
    assert "DEBTOR_TAX_ID" not in {f.code for f in score(debtor_tax_id_valid=False).factors}
    assert points(score(structured_einvoice=True), "EINVOICE") == 8


def test_score_is_clamped_to_0_100():
    low = score(
        tenor_days=400,
        seller_default_count=3,
        extraction_confidence=0.1,
        seller_average_face_value=Decimal("1"),
    )
    assert low.score == 0
    assert low.grade == "E"
    assert BASE_SCORE + sum(f.points for f in low.factors) < 0


@pytest.mark.parametrize(
    ("thresholds", "grade"),
    [
        ({"A": 55, "B": 40, "C": 30, "D": 20, "E": 0}, "A"),  # score == floor -> that grade
        ({"A": 56, "B": 55, "C": 30, "D": 20, "E": 0}, "B"),
        ({"A": 80, "B": 65, "C": 56, "D": 55, "E": 0}, "D"),
        ({"A": 80, "B": 65, "C": 60, "D": 56, "E": 0}, "E"),
        # order of the mapping does not matter
        ({"E": 0, "D": 10, "C": 20, "B": 54, "A": 90}, "B"),
    ],
)
def test_grade_from_thresholds(thresholds, grade):
    assessment = score_invoice(NEUTRAL, thresholds=thresholds, pricing=PRICING)
    assert assessment.score == 55
    assert assessment.grade == grade
    assert (assessment.max_advance_rate, assessment.discount_rate) == PRICING[grade]


def test_factor_as_dict():
    factor = score().factors[0]
    assert factor.as_dict() == {
        "code": "TENOR",
        "label": "Tenor",
        "points": 10,
        "detail": "20 days to due date (short)",
    }
