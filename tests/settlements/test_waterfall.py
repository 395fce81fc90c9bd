"""The settlement waterfall: hand-computed splits and the sum invariant (no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paymint.core.money import from_minor
from settlements.waterfall import InvestorClaim, InvestorPayout, settlement_waterfall

D = Decimal

# Two investors, 200.00 + 313.94 funded, discount fees 0.88 / 1.37.
CLAIMS = {
    "a": InvestorClaim(principal=D("200.00"), discount_fee=D("0.88")),
    "b": InvestorClaim(principal=D("313.94"), discount_fee=D("1.37")),
}


def test_full_repayment_pays_every_claim_and_the_rest_to_the_seller():
    result = settlement_waterfall(repaid=D("571.04"), currency="EUR", claims=CLAIMS)
    assert result.investors == {
        "a": InvestorPayout(principal=D("200.00"), discount_fee=D("0.88")),
        "b": InvestorPayout(principal=D("313.94"), discount_fee=D("1.37")),
    }
    # 571.04 - 200.88 - 315.31
    assert result.seller_reserve == D("54.85")


def test_repayment_of_exactly_what_is_owed_leaves_no_reserve():
    result = settlement_waterfall(repaid=D("516.19"), currency="EUR", claims=CLAIMS)
    assert result.investors["a"].total == D("200.88")
    assert result.investors["b"].total == D("315.31")
    assert result.seller_reserve == D("0")


def test_over_payment_goes_to_the_seller():
    result = settlement_waterfall(repaid=D("600.00"), currency="EUR", claims=CLAIMS)
    assert result.investors["a"].total == D("200.88")
    assert result.investors["b"].total == D("315.31")
    assert result.seller_reserve == D("83.81")


def test_partial_repayment_is_pro_rata_to_claims_principal_first():
    # 300.00 split by 200.88 : 315.31 -> exact 11674.77 and 18325.23 cents,
    # floors 11674 + 18325, the leftover cent to a (.77)
    result = settlement_waterfall(repaid=D("300.00"), currency="EUR", claims=CLAIMS)
    assert result.investors == {
        "a": InvestorPayout(principal=D("116.75"), discount_fee=D("0")),
        "b": InvestorPayout(principal=D("183.25"), discount_fee=D("0")),
    }
    assert result.seller_reserve == 0


def test_partial_repayment_above_principal_pays_part_of_the_fee():
    # 515.00 -> exact 20041.69 and 31458.31 cents, floors 20041 + 31458, cent to a
    result = settlement_waterfall(repaid=D("515.00"), currency="EUR", claims=CLAIMS)
    assert result.investors == {
        "a": InvestorPayout(principal=D("200.00"), discount_fee=D("0.42")),
        "b": InvestorPayout(principal=D("313.94"), discount_fee=D("0.64")),
    }
    assert result.seller_reserve == 0


def test_zero_repayment():
    result = settlement_waterfall(repaid=D("0"), currency="EUR", claims=CLAIMS)
    assert all(p.total == 0 for p in result.investors.values())
    assert result.seller_reserve == 0


@pytest.mark.parametrize(
    ("repaid", "claims"),
    [(D("-0.01"), CLAIMS), (D("1.001"), CLAIMS)],
    ids=["negative", "sub-minor"],
)
def test_invalid_input(repaid, claims):
    with pytest.raises(ValueError):
        settlement_waterfall(repaid=repaid, currency="EUR", claims=claims)


def test_no_claims_left_everything_goes_to_the_seller():
    """After investors were made whole (e.g. by recourse), a late payment is the seller's:
    first what the seller owes back, then the reserve."""
    result = settlement_waterfall(
        repaid=D("10.00"), currency="EUR", claims={}, seller_receivable=D("4.00")
    )
    assert (result.seller_receivable, result.seller_reserve) == (D("4.00"), D("6.00"))


claim_strategy = st.builds(
    lambda principal, fee: InvestorClaim(from_minor(principal, "EUR"), from_minor(fee, "EUR")),
    st.integers(min_value=1, max_value=10**9),
    st.integers(min_value=0, max_value=10**7),
)


@given(
    claims=st.lists(claim_strategy, min_size=1, max_size=25),
    repaid_units=st.integers(min_value=0, max_value=3 * 10**10),
)
def test_payouts_plus_reserve_always_equal_the_repayment(claims, repaid_units):
    keyed = dict(enumerate(claims))
    repaid = from_minor(repaid_units, "EUR")
    result = settlement_waterfall(repaid=repaid, currency="EUR", claims=keyed)
    paid = sum((p.total for p in result.investors.values()), D(0))
    assert paid + result.seller_reserve == repaid
    assert result.seller_reserve >= 0
    owed = sum((c.total for c in claims), D(0))
    for key, claim in keyed.items():
        payout = result.investors[key]
        assert 0 <= payout.principal <= claim.principal
        assert 0 <= payout.discount_fee <= claim.discount_fee
        if payout.discount_fee > 0:
            assert payout.principal == claim.principal  # principal before fee
        if repaid >= owed:
            assert payout == InvestorPayout(claim.principal, claim.discount_fee)
    if repaid < owed:
        assert result.seller_reserve == 0


late_claim_strategy = st.builds(
    lambda principal, fee, late: InvestorClaim(
        from_minor(principal, "EUR"), from_minor(fee, "EUR"), from_minor(late, "EUR")
    ),
    st.integers(min_value=0, max_value=10**8),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
)


@given(
    claims=st.lists(late_claim_strategy, min_size=0, max_size=15),
    repaid_units=st.integers(min_value=0, max_value=3 * 10**9),
    late_fee_units=st.integers(min_value=0, max_value=10**6),
    receivable_units=st.integers(min_value=0, max_value=10**8),
)
def test_every_tier_sums_to_the_repayment_in_priority_order(
    claims, repaid_units, late_fee_units, receivable_units
):
    keyed = dict(enumerate(claims))
    repaid = from_minor(repaid_units, "EUR")
    late_fee = from_minor(late_fee_units, "EUR")
    receivable = from_minor(receivable_units, "EUR")
    result = settlement_waterfall(
        repaid=repaid,
        currency="EUR",
        claims=keyed,
        platform_late_fee=late_fee,
        seller_receivable=receivable,
    )
    parts = [result.investors_total, result.platform_late_fee, result.seller_receivable]
    assert sum(parts, D(0)) + result.seller_reserve == repaid
    assert all(p >= 0 for p in parts) and result.seller_reserve >= 0
    core_owed = sum((c.principal + c.discount_fee for c in claims), D(0))
    late_owed = sum((c.late_interest for c in claims), D(0))
    core_paid = sum((p.principal + p.discount_fee for p in result.investors.values()), D(0))
    late_paid = sum((p.late_interest for p in result.investors.values()), D(0))
    for key, claim in keyed.items():
        payout = result.investors[key]
        assert payout.principal <= claim.principal
        assert payout.discount_fee <= claim.discount_fee
        assert payout.late_interest <= claim.late_interest
    # each tier is paid only once the tiers above it are paid in full
    assert core_paid == min(repaid, core_owed)
    if late_paid > 0:
        assert core_paid == core_owed
    if result.platform_late_fee > 0:
        assert late_paid == late_owed
    if result.seller_receivable > 0:
        assert result.platform_late_fee == late_fee
    if result.seller_reserve > 0:
        assert result.seller_receivable == receivable
