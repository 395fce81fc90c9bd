"""Money transactions of different invoices that share ledger accounts never deadlock (real
threads, PostgreSQL).

Each test pins the interleaving instead of hoping for it: both transactions are stopped right
after they took their first ledger account locks, until the other one has taken its own (or
``PATIENCE`` seconds passed: a lock order that makes one wait for the other inside its lock
is a correct outcome too), and only then go on to the rest of their work and commit.

Besides the explicit account locks (:func:`settlements.ledger.lock_accounts`), PostgreSQL
itself takes ``FOR KEY SHARE`` on every account a posting references, when the (deferred)
foreign key is checked at commit. Held ``FOR UPDATE``, an account made every transaction that
only *credits* it wait at commit, outside the lock order: a recourse on seller S (holding S,
crediting investor X) against X's funding that fills another listing of S (holding X,
crediting S), and a withdrawal (holding the user's cash, crediting the hold) against the
bank's failure report of an earlier one (holding the hold, crediting the cash), deadlocked.
Account locks are ``FOR NO KEY UPDATE`` now, which those checks do not wait for. The other
pairs (settlement, expiry refunds, a deposit against a filling funding) only ever waited.
Every pair must end with both operations done and the books balanced; PostgreSQL's deadlock
detection must never fire.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invoices.enums import InvoiceStatus
from marketplace import services as marketplace_services
from marketplace.enums import InvestmentStatus
from marketplace.models import Listing
from marketplace.services import (
    investment_create,
    invoice_cancel,
    listing_create,
    listing_expire,
)
from paymint.core import clock
from settlements.enums import AccountKind, EntryKind, SettlementStatus, WithdrawalStatus
from settlements.ledger import movements as ledger_movements
from settlements.ledger.posting import account_balance, ledger_account
from settlements.models import JournalEntry, LedgerAccount, Settlement, Withdrawal
from settlements.services import bank as bank_services
from settlements.services import bank_event_apply, invoice_age, settlement_execute
from settlements.services import collections as collections_services
from settlements.services import distribution as distribution_services
from settlements.services import withdrawals as withdrawal_services
from settlements.services.withdrawals import withdrawal_request
from settlements.tasks import settlement_execute_task
from tests.factories import InvoiceFactory, KycProfileFactory, UserFactory
from tests.helpers import assert_books_balanced, bank_event, deposit, run_in_threads

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

D = Decimal
DAY = dt.date(2021, 3, 1)
ADVANCE = D("100.00")  # InvoiceFactory's priced invoice: 125.00 x advance rate 0.80
PATIENCE = 5.0  # seconds one side waits for the other to take its locks


class Rendezvous:
    """Stops each named side of a race once, right after a chosen function returned in that
    side's thread (e.g. ``lock_accounts``: the side now holds its first account locks), until
    every other side got there too or ``PATIENCE`` seconds passed."""

    def __init__(self, monkeypatch, *sides: str) -> None:
        self._monkeypatch = monkeypatch
        self._arrived = {side: threading.Event() for side in sides}
        self._local = threading.local()

    def after(self, module, name: str, *, side: str) -> None:
        """Pause ``side`` after its first call of ``module.name`` (the name the code under
        test looks up)."""
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            if getattr(self._local, "side", None) == side and not self._arrived[side].is_set():
                self._arrived[side].set()
                for other, event in self._arrived.items():
                    if other != side:
                        event.wait(timeout=PATIENCE)
            return result

        self._monkeypatch.setattr(module, name, wrapper)

    def run(self, **work) -> dict[str, object]:
        """Run each side's work in its own thread (own connection), released together;
        ``{side: result or exception}``."""
        sides = list(work)

        def target(i: int):
            self._local.side = sides[i]
            return work[sides[i]]()

        results = run_in_threads(len(sides), target, timeout=60)
        for side in sides:
            assert self._arrived[side].is_set(), f"{side} never reached its pause point"
        return dict(zip(sides, results, strict=True))


def assert_all_succeeded(results: dict[str, object]) -> None:
    failures = {side: f"{type(r).__name__}: {r}" for side, r in results.items()
                if isinstance(r, BaseException)}
    assert failures == {}, failures


def approved_seller():
    seller = UserFactory(seller=True)
    KycProfileFactory(user=seller, approved=True)
    return seller


def cash(user) -> D:
    kind = AccountKind.INVESTOR_CASH if user.is_investor else AccountKind.SELLER_CASH
    return account_balance(ledger_account(kind, "EUR", owner=user))


def listed(seller, *, on: dt.date, debtor_tax_id: str, due_in_days: int = 60) -> Listing:
    with clock.frozen_at(on):
        invoice = InvoiceFactory(priced=True, seller=seller, debtor_tax_id=debtor_tax_id,
                                 due_date=on + dt.timedelta(days=due_in_days))
        return listing_create(invoice=invoice, seller=seller)


@pytest.fixture
def seller_and_investor(make_investor):
    """A seller whose cash account is older (lower id) than the investor's: the order in which
    a settlement or a recourse would reach them, the reverse of a funding's."""
    seller = approved_seller()
    seller_cash = ledger_account(AccountKind.SELLER_CASH, "EUR", owner=seller)
    investor = make_investor()
    deposit(investor, "1000.00")
    investor_cash = ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=investor)
    assert seller_cash.pk < investor_cash.pk
    return seller, investor


def disbursed(seller, investor, *, on: dt.date = DAY, due_in_days: int = 30) -> Listing:
    """A listing of ``seller`` funded in full by ``investor`` (one ticket) and paid out."""
    listing = listed(seller, on=on, debtor_tax_id="DE100000001", due_in_days=due_in_days)
    with clock.frozen_at(on):
        investment_create(investor=investor, listing=listing, amount=str(ADVANCE))
    listing.refresh_from_db()
    assert listing.invoice.status == InvoiceStatus.DISBURSED
    return listing


def filling_funding(investor, listing: Listing, on: dt.date):
    """The investor's ticket that fills ``listing``: funding and disbursement, one transaction."""
    def work():
        with clock.frozen_at(on):
            return investment_create(investor=investor, listing=listing, amount=str(ADVANCE))
    return work


def assert_disbursed(listing: Listing) -> None:
    listing.invoice.refresh_from_db()
    assert listing.invoice.status == InvoiceStatus.DISBURSED
    assert JournalEntry.objects.filter(kind=EntryKind.DISBURSEMENT,
                                       invoice=listing.invoice).count() == 1


def test_settlement_of_one_invoice_and_filling_funding_of_another(
    seller_and_investor, monkeypatch
):
    """The settlement of A pays investor X and (overpayment) seller S; X's ticket fills B of the
    same seller S and pays S the advance, in the same moment."""
    seller, investor = seller_and_investor
    a = disbursed(seller, investor)
    paid_on = a.due_date
    b = listed(seller, on=paid_on, debtor_tax_id="DE100000002")
    monkeypatch.setattr(settlement_execute_task, "delay", lambda *args, **kwargs: None)
    with clock.frozen_at(paid_on):
        bank_event_apply(payload=bank_event("evt_repay_a", "repayment.received",
                                            a.invoice.repayment_reference, "130.00"))
    settlement = Settlement.objects.get(invoice=a.invoice)
    seller_before, investor_before = cash(seller), cash(investor)

    meet = Rendezvous(monkeypatch, "settlement", "funding")
    # The settlement holds the escrow of A and has posted (credits to X and S pending).
    meet.after(distribution_services, "ledger_post", side="settlement")
    # The funding holds X (and whatever it locks with it).
    meet.after(marketplace_services, "funding_accounts_lock", side="funding")

    def settle():
        with clock.frozen_at(paid_on):
            return settlement_execute(settlement_id=settlement.pk)

    results = meet.run(settlement=settle, funding=filling_funding(investor, b, paid_on))

    assert_all_succeeded(results)
    settlement.refresh_from_db()
    assert settlement.status == SettlementStatus.COMPLETED
    a.invoice.refresh_from_db()
    assert a.invoice.status == InvoiceStatus.SETTLED
    assert_disbursed(b)
    to_investor = D(settlement.breakdown["investors"][str(a.investments.get().pk)])
    assert cash(investor) == investor_before + to_investor - ADVANCE
    b.refresh_from_db()
    assert cash(seller) == (seller_before + D(settlement.breakdown["seller_reserve"])
                            + ADVANCE - b.platform_fee)
    assert_books_balanced()


def test_recourse_on_the_seller_and_filling_funding_of_another_invoice(
    seller_and_investor, monkeypatch
):
    """Invoice A defaults: recourse locks seller S's cash, then pays investor X. X's ticket
    fills B of the same seller, which pays S. (Before the fix: deadlock detected at commit,
    each side waiting for the foreign-key check of its credit to the other's locked account.)"""
    seller, investor = seller_and_investor
    a = disbursed(seller, investor)
    default_day = a.due_date + dt.timedelta(days=90)
    b = listed(seller, on=default_day, debtor_tax_id="DE100000002")

    meet = Rendezvous(monkeypatch, "recourse", "funding")
    meet.after(collections_services, "lock_accounts", side="recourse")  # holds S
    meet.after(marketplace_services, "funding_accounts_lock", side="funding")  # holds X

    def recourse():
        with clock.frozen_at(default_day):
            return invoice_age(invoice_id=a.invoice_id)

    results = meet.run(recourse=recourse, funding=filling_funding(investor, b, default_day))

    assert_all_succeeded(results)
    a.invoice.refresh_from_db()
    assert a.invoice.status == InvoiceStatus.SETTLED
    assert a.investments.get().status == InvestmentStatus.SETTLED
    assert JournalEntry.objects.filter(kind=EntryKind.RECOURSE, invoice=a.invoice).count() == 1
    assert_disbursed(b)
    assert cash(seller) >= 0
    assert_books_balanced()


def test_listing_expiry_refunds_and_filling_funding_by_a_refunded_investor(
    seller_and_investor, make_investor, monkeypatch, settings
):
    """A lapses: its escrow is refunded to X and Y at once; X's ticket fills B meanwhile."""
    settings.PAYMINT = {**settings.PAYMINT, "MIN_TICKET": D("10")}
    seller, investor = seller_and_investor
    other = make_investor()
    deposit(other, "100.00")
    a = listed(seller, on=DAY, debtor_tax_id="DE100000001")
    with clock.frozen_at(DAY):
        investment_create(investor=investor, listing=a, amount="50.00")
        investment_create(investor=other, listing=a, amount="20.00")
    expiry_day = a.expires_at.date() + dt.timedelta(days=1)
    b = listed(seller, on=expiry_day, debtor_tax_id="DE100000002")
    investor_before = cash(investor)

    meet = Rendezvous(monkeypatch, "expiry", "funding")
    meet.after(ledger_movements, "ledger_post", side="expiry")  # holds A's escrow, posted
    meet.after(marketplace_services, "funding_accounts_lock", side="funding")  # holds X

    def expire():
        with clock.frozen_at(expiry_day):
            return listing_expire(listing_id=a.pk)

    results = meet.run(expiry=expire, funding=filling_funding(investor, b, expiry_day))

    assert_all_succeeded(results)
    a.invoice.refresh_from_db()
    assert a.invoice.status == InvoiceStatus.CANCELLED
    assert_disbursed(b)
    assert cash(investor) == investor_before + D("50.00") - ADVANCE
    assert cash(other) == D("100.00")
    assert_books_balanced()


def test_deposit_and_filling_funding_of_the_same_investor(seller_and_investor, monkeypatch):
    seller, investor = seller_and_investor
    b = listed(seller, on=DAY, debtor_tax_id="DE100000002")
    investor_before = cash(investor)

    meet = Rendezvous(monkeypatch, "deposit", "funding")
    meet.after(bank_services, "ledger_post", side="deposit")  # posted, credit to X pending
    meet.after(marketplace_services, "funding_accounts_lock", side="funding")  # holds X

    def pay_in():
        return deposit(investor, "25.00", event_id="evt_deposit_race")

    results = meet.run(deposit=pay_in, funding=filling_funding(investor, b, DAY))

    assert_all_succeeded(results)
    assert_disbursed(b)
    assert cash(investor) == investor_before + D("25.00") - ADVANCE
    assert_books_balanced()


def test_withdrawal_and_failure_of_an_earlier_withdrawal_of_the_same_user(
    make_investor, monkeypatch
):
    """A new withdrawal locks the user's cash and credits its hold; the bank's failure report
    of an earlier one locks the hold and credits the cash back. (Before the fix: deadlock.)"""
    investor = make_investor()
    deposit(investor, "500.00")
    earlier, _ = withdrawal_request(user=investor, amount="100.00", currency="EUR")

    meet = Rendezvous(monkeypatch, "failure", "withdrawal")
    meet.after(bank_services, "ledger_post", side="failure")  # holds the hold account
    meet.after(withdrawal_services, "lock_accounts", side="withdrawal")  # holds the cash

    def bank_reports_failure():
        return bank_event_apply(payload=bank_event("evt_wd_failed", "withdrawal.failed",
                                                   earlier.reference, "100.00"))

    def withdraw():
        return withdrawal_request(user=investor, amount="50.00", currency="EUR")

    results = meet.run(failure=bank_reports_failure, withdrawal=withdraw)

    assert_all_succeeded(results)
    earlier.refresh_from_db()
    assert earlier.status == WithdrawalStatus.FAILED
    assert Withdrawal.objects.filter(user=investor, status=WithdrawalStatus.REQUESTED,
                                     amount=D("50.00")).count() == 1
    assert cash(investor) == D("450.00")
    hold = ledger_account(AccountKind.WITHDRAWAL_HOLD, "EUR", owner=investor)
    assert account_balance(hold) == D("50.00")
    assert_books_balanced()


def account_lock_batches(queries) -> list[set[int]]:
    """The ids each ``FOR NO KEY UPDATE`` / ``FOR UPDATE`` statement on ledger accounts locked,
    in order."""
    batches = []
    for query in queries:
        sql = query["sql"]
        if '"settlements_ledgeraccount"' in sql and re.search(r"FOR (NO KEY )?UPDATE", sql):
            ids = re.search(r'"id" IN \(([\d, ]+)\)', sql)
            if ids:
                batches.append({int(pk) for pk in ids.group(1).split(",")})
            else:  # a funding locks the investor's cash by key (the escrow's id read with it)
                key = re.search(r'WHERE "a"\."key" = \'([^\']*)\'', sql).group(1)
                batches.append(set(LedgerAccount.objects.filter(key=key)
                                   .values_list("pk", flat=True)))
    return batches


def test_filling_funding_and_recourse_lock_their_accounts_in_the_ledger_order(
    seller_and_investor
):
    """The rule of ``settlements.ledger``: every account lock after the first batch is a
    re-lock - but for a filling funding's escrow. A recourse debits the seller's cash and
    (distributing) the escrow, one batch. A filling funding debits the investor's cash (its
    first lock), then - holding the listing, after its update - the escrow its disbursement
    debits."""
    seller, investor = seller_and_investor
    with CaptureQueriesContext(connection) as funding:
        a = disbursed(seller, investor)
    escrow_a = ledger_account(AccountKind.INVOICE_ESCROW, "EUR", invoice=a.invoice)
    investor_cash = ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=investor)
    default_day = a.due_date + dt.timedelta(days=90)
    with CaptureQueriesContext(connection) as recourse, clock.frozen_at(default_day):
        invoice_age(invoice_id=a.invoice_id)
    seller_cash = ledger_account(AccountKind.SELLER_CASH, "EUR", owner=seller)

    recourse_batches = account_lock_batches(recourse.captured_queries)
    assert recourse_batches[0] == {seller_cash.pk, escrow_a.pk}
    assert all(batch <= recourse_batches[0] for batch in recourse_batches[1:]), recourse_batches

    funding_sql = [q["sql"] for q in funding.captured_queries]
    funding_batches = account_lock_batches(funding.captured_queries)
    assert funding_batches[0] == {investor_cash.pk}
    assert {escrow_a.pk} in funding_batches[1:]
    assert all(batch <= {investor_cash.pk, escrow_a.pk} for batch in funding_batches)
    update = next(i for i, sql in enumerate(funding_sql)
                  if sql.startswith('UPDATE "marketplace_listing" SET "funded_amount"'))
    escrow_lock = next(i for i, sql in enumerate(funding_sql)
                       if '"settlements_ledgeraccount"' in sql and "FOR NO KEY UPDATE" in sql
                       and f"({escrow_a.pk})" in sql)
    assert update < escrow_lock, "the escrow is locked only once the listing is held"
    for captured in (funding, recourse):
        # FOR NO KEY UPDATE, never FOR UPDATE (which the credits' foreign-key checks wait for).
        assert not [q["sql"] for q in captured.captured_queries
                    if '"settlements_ledgeraccount"' in q["sql"] and "FOR UPDATE" in q["sql"]]


def test_funding_holding_the_investors_cash_and_cancel_refunding_that_investor(
    seller_and_investor, monkeypatch, settings
):
    """X's second ticket holds X's cash (its first lock) when the seller withdraws the listing,
    which locks the listing, its invoice and escrow and refunds X's first ticket to that cash.
    The cancel does not wait for X (a credit); X's funding then finds the listing closed at its
    update and writes nothing."""
    settings.PAYMINT = {**settings.PAYMINT, "MIN_TICKET": D("10")}
    seller, investor = seller_and_investor
    listing = listed(seller, on=DAY, debtor_tax_id="DE100000001")
    with clock.frozen_at(DAY):
        investment_create(investor=investor, listing=listing, amount="30.00")
    investor_before = cash(investor)

    meet = Rendezvous(monkeypatch, "cancel", "funding")
    # The cancel holds the listing, the invoice and the escrow, and has posted X's refund.
    meet.after(marketplace_services, "investment_refunds_post", side="cancel")
    meet.after(marketplace_services, "funding_accounts_lock", side="funding")  # holds X

    def cancel():
        with clock.frozen_at(DAY):
            return invoice_cancel(invoice=listing.invoice, seller=seller)

    def fund():
        with clock.frozen_at(DAY):
            return investment_create(investor=investor, listing=listing, amount="20.00")

    results = meet.run(cancel=cancel, funding=fund)

    assert not isinstance(results["cancel"], BaseException), results
    assert getattr(results["funding"], "code", None) == "LISTING_NOT_OPEN", results
    listing.refresh_from_db()
    assert listing.invoice.status == InvoiceStatus.CANCELLED
    assert (listing.funded_amount, listing.investor_count) == (D("30.00"), 1)
    assert [i.status for i in listing.investments.all()] == [InvestmentStatus.REFUNDED]
    assert cash(investor) == investor_before + D("30.00")
    escrow = ledger_account(AccountKind.INVOICE_ESCROW, "EUR", invoice=listing.invoice)
    assert account_balance(escrow) == 0
    assert_books_balanced()


def test_a_funding_does_not_hold_the_listing_before_its_update(
    seller_and_investor, make_investor, monkeypatch, settings
):
    """Issue #19: fundings of one listing queue only for its update and the commit. X's
    funding stops after writing its entry, investment and event (it holds X's cash, not the
    listing); Y's funding of the same listing runs from start to commit meanwhile. Then X's
    update sees Y's and both count."""
    settings.PAYMINT = {**settings.PAYMINT, "MIN_TICKET": D("10")}
    seller, investor = seller_and_investor
    other = make_investor()
    deposit(other, "500.00")
    listing = listed(seller, on=DAY, debtor_tax_id="DE100000001")
    other_done = threading.Event()
    local = threading.local()
    original = marketplace_services._listing_fund

    def listing_fund(**kwargs):
        if getattr(local, "side", None) == "x":
            local.waited = other_done.wait(timeout=PATIENCE)
        return original(**kwargs)

    monkeypatch.setattr(marketplace_services, "_listing_fund", listing_fund)

    def work(i):
        with clock.frozen_at(DAY):
            if i == 0:
                local.side = "x"
                result = investment_create(investor=investor, listing=listing, amount="30.00")
                return result, local.waited
            try:
                return investment_create(investor=other, listing=listing, amount="40.00")
            finally:
                other_done.set()

    (x_result, x_waited), y_result = run_in_threads(2, work, timeout=60)

    assert x_waited, "Y's funding could not commit while X's was under way"
    assert x_result[1] and y_result[1]
    listing.refresh_from_db()
    assert (listing.funded_amount, listing.investor_count) == (D("70.00"), 2)
    escrow = ledger_account(AccountKind.INVOICE_ESCROW, "EUR", invoice=listing.invoice)
    assert account_balance(escrow) == D("70.00")
    assert_books_balanced()
