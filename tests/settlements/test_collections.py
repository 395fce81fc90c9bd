"""Partial, late and over-payments; overdue, default, recourse, write-off and recovery.

Each test drives the real services on PostgreSQL with the business clock moved, and checks
the money to the cent against a hand computation, with the books balanced at every step.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import TestCase

from invoices.enums import InvoiceStatus
from invoices.pricing import aging_bucket, days_past_due
from marketplace.enums import InvestmentStatus
from marketplace.services import investment_create
from paymint.core import clock
from settlements.enums import AccountKind
from settlements.ledger.posting import account_balance, ledger_account, trial_balance
from settlements.services import bank_event_apply
from settlements.tasks import invoices_age_task
from tests.factories import InvoiceFactory, mustang_listing
from tests.helpers import LISTING_DAY, MUSTANG_DUE, bank_event, deposit

GRACE = 5
DEFAULT_AFTER = 90


@pytest.fixture(autouse=True)
def _rules(settings):
    settings.PAYMINT = {
        **settings.PAYMINT,
        "GRACE_PERIOD_DAYS": GRACE,
        "DEFAULT_AFTER_DAYS_PAST_DUE": DEFAULT_AFTER,
        "LATE_RATE_MARGIN": Decimal("0.05"),
        "LATE_FEE_RATE": Decimal("0.005"),
    }


def books_balanced():
    assert all(v == 0 for v in trial_balance().values()), trial_balance()


def cash(user) -> Decimal:
    return account_balance(
        ledger_account(
            AccountKind.INVESTOR_CASH if user.is_investor else AccountKind.SELLER_CASH,
            "EUR",
            owner=user,
        )
    )


def pay(invoice, amount, event_id, on: dt.date):
    with clock.frozen_at(on), TestCase.captureOnCommitCallbacks(execute=True):
        bank_event_apply(
            payload=bank_event(event_id, "repayment.received", invoice.repayment_reference, amount)
        )
    invoice.refresh_from_db()
    books_balanced()


def age(on: dt.date):
    with clock.frozen_at(on):
        invoices_age_task()
    books_balanced()


@pytest.fixture
def disbursed(seller, make_investor):
    """The Mustang invoice (571.04 EUR, due 2020-12-12) fully funded by two investors on
    2020-11-22: 300.00 + 213.94 = 513.94 advance, discount rate 8 %: fees 1.32 + 0.94 (each
    investment's own fee, rounded once) = 2.26."""

    def _make(*, recourse=True):
        listing = mustang_listing(seller) if recourse else _non_recourse(seller)
        a, b = make_investor(), make_investor()
        deposit(a, "300.00")
        deposit(b, "300.00")
        with clock.frozen_at(LISTING_DAY):
            investment_create(investor=a, listing=listing, amount="300.00")
            investment_create(investor=b, listing=listing, amount="213.94")
        listing.refresh_from_db()
        listing.invoice.refresh_from_db()
        assert listing.invoice.status == InvoiceStatus.DISBURSED
        return listing, a, b

    return _make


def _non_recourse(seller):
    from marketplace.services import listing_create

    invoice = InvoiceFactory(mustang=True, seller=seller)
    with clock.frozen_at(LISTING_DAY):
        return listing_create(invoice=invoice, seller=seller, recourse=False)


def test_aging_buckets():
    assert days_past_due(MUSTANG_DUE, MUSTANG_DUE) == 0
    assert days_past_due(MUSTANG_DUE, MUSTANG_DUE - dt.timedelta(days=3)) == 0
    assert [aging_bucket(d) for d in (0, 1, 30, 31, 60, 61, 90, 91)] == [
        "current",
        "1-30",
        "1-30",
        "31-60",
        "31-60",
        "61-90",
        "61-90",
        "90+",
    ]


def test_partial_repayments_pay_investors_first_then_the_seller(disbursed, seller):
    listing, a, b = disbursed()
    invoice = listing.invoice
    seller_before = cash(seller)  # 508.80 net advance
    # 1st payment 100.00 on the due date: all to investors pro rata to 300.00+1.32 : 213.94+0.94
    pay(invoice, "100.00", "evt_p1", MUSTANG_DUE)
    assert invoice.status == InvoiceStatus.DISBURSED
    inv_a, inv_b = listing.investments.order_by("id")
    assert inv_a.repaid_amount + inv_b.repaid_amount == Decimal("100.00")
    # 100 x 301.32 / 516.20 = 58.372.., 100 x 214.88 / 516.20 = 41.627..: the spare cent
    # goes to the larger remainder (B)
    assert (inv_a.repaid_amount, inv_b.repaid_amount) == (Decimal("58.37"), Decimal("41.63"))
    assert cash(seller) == seller_before
    # 2nd payment, the rest of the face value: investors made whole, seller gets the reserve
    pay(invoice, "471.04", "evt_p2", MUSTANG_DUE)
    assert invoice.status == InvoiceStatus.SETTLED
    inv_a.refresh_from_db()
    inv_b.refresh_from_db()
    assert (inv_a.repaid_amount, inv_b.repaid_amount) == (Decimal("301.32"), Decimal("214.88"))
    assert inv_a.status == inv_b.status == InvestmentStatus.SETTLED
    # reserve = 571.04 - 513.94 - 2.26 discount fee = 54.84
    assert cash(seller) - seller_before == Decimal("54.84")


def test_overpayment_goes_to_the_seller(disbursed, seller):
    listing, a, b = disbursed()
    before = cash(seller)
    pay(listing.invoice, "600.00", "evt_over", MUSTANG_DUE)
    assert listing.invoice.status == InvoiceStatus.SETTLED
    assert cash(seller) - before == Decimal("600.00") - Decimal("516.20")


def test_late_payment_accrues_late_interest_and_the_platform_late_fee(disbursed, seller):
    listing, a, b = disbursed()
    invoice = listing.invoice
    age(MUSTANG_DUE + dt.timedelta(days=GRACE))  # last day of grace: still DISBURSED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DISBURSED
    age(MUSTANG_DUE + dt.timedelta(days=GRACE + 1))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OVERDUE
    listing.refresh_from_db()
    assert listing.late_fee == Decimal("2.86")  # 0.5 % x 571.04 = 2.8552
    revenue_before = account_balance(ledger_account(AccountKind.PLATFORM_FEE_REVENUE, "EUR"))

    pay(invoice, "571.04", "evt_late", MUSTANG_DUE + dt.timedelta(days=30))
    assert invoice.status == InvoiceStatus.SETTLED
    inv_a, inv_b = listing.investments.order_by("id")
    # late rate 8 % + 5 % = 13 %, 30 days from the due date, on 301.32 and 214.88
    assert inv_a.late_interest_repaid == Decimal("3.22")  # 301.32 x 0.13 x 30/365 = 3.2196
    assert inv_b.late_interest_repaid == Decimal("2.30")  # 214.88 x 0.13 x 30/365 = 2.2960
    assert inv_a.repaid_amount == Decimal("304.54")
    revenue = account_balance(ledger_account(AccountKind.PLATFORM_FEE_REVENUE, "EUR"))
    assert revenue - revenue_before == Decimal("2.86")


def test_recourse_default_debits_the_seller_then_a_receivable_then_recovery(disbursed, seller):
    listing, a, b = disbursed()
    invoice = listing.invoice
    a_before, b_before = cash(a), cash(b)
    default_day = MUSTANG_DUE + dt.timedelta(days=DEFAULT_AFTER)
    age(MUSTANG_DUE + dt.timedelta(days=GRACE + 1))
    age(default_day - dt.timedelta(days=1))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OVERDUE
    age(default_day)
    invoice.refresh_from_db()
    # the seller had 508.80 in cash; investors are owed more than that, the rest is a debt
    assert invoice.status == InvoiceStatus.SETTLED
    assert cash(seller) == Decimal("0.00")
    receivable = ledger_account(AccountKind.SELLER_RECEIVABLE, "EUR", owner=seller)
    owed = -account_balance(receivable)
    assert owed > 0
    inv_a, inv_b = listing.investments.order_by("id")
    assert inv_a.status == inv_b.status == InvestmentStatus.SETTLED
    assert cash(a) - a_before == inv_a.repaid_amount
    assert cash(b) - b_before == inv_b.repaid_amount
    assert inv_a.late_interest_repaid > 0
    # Later the debtor pays in full: first the seller's debt is cleared, the rest is theirs.
    pay(invoice, "571.04", "evt_recovery", default_day + dt.timedelta(days=10))
    assert account_balance(receivable) == 0
    assert cash(seller) == Decimal("571.04") - owed


def test_non_recourse_default_is_written_off_and_recoveries_are_shared(disbursed, seller):
    listing, a, b = disbursed(recourse=False)
    invoice = listing.invoice
    seller_before = cash(seller)
    age(MUSTANG_DUE + dt.timedelta(days=GRACE + 1))
    age(MUSTANG_DUE + dt.timedelta(days=DEFAULT_AFTER))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.WRITTEN_OFF
    inv_a, inv_b = listing.investments.order_by("id")
    assert inv_a.loss > Decimal("301.32") and inv_b.loss > Decimal("214.88")  # incl. interest
    assert cash(seller) == seller_before  # no recourse
    # A partial recovery is shared pro rata through the same waterfall and reduces the losses.
    pay(invoice, "200.00", "evt_rec1", MUSTANG_DUE + dt.timedelta(days=120))
    assert invoice.status == InvoiceStatus.WRITTEN_OFF
    inv_a.refresh_from_db()
    inv_b.refresh_from_db()
    assert inv_a.repaid_amount + inv_b.repaid_amount == Decimal("200.00")
    assert inv_a.repaid_amount > inv_b.repaid_amount
    # The rest of the recovery makes them whole and settles the invoice.
    pay(invoice, "400.00", "evt_rec2", MUSTANG_DUE + dt.timedelta(days=130))
    assert invoice.status == InvoiceStatus.SETTLED
    inv_a.refresh_from_db()
    assert inv_a.loss == 0 and inv_a.status == InvestmentStatus.SETTLED


def test_running_the_aging_job_twice_a_day_changes_nothing(disbursed):
    listing, a, b = disbursed()
    day = MUSTANG_DUE + dt.timedelta(days=20)
    age(MUSTANG_DUE + dt.timedelta(days=GRACE + 1))
    age(day)
    inv = listing.investments.order_by("id").first()
    accrued = inv.late_interest_accrued
    age(day)
    inv.refresh_from_db()
    assert inv.late_interest_accrued == accrued
    # 301.32 x 13 % x 20 / 365 = 2.14638...
    assert inv.late_interest_accrued.quantize(Decimal("0.0001")) == Decimal("2.1464")


def test_ops_see_days_past_due_and_filter_by_aging_bucket(disbursed, ops_client):
    listing, a, b = disbursed()
    client = ops_client
    with clock.frozen_at(MUSTANG_DUE + dt.timedelta(days=45)):
        page = client.get("/admin/invoices/invoice/?aging=31-60")
        assert page.status_code == 200
        assert b"45 (31-60)" in page.content
        empty = client.get("/admin/invoices/invoice/?aging=1-30")
        assert b"45 (31-60)" not in empty.content
