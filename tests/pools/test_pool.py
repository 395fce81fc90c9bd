"""The liquidity pool through its services: deposits at NAV, allocation through the funding
service, repayment raising the NAV, redemptions paid FIFO (in part when cash is short),
cancellation, refusals that write nothing, and the worked example of the README."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.test import TestCase

from accounts.models import User
from accounts.services import staff_user_create
from marketplace.models import Investment
from notifications.channels import email_deliverable
from notifications.models import Notification
from paymint.core import clock
from paymint.core.errors import ApplicationError
from paymint.core.models import OutboundMessage
from pools.enums import AutoInvestOutcome, RedemptionStatus
from pools.models import AutoInvestLog, NavSnapshot, Pool, PoolDeposit, PoolHolding
from pools.nav import holder_values
from pools.selectors import pool_holdings, pool_nav, pool_position
from pools.services import (
    auto_invest_listing,
    pool_allocation_pause,
    pool_create,
    pool_deposit,
    pool_nav_snapshot,
    pool_redemptions_pay,
    pool_settings_update,
    redemption_cancel,
    redemption_request,
)
from settlements.services import bank_event_apply
from tests.factories import mustang_listing
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    STRONG_PASSWORD,
    assert_books_balanced,
    bank_event,
    db_counts,
    deposit,
)

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_notice(settings):
    settings.PAYMINT = {**settings.PAYMINT, "POOL_REDEMPTION_NOTICE_DAYS": 0}


@pytest.fixture
def pool(staff):
    with clock.frozen_at(LISTING_DAY):
        return pool_create(
            currency="EUR", actor=staff, max_listing_share=D("1"), cash_buffer_rate=D("0")
        )


def reload(pool):
    return Pool.objects.select_related("account").get(pk=pool.pk)


def register_reconciles(pool, today):
    pool = reload(pool)
    nav = pool_nav(pool=pool, today=today)
    holdings = dict(PoolHolding.objects.filter(pool=pool).values_list("investor_id", "shares"))
    assert sum(holdings.values()) == pool.shares_outstanding
    assert sum(holder_values(nav.net_assets, holdings, "EUR").values()) == nav.net_assets
    return nav


def test_a_deposit_buys_shares_at_nav_in_one_balanced_entry(pool, make_investor):
    alice = make_investor()
    deposit(alice, D("1000.00"))
    with clock.frozen_at(LISTING_DAY):
        made, created = pool_deposit(
            pool=pool, investor=alice, amount="600.00", idempotency_key="d1"
        )
        replay, again = pool_deposit(
            pool=pool, investor=alice, amount="600.00", idempotency_key="d1"
        )
        with pytest.raises(ApplicationError) as reused:
            pool_deposit(pool=pool, investor=alice, amount="601.00", idempotency_key="d1")
    assert (created, again, replay.pk) == (True, False, made.pk)
    assert reused.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert (made.shares, made.nav_per_share) == (D(600), D(1))
    assert sorted(made.entry.postings.values_list("amount", flat=True)) == [D(-600), D(600)]
    assert reload(pool).shares_outstanding == D(600)
    assert register_reconciles(pool, LISTING_DAY).net_assets == D("600.00")
    assert_books_balanced()


@pytest.mark.parametrize("case", ["paused", "short", "seller"])
def test_refused_deposits_write_nothing(pool, make_investor, seller, staff, case):
    alice = make_investor()
    deposit(alice, D("100.00"))
    who = seller if case == "seller" else alice
    if case == "paused":
        pool_settings_update(pool=pool, actor=staff, deposits_paused=True)
    before = (db_counts(), PoolDeposit.objects.count(), PoolHolding.objects.count())
    with pytest.raises(ApplicationError) as refused:
        pool_deposit(pool=reload(pool), investor=who, amount="250.00")
    assert (
        refused.value.code
        == {
            "paused": "POOL_DEPOSITS_PAUSED",
            "short": "INSUFFICIENT_FUNDS",
            "seller": "NOT_AN_INVESTOR",
        }[case]
    )
    assert (db_counts(), PoolDeposit.objects.count(), PoolHolding.objects.count()) == before


def test_the_pool_funds_a_listing_through_the_funding_service_within_its_policy(
    seller, staff, make_investor
):
    with clock.frozen_at(LISTING_DAY):
        pool = pool_create(
            currency="EUR", actor=staff, max_listing_share=D("0.5"), cash_buffer_rate=D("0.10")
        )
    alice = make_investor()
    deposit(alice, D("1000.00"))
    with clock.frozen_at(LISTING_DAY):
        pool_deposit(pool=pool, investor=alice, amount="300.00")
    listing = mustang_listing(seller)
    with clock.frozen_at(LISTING_DAY):
        auto_invest_listing(listing_id=listing.pk)
    investment = Investment.objects.get(listing=listing)
    # Cash 300, buffer 10 % of net assets = 30: at most 270, and at most half the advance.
    assert investment.investor_id == pool.account_id
    assert investment.amount == min(D("270.00"), (listing.advance_amount / 2).quantize(D("0.01")))
    log = AutoInvestLog.objects.get(listing=listing)
    assert (log.outcome, log.rule, log.rule_snapshot["max_listing_share"]) == (
        AutoInvestOutcome.INVESTED,
        None,
        "0.500000",
    )
    # Paused allocation (four eyes): the next listing is left alone.
    other = staff_user_create(email="ops2@example.com", password=STRONG_PASSWORD)
    assert not pool_allocation_pause(pool=pool, actor=staff).allocation_paused
    with pytest.raises(ApplicationError) as same:
        pool_allocation_pause(pool=pool, actor=staff)
    assert same.value.code == "FOUR_EYES_SAME_REVIEWER"
    assert pool_allocation_pause(pool=pool, actor=other).allocation_paused
    second = mustang_listing(seller, invoice_number="RE-2")
    with clock.frozen_at(LISTING_DAY):
        auto_invest_listing(listing_id=second.pk)
    assert not Investment.objects.filter(listing=second).exists()
    assert_books_balanced()


def test_redemptions_are_paid_fifo_in_part_and_can_be_cancelled(pool, seller, make_investor):
    alice, bob, carol = make_investor(), make_investor(), make_investor()
    for person in (alice, bob, carol):
        deposit(person, D("1000.00"))
    with clock.frozen_at(LISTING_DAY):
        for person in (alice, bob, carol):
            pool_deposit(pool=pool, investor=person, amount="300.00")
    listing = mustang_listing(seller)  # the pool invests most of its cash
    with clock.frozen_at(LISTING_DAY):
        auto_invest_listing(listing_id=listing.pk)
        cash = pool_nav(pool=reload(pool)).cash
        assert cash == D("900.00") - listing.advance_amount
        first, _ = redemption_request(pool=pool, investor=alice, shares="300")
        second, _ = redemption_request(pool=pool, investor=bob, amount="300.00")
        third, _ = redemption_request(pool=pool, investor=carol, shares="10")
        with pytest.raises(ApplicationError) as too_many:
            redemption_request(pool=pool, investor=alice, shares="1")
        assert too_many.value.code == "INSUFFICIENT_SHARES"
        position = pool_position(pool=reload(pool), investor=carol)
        assert [(r["place"], r["shares_ahead"]) for r in position["redemptions"]] == [(3, D(600))]
        payments = pool_redemptions_pay(pool_id=pool.pk)
    for request in (first, second, third):
        request.refresh_from_db()
    # First in, first out: the first in full, the second with what is left, the third waits.
    assert [p.request_id for p in payments] == [first.pk, second.pk]
    assert (first.status, first.amount_paid) == (RedemptionStatus.PAID, D("300.00"))
    assert second.status == RedemptionStatus.QUEUED
    assert second.amount_paid == cash - D("300.00") and 0 < second.shares_paid < 300
    assert third.shares_paid == 0
    assert pool_nav(pool=reload(pool)).cash == 0
    cancelled = redemption_cancel(request=second, investor=bob)
    assert cancelled.status == RedemptionStatus.CANCELLED
    holding = PoolHolding.objects.get(pool=pool, investor=bob)
    assert holding.shares == D(300) - second.shares_paid
    register_reconciles(pool, LISTING_DAY)
    assert_books_balanced()


def test_worked_example_deposit_allocate_repay_nav_rises_redeem(pool, seller, make_investor):
    """README's worked example: Alice deposits 1 000, the pool funds a listing, Bob deposits
    500 ten days later at a higher NAV, the debtor repays, Alice redeems everything."""
    alice, bob = make_investor(), make_investor()
    deposit(alice, D("1000.00"))
    deposit(bob, D("500.00"))
    with clock.frozen_at(LISTING_DAY):
        pool_deposit(pool=pool, investor=alice, amount="1000.00")
    listing = mustang_listing(seller)
    with clock.frozen_at(LISTING_DAY):
        auto_invest_listing(listing_id=listing.pk)
    listing.refresh_from_db()
    assert listing.invoice.status == "DISBURSED"
    investment = Investment.objects.get(listing=listing)
    day10 = LISTING_DAY + dt.timedelta(days=10)
    with clock.frozen_at(day10):
        nav10 = register_reconciles(pool, day10)
        alice_before = pool_position(pool=reload(pool), investor=alice)["value"]
        made, _ = pool_deposit(pool=reload(pool), investor=bob, amount="500.00")
        alice_after = pool_position(pool=reload(pool), investor=alice)["value"]
    assert nav10.nav_per_share > 1 and made.shares < 500
    assert abs(alice_after - alice_before) <= D("0.01")
    # The back office's holdings value each investment as the NAV does: current at day 10,
    # 25 % provisioned 45 days past due (principal + the whole fee, accrued by then).
    current, late = (
        pool_holdings(pool=reload(pool), today=day)
        for day in (day10, MUSTANG_DUE + dt.timedelta(days=45))
    )
    number = listing.invoice.invoice_number
    assert [(h["invoice_number"], h["bucket"], h["principal"]) for h in current] == [
        (number, "current", investment.amount)
    ]
    assert current[0]["accrued_fee"] == nav10.accrued_fee.quantize(D("0.01"))
    assert current[0]["provision"] == 0
    assert (late[0]["bucket"], late[0]["provision"]) == (
        "31-60",
        ((investment.amount + investment.discount_fee) * D("0.25")).quantize(D("0.01")),
    )
    with clock.frozen_at(MUSTANG_DUE), TestCase.captureOnCommitCallbacks(execute=True):
        bank_event_apply(
            payload=bank_event(
                "evt_pool_repay",
                "repayment.received",
                listing.invoice.repayment_reference,
                listing.face_value,
            )
        )
    investment.refresh_from_db()
    assert investment.status == "SETTLED"
    with clock.frozen_at(MUSTANG_DUE):
        nav_due = register_reconciles(pool, MUSTANG_DUE)
        assert nav_due.net_assets == D("1500.00") + investment.discount_fee
        assert nav_due.nav_per_share > nav10.nav_per_share
        request, _ = redemption_request(pool=reload(pool), investor=alice, shares="1000")
        pool_redemptions_pay(pool_id=pool.pk)
        snapshot = pool_nav_snapshot(pool_id=pool.pk)
    request.refresh_from_db()
    assert request.status == RedemptionStatus.PAID
    assert request.amount_paid > D("1000.00")
    assert snapshot.net_assets == nav_due.net_assets - request.amount_paid
    assert NavSnapshot.objects.filter(pool=pool).count() == 1
    register_reconciles(pool, MUSTANG_DUE)
    assert_books_balanced()


def test_managing_pools_takes_the_operations_role_and_a_valid_policy(staff, pool):
    """Services check the back-office permission themselves (not only the admin's actions),
    and a policy the database would refuse is a typed error that writes nothing."""
    auditor = staff_user_create(
        email="auditor@example.com", password=STRONG_PASSWORD, roles=("compliance",)
    )
    for attempt in (
        lambda: pool_create(currency="USD", actor=auditor),
        lambda: pool_settings_update(pool=pool, actor=auditor, deposits_paused=True),
        lambda: pool_allocation_pause(pool=pool, actor=auditor),
    ):
        with pytest.raises(ApplicationError) as refused:
            attempt()
        assert refused.value.code == "PERMISSION_DENIED"
    before = (Pool.objects.count(), User.objects.count())
    for policy in (
        {"max_listing_share": D("1.5")},
        {"cash_buffer_rate": D("1")},
        {"grades": ["Z"]},
        {"min_tenor_days": 90, "max_tenor_days": 30},
        {"max_debtor_exposure": D("0")},
    ):
        with pytest.raises(ApplicationError) as invalid:
            pool_create(currency="USD", actor=staff, **policy)
        assert invalid.value.code == "INVALID_POOL_POLICY"
    assert (Pool.objects.count(), User.objects.count()) == before
    assert reload(pool).deposits_paused is False


def test_the_pool_create_command_opens_one_pool_per_currency(staff):
    out = io.StringIO()
    call_command(
        "pool_create", "--currency", "usd", "--actor", staff.email, "--grades", "A,B",
        "--max-listing-share", "0.5", stdout=out,
    )
    pool = Pool.objects.get(currency="USD")
    assert (pool.grades, pool.max_listing_share) == (["A", "B"], D("0.5"))
    assert str(pool.public_id) in out.getvalue()
    with pytest.raises(CommandError, match="POOL_EXISTS"):
        call_command("pool_create", "--currency", "USD", "--actor", staff.email)


@pytest.mark.parametrize(
    ("address", "deliverable"),
    [
        ("anna@example.com", True),
        ("erased-1@invalid", False),
        ("pool-eur@pools.paymint.invalid", False),
        ("someone@invalid.example.com", True),
        ("", False),
    ],
)
def test_mail_is_never_addressed_to_the_reserved_invalid_domain(address, deliverable):
    assert email_deliverable(address) is deliverable


def test_the_pools_own_account_is_told_in_the_app_but_never_mailed(
    staff, seller, make_investor, django_capture_on_commit_callbacks
):
    alice = make_investor()
    deposit(alice, D("1000.00"))
    with django_capture_on_commit_callbacks(execute=True), clock.frozen_at(LISTING_DAY):
        pool = pool_create(currency="EUR", actor=staff, max_listing_share=D("1"))
        pool_deposit(pool=pool, investor=alice, amount="900.00")
    listing = mustang_listing(seller)
    with django_capture_on_commit_callbacks(execute=True), clock.frozen_at(LISTING_DAY):
        auto_invest_listing(listing_id=listing.pk)
    assert Investment.objects.filter(listing=listing, investor=pool.account).exists()
    assert Notification.objects.filter(recipient=pool.account).exists()
    assert not OutboundMessage.objects.filter(recipient=pool.account.email).exists()
    assert OutboundMessage.objects.filter(recipient=seller.email).exists()  # mail works


def test_a_repayment_reaching_the_pool_pays_its_queued_redemptions_at_once_fifo_once(
    pool, seller, make_investor
):
    """A repayment of a listing the pool funded pays the queued redemptions right after it
    commits (the pool's handler of ``repayment.received``), first in first out, without the
    beat job; running the payment task (or the dispatch) again pays nothing more."""
    from paymint.core.events import event_dispatch
    from paymint.core.models import DomainEvent
    from pools.models import RedemptionPayment
    from pools.tasks import pool_redemptions_pay_task

    alice, bob, carol = make_investor(), make_investor(), make_investor()
    for person, amount in ((alice, "300.00"), (bob, "200.00"), (carol, "300.00")):
        deposit(person, D("1000.00"))
        with clock.frozen_at(LISTING_DAY):
            pool_deposit(pool=pool, investor=person, amount=amount)
    listing = mustang_listing(seller)
    with clock.frozen_at(LISTING_DAY):
        auto_invest_listing(listing_id=listing.pk)
        cash = pool_nav(pool=reload(pool)).cash.quantize(D("0.01"))
        assert cash == D("800.00") - listing.advance_amount and 0 < cash < 300
        # Carol takes all the uninvested cash, so that the requests below wait for repayment.
        drained, _ = redemption_request(pool=pool, investor=carol, amount=str(cash))
        pool_redemptions_pay(pool_id=pool.pk)
        assert pool_nav(pool=reload(pool)).cash == 0
        first, _ = redemption_request(pool=pool, investor=alice, shares="300")
        second, _ = redemption_request(pool=pool, investor=bob, amount="100.00")
    # Queued (their after-commit task never ran): nothing paid before the repayment.
    assert not RedemptionPayment.objects.filter(request__in=[first, second]).exists()
    before = RedemptionPayment.objects.count()
    with clock.frozen_at(MUSTANG_DUE), TestCase.captureOnCommitCallbacks(execute=True):
        bank_event_apply(
            payload=bank_event(
                "evt_pool_repay_queue",
                "repayment.received",
                listing.invoice.repayment_reference,
                listing.face_value,
            )
        )
    event = DomainEvent.objects.get(name="repayment.received")
    assert str(reload(pool).account_id) in event.recipients and event.dispatched_at
    new = list(RedemptionPayment.objects.order_by("id")[before:])
    # The queue is paid in order, in full: Alice, then Bob.
    assert [p.request_id for p in new] == [first.pk, second.pk]
    for request in (drained, first, second):
        request.refresh_from_db()
        assert request.status == RedemptionStatus.PAID
    assert first.amount_paid > D("300.00")  # at the day's NAV, raised by the fee
    # Safe to run twice: the task again, and a replayed dispatch, pay nothing more.
    with clock.frozen_at(MUSTANG_DUE), TestCase.captureOnCommitCallbacks(execute=True):
        assert pool_redemptions_pay_task(pool.pk) == 0
        event_dispatch(event_id=event.pk)
        assert pool_redemptions_pay_task(pool.pk) == 0
    assert RedemptionPayment.objects.count() == before + 2
    register_reconciles(pool, MUSTANG_DUE)
    assert_books_balanced()
