"""The pool's NAV and share arithmetic (pools.nav, pure): the formula's terms, the rounding
in favour of the holders who stay, the share register reconciling to the minor unit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pools.nav import (
    Position,
    amount_for_shares,
    annualised,
    holder_values,
    nav_per_share,
    net_asset_value,
    projected_value,
    shares_for_amount,
)

D = Decimal
DAY = dt.date(2026, 1, 1)


def position(**overrides):
    fields = {
        "principal": D("1000.00"),
        "principal_repaid": D(0),
        "discount_rate": D("0.10"),
        "discount_fee": D("8.22"),
        "fee_repaid": D(0),
        "disbursed_on": DAY,
        "due_date": DAY + dt.timedelta(days=30),
    }
    return Position(**{**fields, **overrides})


def test_fee_accrues_daily_act_365f_up_to_the_due_date_and_no_further():
    # 1000 x 0.10 x 10 / 365 = 2.7397..
    nav = net_asset_value(
        currency="EUR",
        cash=D("100.00"),
        positions=[position()],
        shares_outstanding=D(1000),
        today=DAY + dt.timedelta(days=10),
    )
    assert nav.principal == D("1000.00")
    assert round(nav.accrued_fee, 6) == D("2.739726")
    assert nav.net_assets == D("1102.74")
    at_due = net_asset_value(
        currency="EUR",
        cash=D(0),
        positions=[position()],
        shares_outstanding=D(1),
        today=DAY + dt.timedelta(days=30),
    )
    assert at_due.accrued_fee == D("8.22")  # capped at the fee fixed at disbursement


def test_provisions_by_days_past_due_bucket_and_default():
    due = DAY + dt.timedelta(days=30)
    rates = {
        "current": D(0),
        "1-30": D("0.10"),
        "31-60": D("0.25"),
        "61-90": D("0.50"),
        "default": D(1),
    }
    for days_late, rate in (
        (0, D(0)),
        (5, D("0.10")),
        (45, D("0.25")),
        (75, D("0.50")),
        (120, D(1)),
    ):
        nav = net_asset_value(
            currency="EUR",
            cash=D(0),
            positions=[position()],
            shares_outstanding=D(1),
            today=due + dt.timedelta(days=days_late),
            provision_rates=rates,
        )
        assert nav.provisions == rate * (D("1000.00") + D("8.22")), days_late
    defaulted = net_asset_value(
        currency="EUR",
        cash=D(0),
        positions=[position(defaulted=True)],
        shares_outstanding=D(1),
        today=DAY,
        provision_rates=rates,
    )
    assert defaulted.net_assets == 0
    # Paid: nothing outstanding, nothing provisioned (released).
    paid = position(principal_repaid=D("1000.00"), fee_repaid=D("8.22"))
    nav = net_asset_value(
        currency="EUR",
        cash=D("1008.22"),
        positions=[paid],
        shares_outstanding=D(1),
        today=due + dt.timedelta(days=200),
        provision_rates=rates,
    )
    assert (nav.provisions, nav.net_assets) == (0, D("1008.22"))


def test_empty_pool_starts_at_one_per_share():
    assert nav_per_share(D(0), D(0)) == 1
    assert shares_for_amount(D("250.00"), net_assets=D(0), shares_outstanding=D(0)) == 250
    with pytest.raises(ZeroDivisionError):  # shares but nothing left: deposits refused
        shares_for_amount(D("250.00"), net_assets=D(0), shares_outstanding=D(10))


amounts = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
navs = st.decimals(min_value=D("0.5"), max_value=D("3"), places=10)


@settings(max_examples=400, deadline=None)
@given(
    holdings=st.lists(amounts, min_size=1, max_size=6),
    price=navs,
    new=amounts,
    redeem_index=st.integers(min_value=0, max_value=5),
)
def test_deposits_and_redemptions_at_nav_never_move_other_holders(
    holdings, price, new, redeem_index
):
    shares = {
        i: shares_for_amount(a, net_assets=D(0), shares_outstanding=D(0))
        for i, a in enumerate(holdings)
    }
    total = sum(shares.values())
    net = (total * price).quantize(D("0.01"))
    assume(net > 0)

    def exact(holder, net_assets, outstanding):
        return shares[holder] * net_assets / outstanding

    before = {h: exact(h, net, total) for h in shares}
    # A newcomer deposits at NAV: nobody else's value goes down, or up by a minor unit.
    bought = shares_for_amount(new, net_assets=net, shares_outstanding=total)
    net2, total2 = net + new, total + bought
    for h in before:
        change = exact(h, net2, total2) - before[h]
        assert D(0) <= change < D("0.01")
    # One holder redeems everything at NAV: the same for the others.
    r = redeem_index % len(shares)
    paid = amount_for_shares(shares[r], net_assets=net2, shares_outstanding=total2, currency="EUR")
    assert paid <= exact(r, net2, total2)
    net3, total3 = net2 - paid, total2 - shares[r]
    for h in before:
        if h != r and total3 > 0:
            change = exact(h, net3, total3) - exact(h, net2, total2)
            assert D(0) <= change < D("0.01")


@settings(max_examples=300, deadline=None)
@given(
    net=amounts,
    holdings=st.lists(
        st.decimals(min_value=D("0.0000000001"), max_value=D("100000"), places=10),
        min_size=1,
        max_size=8,
    ),
)
def test_the_share_register_reconciles_to_the_minor_unit(net, holdings):
    register = dict(enumerate(holdings))
    values = holder_values(net, register, "EUR")
    assert sum(values.values()) == net
    total = sum(holdings)
    # shares outstanding x NAV per share = net assets, to the minor unit.
    assert (total * nav_per_share(net, total)).quantize(D("0.01")) == net or abs(
        total * nav_per_share(net, total) - net
    ) < D("0.01")


def test_apy_and_projection_formulas():
    assert annualised(D(1), D("1.01"), 30) == D("0.128695")  # 1.01 ** (365/30) - 1
    assert annualised(D(1), D("1.1"), 0) is None
    assert projected_value(D("1000.00"), D("0.10"), 365, "EUR") == D("1100.00")
    assert projected_value(D("1000.00"), D("0.10"), 0, "EUR") == D("1000.00")
