"""The pool and auto-invest pages: the same services as the API, two-step money forms with an
idempotency key (a resent confirmation acts once), the calculator labelled as an estimate,
the owner-only cancel, and the rule form with its log."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from paymint.core import clock
from pools.models import AutoInvestRule, PoolDeposit, RedemptionRequest
from pools.services import pool_create
from tests.helpers import LISTING_DAY, deposit

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def pool(staff):
    with clock.frozen_at(LISTING_DAY):
        return pool_create(currency="EUR", actor=staff)


@pytest.fixture
def investor(make_investor):
    person = make_investor()
    deposit(person, "1000.00")
    return person


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]+)"', html).group(1)


def test_the_pool_page_deposit_in_two_steps_and_the_calculator(pool, investor, seller):
    client = login(investor)
    assert client.get(reverse("pools")).status_code == 200
    page = client.get(reverse("pool", args=[pool.public_id]), {"amount": "1000", "days": "90"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Estimate, not a promise" in html and "ACT/365F" in html
    confirm = client.post(reverse("pool-deposit", args=[pool.public_id]), {"amount": "250.00"})
    assert confirm.status_code == 200 and not PoolDeposit.objects.exists()
    key = hidden(confirm.content.decode(), "idempotency_key")
    body = {"amount": "250.00", "confirm": "1", "idempotency_key": key}
    done = client.post(reverse("pool-deposit", args=[pool.public_id]), body)
    again = client.post(reverse("pool-deposit", args=[pool.public_id]), body)
    assert done.status_code == again.status_code == 302
    assert PoolDeposit.objects.get().shares == D(250)
    refused = client.post(
        reverse("pool-deposit", args=[pool.public_id]),
        {"amount": "5000.00", "confirm": "1", "idempotency_key": "k2"},
    )
    assert refused.status_code == 400 and "Insufficient" in refused.content.decode()
    assert PoolDeposit.objects.count() == 1
    assert login(seller).get(reverse("pool", args=[pool.public_id])).status_code == 403


def test_redeem_in_two_steps_and_only_the_owner_cancels(pool, investor, make_investor):
    client = login(investor)
    key = hidden(
        client.post(
            reverse("pool-deposit", args=[pool.public_id]), {"amount": "300.00"}
        ).content.decode(),
        "idempotency_key",
    )
    client.post(
        reverse("pool-deposit", args=[pool.public_id]),
        {"amount": "300.00", "confirm": "1", "idempotency_key": key},
    )
    confirm = client.post(reverse("pool-redeem", args=[pool.public_id]), {"shares": "100"})
    assert confirm.status_code == 200 and "about 100.00" in confirm.content.decode()
    key = hidden(confirm.content.decode(), "idempotency_key")
    client.post(
        reverse("pool-redeem", args=[pool.public_id]),
        {"shares": "100", "confirm": "1", "idempotency_key": key},
    )
    request = RedemptionRequest.objects.get()
    assert request.status == "QUEUED"
    page = client.get(reverse("pool", args=[pool.public_id])).content.decode()
    assert "Place 1" in page
    cancel = reverse("pool-redemption-cancel", args=[pool.public_id, request.public_id])
    assert login(make_investor()).post(cancel).status_code == 404
    request.refresh_from_db()
    assert request.status == "QUEUED"
    assert client.post(cancel).status_code == 302
    request.refresh_from_db()
    assert request.status == "CANCELLED"


def test_the_auto_invest_page_saves_the_rule_through_the_service(investor):
    client = login(investor)
    assert client.get(reverse("auto-invest")).status_code == 200
    body = {
        "currencies": ["EUR"],
        "grades": ["A", "B"],
        "min_tenor_days": "0",
        "max_tenor_days": "120",
        "min_discount_rate": "8.5",
        "amount_per_invoice": "100",
        "max_per_debtor": "500",
        "cash_to_keep": "0",
    }
    assert client.post(reverse("auto-invest"), body).status_code == 302
    rule = AutoInvestRule.objects.get(investor=investor)
    assert rule.min_discount_rate == D("0.085") and rule.grades == ["A", "B"]
    bad = client.post(reverse("auto-invest"), {**body, "max_per_debtor": "50"})
    assert bad.status_code == 400
    rule.refresh_from_db()
    assert rule.max_per_debtor == D("500")


def test_ops_see_the_pool_and_pause_deposits_and_allocation_with_four_eyes(
    pool, investor, ops_client, staff
):
    from accounts.services import staff_user_create
    from pools.models import Pool
    from tests.helpers import STRONG_PASSWORD, admin_sign_in

    page = ops_client.get(reverse("admin:pools_pool_change", args=[pool.pk]))
    assert page.status_code == 200 and "NAV/share" in page.content.decode()
    assert "Holdings (active investments" in page.content.decode()
    assert ops_client.get(reverse("admin:pools_navsnapshot_changelist")).status_code == 200
    assert ops_client.get(reverse("admin:pools_redemptionrequest_changelist")).status_code == 200
    changelist = reverse("admin:pools_pool_changelist")
    for action in ("pause_deposits", "pause_allocation"):
        ops_client.post(changelist, {"action": action, "_selected_action": [pool.pk]})
    pool = Pool.objects.get(pk=pool.pk)
    assert pool.deposits_paused and not pool.allocation_paused
    assert pool.allocation_pause_requested_by_id == staff.pk
    second = Client()
    admin_sign_in(second, staff_user_create(email="ops2@example.com", password=STRONG_PASSWORD))
    second.post(changelist, {"action": "pause_allocation", "_selected_action": [pool.pk]})
    assert Pool.objects.get(pk=pool.pk).allocation_paused


def test_the_investor_dashboard_shows_the_pool_position(pool, investor):
    client = login(investor)
    assert "Your pool shares" not in client.get(reverse("investor-dashboard")).content.decode()
    key = hidden(
        client.post(
            reverse("pool-deposit", args=[pool.public_id]), {"amount": "120.00"}
        ).content.decode(),
        "idempotency_key",
    )
    client.post(
        reverse("pool-deposit", args=[pool.public_id]),
        {"amount": "120.00", "confirm": "1", "idempotency_key": key},
    )
    html = client.get(reverse("investor-dashboard")).content.decode()
    assert "Your pool shares" in html and "120.00" in html
    assert reverse("pool", args=[pool.public_id]) in html
