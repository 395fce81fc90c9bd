"""Investor portfolio (XIRR, allocation, upcoming and overdue positions), the statement page
per investment, the seller's receivables-by-maturity chart and the withdrawal flow."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import TestCase
from django.urls import reverse

from marketplace.models import Investment
from marketplace.portfolio import xirr
from marketplace.services import investment_create
from paymint.core import clock
from settlements.enums import WithdrawalStatus
from settlements.models import Withdrawal
from settlements.services import bank_event_apply
from settlements.tasks import invoices_age_task
from tests.factories import mustang_listing
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    bank_event,
    deposit,
    make_user,
)

pytestmark = pytest.mark.django_db


def repay(invoice, amount, event_id, on: dt.date):
    with clock.frozen_at(on), TestCase.captureOnCommitCallbacks(execute=True):
        bank_event_apply(
            payload=bank_event(event_id, "repayment.received", invoice.repayment_reference, amount)
        )


@pytest.fixture
def funded(seller, make_investor):
    """The Mustang invoice funded on the listing day: 300.00 by ``a``, 213.94 by ``b``."""
    listing = mustang_listing(seller)
    a, b = make_investor(), make_investor()
    deposit(a, "400.00")
    deposit(b, "400.00")
    with clock.frozen_at(LISTING_DAY):
        inv_a, _ = investment_create(investor=a, listing=listing, amount="300.00")
        investment_create(investor=b, listing=listing, amount="213.94")
    listing.invoice.refresh_from_db()
    return {"listing": listing, "a": a, "b": b, "investment": inv_a}


def test_dashboard_shows_xirr_allocation_and_upcoming_repayment(funded, login):
    client = login(funded["a"])
    with clock.frozen_at(LISTING_DAY):
        page = client.get(reverse("investor-dashboard"))
    assert page.status_code == 200
    inv = funded["investment"]
    # Expected XIRR: 300.00 out today, the expected return back on the due date.
    expected = xirr([(LISTING_DAY, Decimal("-300.00")), (MUSTANG_DUE, inv.expected_return)])
    assert page.context["xirr"] == {"EUR": expected}
    assert Decimal("0.07") < expected < Decimal("0.09")  # grade pricing ~8 % a year
    html = page.content.decode()
    assert 'data-testid="xirr-EUR"' in html
    assert [p.pk for p, _ in page.context["upcoming"]] == [inv.pk]
    assert page.context["overdue"] == []
    debtor_chart = json.loads(
        html.split('id="debtor-data" type="application/json">')[1].split("</script>")[0]
    )
    assert debtor_chart["datasets"][0]["data"] == [300.0]
    assert debtor_chart["labels"] == [inv.listing.invoice.debtor_name]
    assert 'data-chart-type="doughnut"' in html
    assert reverse("investment-statement", args=[inv.public_id]) in html


def test_overdue_positions_are_listed_with_days_late(funded, login):
    late_day = MUSTANG_DUE + dt.timedelta(days=10)
    with clock.frozen_at(late_day):
        invoices_age_task()
        page = login(funded["a"]).get(reverse("investor-dashboard"))
    (position, remaining, days) = page.context["overdue"][0]
    assert position.pk == funded["investment"].pk
    assert days == 10
    assert remaining == funded["investment"].expected_return
    assert page.context["upcoming"] == []
    assert b"Overdue positions" in page.content


def test_statement_page_itemizes_and_shows_realised_return(funded, login):
    invoice = funded["listing"].invoice
    repay(invoice, "100.00", "evt_p1", MUSTANG_DUE)
    repay(invoice, "471.04", "evt_p2", MUSTANG_DUE + dt.timedelta(days=2))
    inv = Investment.objects.get(pk=funded["investment"].pk)
    assert inv.status == "SETTLED"

    client = login(funded["a"])
    page = client.get(reverse("investment-statement", args=[inv.public_id]))
    assert page.status_code == 200
    kinds = [line.entry.kind for line in page.context["lines"]]
    assert kinds == ["FUNDING", "SETTLEMENT", "SETTLEMENT"]
    # 300.00 x 0.08 x 20 / 365 = 1.3151 -> 1.32, the investment's own fee (as quoted)
    assert page.context["net"] == Decimal("1.32") == inv.expected_discount_fee
    assert page.context["realised_profit"] == Decimal("1.32")
    flows = [(line.entry.effective_date, line.amount) for line in page.context["lines"]]
    assert page.context["xirr"] == xirr(flows)
    assert Decimal("0.05") < page.context["xirr"] < Decimal("0.10")
    html = page.content.decode()
    assert "Net so far" in html and "1.32 EUR" in html

    # Realised result in the dashboard's table for the closed position.
    dashboard = client.get(reverse("investor-dashboard"))
    assert b"1.32 EUR" in dashboard.content

    # Nobody else reads it: another investor gets 404, a seller 403.
    url = reverse("investment-statement", args=[inv.public_id])
    assert login(funded["b"]).get(url).status_code == 404
    assert login(invoice.seller).get(url).status_code == 403


def test_seller_dashboard_has_receivables_by_maturity(seller, login):
    mustang_listing(seller)  # 571.04 EUR due 2020-12-12
    with clock.frozen_at(LISTING_DAY):
        page = login(seller).get(reverse("seller-dashboard"))
    assert page.context["maturity"] == [
        {"bucket": "0-30 days", "currency": "EUR", "total": Decimal("571.04"), "count": 1}
    ]
    chart = page.context["maturity_chart"]
    assert chart["labels"][1] == "0-30 days"
    assert chart["datasets"] == [{"label": "EUR", "data": [0, 571.04, 0, 0, 0]}]
    assert b'data-chart="maturity-data"' in page.content
    with clock.frozen_at(MUSTANG_DUE + dt.timedelta(days=1)):
        late = login(seller).get(reverse("seller-dashboard"))
    assert late.context["maturity"][0]["bucket"] == "Overdue"


# --- Withdrawals -----------------------------------------------------------------------------


def test_withdrawal_asks_for_confirmation_then_holds_once(make_investor, login):
    investor = make_investor()
    deposit(investor, "250.00")
    client = login(investor)
    assert b"Withdraw to your bank account" in client.get(reverse("wallet")).content
    form_page = client.get(reverse("withdraw"))
    assert form_page.status_code == 200

    confirm = client.post(reverse("withdraw"), {"amount": "100.00", "currency": "EUR"})
    assert confirm.status_code == 200
    assert b"Confirm and withdraw 100.00 EUR" in confirm.content
    assert not Withdrawal.objects.exists()  # nothing happens before the confirmation
    key = confirm.context["idempotency_key"]

    data = {"amount": "100.00", "currency": "EUR", "confirm": "1", "idempotency_key": key}
    done = client.post(reverse("withdraw"), data)
    assert done.status_code == 302
    assert done["Location"] == reverse("wallet")
    again = client.post(reverse("withdraw"), data, follow=True)  # a double click
    assert b"already requested" in again.content
    withdrawal = Withdrawal.objects.get(user=investor)
    assert withdrawal.amount == Decimal("100.00")
    assert withdrawal.status == WithdrawalStatus.REQUESTED
    wallet = client.get(reverse("wallet"))
    assert withdrawal.reference.encode() in wallet.content


def test_withdrawal_errors_are_shown_beside_the_fields(make_investor, login):
    investor = make_investor()
    deposit(investor, "50.00")
    client = login(investor)
    bad = client.post(reverse("withdraw"), {"amount": "-5", "currency": "EUR"})
    assert bad.status_code == 400
    assert bad.context["form"].errors["amount"]
    assert 'id="id_amount_error"' in bad.content.decode()

    too_much = client.post(
        reverse("withdraw"),
        {"amount": "80.00", "currency": "EUR", "confirm": "1", "idempotency_key": "k1"},
    )
    assert too_much.status_code == 400
    codes = [e.code for e in too_much.context["form"].non_field_errors().as_data()]
    assert "INSUFFICIENT_FUNDS" in codes
    assert not Withdrawal.objects.exists()


def test_withdrawal_needs_approved_kyc(login, db):
    user = make_user("INVESTOR", "new@example.com")
    response = login(user).post(
        reverse("withdraw"),
        {"amount": "10.00", "currency": "EUR", "confirm": "1", "idempotency_key": "k"},
    )
    assert response.status_code == 400
    assert b"must be approved" in response.content
    assert not Withdrawal.objects.exists()
