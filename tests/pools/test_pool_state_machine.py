"""A hypothesis state machine over the pool's real services on PostgreSQL: deposits,
redemption requests, FIFO payments, cancellations, allocation to listings and their repayment
(on time or late), default and write-off, and the daily NAV. After every step: the books
balance, the share register reconciles to the minor unit, the pool's cash is never negative,
redemptions were paid in FIFO order, and a deposit or a redemption payment never lowered
another holder's value."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import TestCase
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from marketplace.models import Listing
from paymint.core import clock
from pools.enums import RedemptionStatus
from pools.models import Pool, PoolHolding, RedemptionPayment, RedemptionRequest
from pools.nav import holder_values
from pools.selectors import pool_nav
from pools.services import (
    auto_invest_listing,
    pool_create,
    pool_deposit,
    pool_nav_snapshot,
    pool_redemptions_pay,
    redemption_cancel,
    redemption_request,
)
from settlements.services import bank_event_apply
from settlements.services.collections import invoice_age
from tests.helpers import LISTING_DAY, assert_books_balanced, bank_event, deposit, listed_invoice

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def exact_values(pool, today):
    pool = Pool.objects.select_related("account").get(pk=pool.pk)
    nav = pool_nav(pool=pool, today=today)
    register = dict(PoolHolding.objects.filter(pool=pool).values_list("investor_id", "shares"))
    total = sum(register.values())
    if total <= 0:
        return {}
    return {k: v * nav.net_assets / total for k, v in register.items()}


def test_pool_state_machine(staff, seller, make_investor, settings):
    settings.PAYMINT = {**settings.PAYMINT, "POOL_REDEMPTION_NOTICE_DAYS": 0}
    with clock.frozen_at(LISTING_DAY):
        pool = pool_create(
            currency="EUR", actor=staff, max_listing_share=D("0.5"), cash_buffer_rate=D("0.05")
        )
    people = [make_investor() for _ in range(3)]
    for person in people:
        deposit(person, D("5000.00"))
    listings = [listed_invoice(seller)] + [
        listed_invoice(seller, variant=f"sm-{n}", invoice_number=f"SM-{n}") for n in (2, 3)
    ]
    counter = {"event": 0}

    class PoolMachine(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.day = LISTING_DAY

        def _moved(self, action, who):
            """Run ``action``; no holder but ``who`` (the depositor; for payments, the holders
            paid) may see their exact value go down."""
            before = exact_values(pool, self.day)
            paid_before = set(RedemptionPayment.objects.values_list("pk", flat=True))
            action()
            paid = set(
                RedemptionPayment.objects.exclude(pk__in=paid_before).values_list(
                    "request__investor_id", flat=True
                )
            )
            after = exact_values(pool, self.day)
            for holder, value in before.items():
                if holder != who and holder not in paid and holder in after:
                    assert after[holder] - value >= D("-0.0000001"), (holder, value, after)

        @rule(i=st.integers(0, 2), amount=st.decimals(D("1.00"), D("400.00"), places=2))
        def deposit(self, i, amount):
            with clock.frozen_at(self.day):
                self._moved(
                    lambda: pool_deposit(pool=pool, investor=people[i], amount=amount), people[i].pk
                )

        @rule(i=st.integers(0, 2), part=st.decimals(D("0.05"), D("1"), places=2))
        def request(self, i, part):
            holding = PoolHolding.objects.filter(pool=pool, investor=people[i]).first()
            queued = sum(
                (
                    r.shares - r.shares_paid
                    for r in RedemptionRequest.objects.filter(
                        pool=pool, investor=people[i], status=RedemptionStatus.QUEUED
                    )
                ),
                D(0),
            )
            free = (holding.shares if holding else D(0)) - queued
            shares = (free * part).quantize(D("0.0000000001"))
            if shares > 0:
                with clock.frozen_at(self.day):
                    redemption_request(pool=pool, investor=people[i], shares=shares)

        @rule()
        def pay(self):
            with clock.frozen_at(self.day):
                self._moved(lambda: pool_redemptions_pay(pool_id=pool.pk), None)

        @rule(i=st.integers(0, 2))
        def cancel(self, i):
            queued = RedemptionRequest.objects.filter(
                pool=pool, investor=people[i], status=RedemptionStatus.QUEUED
            ).first()
            if queued is not None:
                redemption_cancel(request=queued, investor=people[i])

        @rule(k=st.integers(0, 2))
        def allocate(self, k):
            if self.day == LISTING_DAY:
                with clock.frozen_at(self.day):
                    auto_invest_listing(listing_id=listings[k].pk)

        @rule(days=st.integers(1, 60))
        def time_passes(self, days):
            self.day += dt.timedelta(days=days)
            for listing in listings:
                listing.refresh_from_db()
                if listing.invoice.status in ("DISBURSED", "OVERDUE"):
                    with clock.frozen_at(self.day), TestCase.captureOnCommitCallbacks(execute=True):
                        invoice_age(invoice_id=listing.invoice_id)
            with clock.frozen_at(self.day):
                pool_nav_snapshot(pool_id=pool.pk)

        @rule(k=st.integers(0, 2), part=st.sampled_from([D("1"), D("0.5")]))
        def repay(self, k, part):
            listing = Listing.objects.select_related("invoice").get(pk=listings[k].pk)
            if listing.invoice.status in ("DISBURSED", "OVERDUE", "DEFAULTED", "WRITTEN_OFF"):
                counter["event"] += 1
                amount = (listing.face_value * part).quantize(D("0.01"))
                with clock.frozen_at(self.day), TestCase.captureOnCommitCallbacks(execute=True):
                    bank_event_apply(
                        payload=bank_event(
                            f"evt_sm_{counter['event']}_{pool.pk}",
                            "repayment.received",
                            listing.invoice.repayment_reference,
                            amount,
                        )
                    )

        @invariant()
        def books_and_register(self):
            assert_books_balanced()
            current = Pool.objects.select_related("account").get(pk=pool.pk)
            nav = pool_nav(pool=current, today=getattr(self, "day", LISTING_DAY))
            assert nav.cash >= 0
            register = dict(
                PoolHolding.objects.filter(pool=pool).values_list("investor_id", "shares")
            )
            assert sum(register.values(), D(0)) == current.shares_outstanding
            if register and nav.net_assets > 0:
                values = holder_values(nav.net_assets, register, "EUR")
                assert sum(values.values()) == nav.net_assets

        @invariant()
        def fifo(self):
            paid = list(
                RedemptionPayment.objects.filter(request__pool=pool)
                .order_by("id")
                .values_list("request__created_at", "request_id")
            )
            # A request is paid only once every earlier queued request was paid in full or
            # cancelled: payments come in request order within each run.
            for earlier, later in zip(paid, paid[1:], strict=False):
                if later[1] != earlier[1]:
                    assert (
                        later[0] >= earlier[0]
                        or RedemptionRequest.objects.get(pk=earlier[1]).status
                        != RedemptionStatus.QUEUED
                    )

    PoolMachine.TestCase.settings = hypothesis_settings(
        max_examples=4,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    PoolMachine.TestCase().runTest()
