"""End to end (issue #17): an investor reaches the liquidity pool from the dashboard, reads
its figures and NAV chart, deposits and redeems through the confirmation steps, cancels the
queued redemption, uses the calculator; and sets an auto-invest rule that funds the next
listing, shown in its log. Each page is audited at both widths and saved to
``artifacts/screenshots/``."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from marketplace.models import Investment
from paymint.core import clock
from pools.enums import AutoInvestOutcome, RedemptionStatus
from pools.models import AutoInvestLog, PoolHolding, RedemptionRequest
from pools.services import auto_invest_listing, pool_create, pool_deposit, pool_nav_snapshot
from tests.helpers import (
    LISTING_DAY,
    STRONG_PASSWORD,
    deposit,
    listed_invoice,
    sign_in,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
D = Decimal


@pytest.fixture
def business_day_all_threads():
    """The business clock on the Mustang invoice's listing day, for the live server too."""
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        yield LISTING_DAY


@pytest.fixture
def invested_pool(staff, seller, make_investor, business_day_all_threads):
    """A EUR pool another investor bought into, that funded the Mustang listing and stored
    the day's NAV (so the page has figures, allocation and a chart)."""
    pool = pool_create(currency="EUR", actor=staff, max_listing_share=D("0.5"),
                       cash_buffer_rate=D("0.10"))
    holder = make_investor()
    deposit(holder, "800.00")
    pool_deposit(pool=pool, investor=holder, amount="600.00")
    listing = listed_invoice(seller)
    auto_invest_listing(listing_id=listing.pk)  # idempotent: the listing's task ran it too
    assert Investment.objects.get(listing=listing).investor_id == pool.account_id
    pool_nav_snapshot(pool_id=pool.pk)
    return pool


def test_investor_deposits_redeems_and_cancels_in_the_pool(
    page, invested_pool, make_investor, check_page
):
    pool = invested_pool
    investor = make_investor()
    deposit(investor, "1000.00")

    sign_in(page, investor.email, STRONG_PASSWORD)
    expect(page.get_by_role("heading", name="Your portfolio")).to_be_visible()
    page.get_by_role("link", name="liquidity pools").click()
    expect(page.get_by_role("heading", name="Liquidity pools")).to_be_visible()
    check_page(page, "pools-list")

    page.get_by_role("link", name=pool.name).click()
    expect(page.get_by_role("heading", name=pool.name)).to_be_visible()
    expect(page.locator("canvas[data-chart='nav-data']")).to_be_visible()
    expect(page.get_by_text("Utilisation", exact=True)).to_be_visible()
    for chart in ("utilisation-data", "grade-data", "bucket-data"):  # allocation charts
        expect(page.locator(f"canvas[data-chart='{chart}'][data-chart-ready]")).to_be_visible()
    check_page(page, "pool")

    # Deposit, with a confirmation step at the NAV it buys at.
    page.locator("#deposit_amount").fill("200.00")
    page.get_by_role("button", name="Continue").first.click()
    expect(page.get_by_role("heading", name="Confirm your deposit")).to_be_visible()
    check_page(page, "pool-deposit-confirm")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text(re.compile(r"You bought [\d.]+ shares for"))).to_be_visible()
    holding = PoolHolding.objects.get(pool=pool, investor=investor)
    assert holding.invested == D("200.00") and holding.shares > 0
    check_page(page, "pool-after-deposit")

    # The calculator: an estimate, labelled so.
    page.locator("#id_amount").fill("1000")
    page.locator("#id_days").fill("90")
    page.get_by_role("button", name="Estimate").click()
    expect(page.get_by_text(re.compile(r"^Estimate, not a promise:"))).to_be_visible()
    check_page(page, "pool-calculator")

    # Redeem part, confirmed with today's estimate; queued (notice period), then cancelled.
    page.locator("#redeem_shares").fill("50")
    page.get_by_role("button", name="Continue").last.click()
    expect(page.get_by_role("heading", name="Confirm your redemption")).to_be_visible()
    check_page(page, "pool-redeem-confirm")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text(re.compile(r"Your redemption is queued"))).to_be_visible()
    request = RedemptionRequest.objects.get(pool=pool, investor=investor)
    assert (request.shares, request.status) == (D(50), RedemptionStatus.QUEUED)
    expect(page.get_by_text(re.compile(r"Place 1: 50\.0+ shares"))).to_be_visible()
    check_page(page, "pool-redemption-queued")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Your redemption request is cancelled.")).to_be_visible()
    request.refresh_from_db()
    assert request.status == RedemptionStatus.CANCELLED

    # The dashboard shows the pool position.
    page.goto("/investor/")
    positions = page.locator("section[aria-labelledby=pool-positions-title]")
    expect(positions.get_by_role("link", name=pool.name)).to_be_visible()
    expect(positions).to_contain_text("200.00")
    check_page(page, "investor-dashboard-pool-position")


def test_investor_sets_an_auto_invest_rule_that_funds_the_next_listing(
    page, seller, make_investor, check_page, business_day_all_threads
):
    investor = make_investor()
    deposit(investor, "500.00")

    sign_in(page, investor.email, STRONG_PASSWORD)
    page.get_by_role("link", name="auto-invest").click()
    expect(page.get_by_role("heading", name="Auto-invest")).to_be_visible()
    expect(page.get_by_text("Nothing yet.")).to_be_visible()
    check_page(page, "auto-invest-empty")

    page.get_by_label("EUR").check()
    page.get_by_label("A", exact=True).check()
    page.get_by_label("Amount per invoice").fill("120.00")
    page.get_by_label("Maximum per debtor").fill("1000.00")
    page.get_by_label("Cash to keep").fill("50.00")
    page.get_by_role("button", name="Save the rule").click()
    expect(page.get_by_text("Your auto-invest rule is saved.")).to_be_visible()
    expect(page.get_by_label("Amount per invoice")).to_have_value("120.00")

    listing = listed_invoice(seller)  # opens: the rule funds it
    auto_invest_listing(listing_id=listing.pk)
    log = AutoInvestLog.objects.get(listing=listing, investor=investor)
    assert (log.outcome, log.amount) == (AutoInvestOutcome.INVESTED, D("120.00"))
    page.reload()
    row = page.locator("tbody tr", has_text="RE-20201121/508")
    expect(row).to_contain_text("120.00")
    check_page(page, "auto-invest-log")
