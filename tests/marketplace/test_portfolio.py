"""XIRR (marketplace.portfolio.xirr) against hand-worked examples."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from marketplace.portfolio import xirr

D = Decimal


def test_one_year_ten_percent():
    # 1000 out, 1100 back exactly 365 days later: (1100 / 1000) ** (365 / 365) - 1 = 10 %.
    flows = [(dt.date(2021, 1, 1), D("-1000")), (dt.date(2022, 1, 1), D("1100"))]
    assert xirr(flows) == D("0.100000")


def test_invoice_position_by_hand():
    # 1000 funded on 22 Nov 2020, 1005.48 back on 12 Dec 2020 (20 days):
    # r = 1.00548 ** (365 / 20) - 1: ln 1.00548 = 0.0054650; x 18.25 = 0.0997370;
    # e ** 0.0997370 = 1.104880, so r = 10.4880 % a year.
    flows = [(dt.date(2020, 11, 22), D("-1000")), (dt.date(2020, 12, 12), D("1005.48"))]
    expected = (D("1.00548") ** (D(365) / D(20))) - 1
    assert xirr(flows) == expected.quantize(D("0.000001"))
    assert xirr(flows) == D("0.104880")


def test_spreadsheet_reference_example():
    # The classic spreadsheet XIRR example (ACT/365): 37.3362535 %.
    flows = [
        (dt.date(2008, 1, 1), D("-10000")),
        (dt.date(2008, 3, 1), D("2750")),
        (dt.date(2008, 10, 30), D("4250")),
        (dt.date(2009, 2, 15), D("3250")),
        (dt.date(2009, 4, 1), D("2750")),
    ]
    assert xirr(flows) == D("0.373363")
    # Order does not matter.
    assert xirr(list(reversed(flows))) == D("0.373363")


def test_a_loss_is_a_negative_rate():
    flows = [(dt.date(2021, 1, 1), D("-1000")), (dt.date(2022, 1, 1), D("600"))]
    assert xirr(flows) == D("-0.400000")


@pytest.mark.parametrize("guess", [D("-0.99"), D("0"), D("5"), D("500")])
def test_bad_guesses_fall_back_to_bisection(guess):
    flows = [(dt.date(2021, 1, 1), D("-1000")), (dt.date(2022, 1, 1), D("1100"))]
    assert xirr(flows, guess=guess) == D("0.100000")


def test_newton_disabled_uses_bisection_alone():
    flows = [(dt.date(2020, 11, 22), D("-1000")), (dt.date(2020, 12, 12), D("1005.48"))]
    assert xirr(flows, max_newton_steps=0) == xirr(flows)


def test_same_day_flows_are_summed_and_order_free():
    flows = [
        (dt.date(2021, 1, 1), D("-600")),
        (dt.date(2021, 1, 1), D("-400")),
        (dt.date(2022, 1, 1), D("1100")),
    ]
    assert xirr(flows) == D("0.100000")


@pytest.mark.parametrize(
    "flows",
    [
        [],
        [(dt.date(2021, 1, 1), D("-1000"))],
        [(dt.date(2021, 1, 1), D("-1000")), (dt.date(2021, 1, 1), D("1100"))],  # one date
        [(dt.date(2021, 1, 1), D("-1000")), (dt.date(2022, 1, 1), D("-5"))],  # all out
        [(dt.date(2021, 1, 1), D("1000")), (dt.date(2022, 1, 1), D("5"))],  # all in
        [(dt.date(2021, 1, 1), D("0")), (dt.date(2022, 1, 1), D("0"))],
        [(dt.date(2021, 1, 1), D("-1")), (dt.date(2021, 1, 2), D("1000000"))],  # absurd
    ],
)
def test_no_rate(flows):
    assert xirr(flows) is None
