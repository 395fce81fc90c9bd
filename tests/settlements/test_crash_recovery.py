"""Crash recovery of the settlement task and of the repayment webhook.

A crash is injected at each step of ``settlement_execute`` (before and after the posting, at
the investments' update, the late fee, the settlement row, the invoice's transition, and just
before commit); nothing of the settlement may be left behind, and a rerun of the task must
write exactly the postings of an uninterrupted run - and a third run nothing more.

The uninterrupted run is made on the very same data inside a savepoint that is then rolled
back, so that both runs start from identical rows (the document-duplicate checks would refuse a
second copy of the Mustang invoice with the same face value). The invoice is made by factories
with the Mustang invoice's figures (``InvoiceFactory(mustang=True)``): reading the document is
not the point here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import TestCase

from invoices.enums import InvoiceStatus
from invoices.models import Invoice
from marketplace.models import Investment, Listing
from marketplace.services import investment_create
from paymint.core import clock
from settlements.enums import AccountKind, EntryKind, SettlementStatus
from settlements.ledger.posting import account_balance, ledger_account
from settlements.models import BankEvent, JournalEntry, Settlement
from settlements.services import DuplicateEvent, bank_event_apply, distribution
from settlements.tasks import invoices_age_task, settlement_execute_task
from tests.factories import mustang_listing
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    assert_books_balanced,
    bank_event,
    db_counts,
    deposit,
)

D = Decimal


class Crash(Exception):
    """The injected failure (a worker killed, the database gone): not an ApplicationError,
    and not a ConnectionError (which the task would retry)."""


#: scenario -> (payment date, amount, age the invoice first)
SCENARIOS = {
    "partial": (MUSTANG_DUE, D("100.00")),
    "late_partial": (MUSTANG_DUE + dt.timedelta(days=12), D("200.00")),
    "late_full": (MUSTANG_DUE + dt.timedelta(days=12), D("650.00")),  # settles, overpaid
}


def disbursed_and_repaid(seller, make_investor, scenario: str, queued: list[int]):
    """Two investors fund the Mustang invoice (300.00 + the rest) on the listing day; the
    debtor pays per ``scenario``; the settlement task is queued, not run."""
    listing = mustang_listing(seller)
    invoice = listing.invoice
    a, b = make_investor(), make_investor()
    deposit(a, "300.00")
    deposit(b, "300.00")
    with clock.frozen_at(LISTING_DAY):
        investment_create(investor=a, listing=listing, amount="300.00")
        investment_create(
            investor=b, listing=listing, amount=str(listing.advance_amount - D("300.00"))
        )
    on, amount = SCENARIOS[scenario]
    if on > MUSTANG_DUE + dt.timedelta(days=5):
        with clock.frozen_at(on - dt.timedelta(days=1)):
            invoices_age_task()  # overdue: late fee due, late interest accruing
    invoice.refresh_from_db()
    with clock.frozen_at(on), TestCase.captureOnCommitCallbacks(execute=True):
        event = bank_event_apply(
            payload=bank_event(
                f"evt_{scenario}", "repayment.received", invoice.repayment_reference, amount
            )
        )
    settlement = Settlement.objects.get(bank_event=event)
    assert queued == [settlement.pk]  # nothing ran: the task only was enqueued
    return listing, settlement, on


def outcome(listing: Listing, settlement: Settlement) -> dict:
    """Everything a settlement writes, in a form comparable across runs."""
    settlement.refresh_from_db()
    entries = JournalEntry.objects.filter(kind=EntryKind.SETTLEMENT, invoice=listing.invoice)
    listing.refresh_from_db()
    return {
        "postings": sorted(
            (p.leg, p.account.key, p.amount, p.memo)
            for entry in entries
            for p in entry.postings.select_related("account")
        ),
        "entries": sorted(entries.values_list("idempotency_key", "effective_date", "description")),
        "investments": list(
            Investment.objects.filter(listing=listing)
            .order_by("id")
            .values_list(
                "principal_repaid",
                "fee_repaid",
                "late_interest_accrued",
                "late_interest_repaid",
                "interest_accrued_through",
                "repaid_amount",
                "loss",
                "status",
            )
        ),
        "invoice": Invoice.objects.get(pk=listing.invoice_id).status,
        "status_events": list(
            listing.invoice.events.order_by("id").values_list("from_status", "to_status", "reason")
        ),
        "listing": (listing.late_fee, listing.late_fee_paid),
        "settlement": (
            settlement.status,
            settlement.breakdown,
            settlement.entry.idempotency_key if settlement.entry else None,
        ),
        "counts": db_counts(),
    }


def inject(monkeypatch, point: str, fired: list[str]) -> None:
    """Make ``settlement_execute`` fail at ``point``; ``fired`` records that it did."""

    def fail():
        fired.append(point)
        raise Crash(point)

    if point == "accrue_late_interest":
        monkeypatch.setattr(distribution, "accrue_late_interest", lambda **kw: fail())
    elif point == "before_posting":
        monkeypatch.setattr(distribution, "ledger_post", lambda **kw: fail())
    elif point == "after_posting":
        real = distribution.ledger_post

        def post_then_fail(**kwargs):
            real(**kwargs)
            fail()

        monkeypatch.setattr(distribution, "ledger_post", post_then_fail)
    elif point == "investments_update":
        real = distribution.update_columns

        def update_columns(model, **kwargs):
            if "principal_repaid" in kwargs["columns"]:
                fail()
            return real(model, **kwargs)

        monkeypatch.setattr(distribution, "update_columns", update_columns)
    elif point == "late_fee_paid":
        real_f = distribution.F

        def f(name):
            if name == "late_fee_paid":
                fail()
            return real_f(name)

        monkeypatch.setattr(distribution, "F", f)
    elif point == "settlement_save":
        real_save = Settlement.save

        def save(self, *args, **kwargs):
            if "status" in (kwargs.get("update_fields") or ()):
                fail()
            return real_save(self, *args, **kwargs)

        monkeypatch.setattr(Settlement, "save", save)
    elif point == "invoice_settled":
        real_transition = distribution.invoice_transition

        def transition(**kwargs):
            real_transition(**kwargs)
            fail()

        monkeypatch.setattr(distribution, "invoice_transition", transition)
    elif point == "before_commit":
        real_distribute = distribution.settlement_distribute

        def distribute(settlement):
            real_distribute(settlement)
            fail()

        monkeypatch.setattr(distribution, "settlement_distribute", distribute)
    else:  # pragma: no cover
        raise AssertionError(point)


COMMON = [
    "before_posting",
    "after_posting",
    "investments_update",
    "settlement_save",
    "before_commit",
]
CASES = (
    [("partial", p) for p in COMMON]
    + [("late_partial", p) for p in ["accrue_late_interest", *COMMON]]  # late fee not reached
    + [
        ("late_full", p)
        for p in ["accrue_late_interest", *COMMON, "late_fee_paid", "invoice_settled"]
    ]
)


@pytest.fixture
def queued(monkeypatch):
    """The broker: settlement tasks enqueued on commit are recorded, not run."""
    ids: list[int] = []
    monkeypatch.setattr(settlement_execute_task, "delay", ids.append)
    return ids


@pytest.mark.django_db
@pytest.mark.parametrize(("scenario", "point"), CASES, ids=[f"{s}-{p}" for s, p in CASES])
def test_a_crash_at_any_step_then_a_rerun_posts_what_an_uninterrupted_run_posts(
    seller, make_investor, monkeypatch, queued, scenario, point
):
    listing, settlement, on = disbursed_and_repaid(seller, make_investor, scenario, queued)
    before = outcome(listing, settlement)
    assert before["settlement"][0] == SettlementStatus.PENDING

    # the uninterrupted run, on the same rows, rolled back afterwards
    savepoint = transaction.savepoint()
    with clock.frozen_at(on):
        assert settlement_execute_task.apply(args=(settlement.pk,)).get() == "COMPLETED"
    expected = outcome(listing, settlement)
    assert_books_balanced()
    transaction.savepoint_rollback(savepoint)
    assert outcome(listing, settlement) == before
    assert expected["postings"] and expected["settlement"][0] == SettlementStatus.COMPLETED

    # the crash: nothing of the settlement is left
    fired: list[str] = []
    with monkeypatch.context() as patch:
        inject(patch, point, fired)
        with clock.frozen_at(on), pytest.raises(Crash):
            settlement_execute_task.apply(args=(settlement.pk,)).get()
    assert fired == [point]
    after_crash = outcome(listing, settlement)
    assert after_crash == before, f"the crash at {point} left a partial settlement"
    assert not JournalEntry.objects.filter(
        kind=EntryKind.SETTLEMENT, invoice=listing.invoice
    ).exists()
    assert_books_balanced()

    # the retry writes what the uninterrupted run wrote
    with clock.frozen_at(on):
        assert settlement_execute_task.apply(args=(settlement.pk,)).get() == "COMPLETED"
    assert outcome(listing, settlement) == expected
    escrow = ledger_account(AccountKind.INVOICE_ESCROW, "EUR", invoice=listing.invoice)
    assert account_balance(escrow) == 0
    assert_books_balanced()

    # and a third run (a redelivered task) changes nothing, even on a later day
    with clock.frozen_at(on + dt.timedelta(days=3)):
        assert settlement_execute_task.apply(args=(settlement.pk,)).get() == "COMPLETED"
    assert outcome(listing, settlement) == expected


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("point", ["repayment_posted", "settlement_created", "event_saved"])
def test_a_crash_inside_the_repayment_webhook_leaves_nothing_and_a_redelivery_applies_once(
    seller, make_investor, monkeypatch, point
):
    listing = mustang_listing(seller)
    invoice = listing.invoice
    a = make_investor()
    deposit(a, "600.00")
    with clock.frozen_at(LISTING_DAY):
        investment_create(investor=a, listing=listing, amount=str(listing.advance_amount))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DISBURSED
    payload = bank_event("evt_crash", "repayment.received", invoice.repayment_reference, "100.00")
    before = db_counts()
    escrow = ledger_account(AccountKind.INVOICE_ESCROW, "EUR", invoice=invoice)
    ran: list[int] = []
    real_delay = settlement_execute_task.delay
    monkeypatch.setattr(
        settlement_execute_task, "delay", lambda sid: (ran.append(sid), real_delay(sid))
    )

    fired: list[str] = []

    def fail():
        fired.append(point)
        raise Crash(point)

    with monkeypatch.context() as patch:
        if point == "repayment_posted":
            real_post = distribution.ledger_post
            patch.setattr(distribution, "ledger_post", lambda **kw: (real_post(**kw), fail()))
        elif point == "settlement_created":
            real_create = Settlement.objects.create
            patch.setattr(Settlement.objects, "create", lambda **kw: (real_create(**kw), fail()))
        else:
            real_save = BankEvent.save

            def save(self, *args, **kwargs):
                if "entry" in (kwargs.get("update_fields") or ()):
                    fail()
                return real_save(self, *args, **kwargs)

            patch.setattr(BankEvent, "save", save)
        with clock.frozen_at(MUSTANG_DUE), pytest.raises(Crash):
            bank_event_apply(payload=payload)
    assert fired == [point]
    assert db_counts() == before
    assert not BankEvent.objects.filter(event_id="evt_crash").exists()
    assert not Settlement.objects.filter(invoice=invoice).exists()
    assert not JournalEntry.objects.filter(kind=EntryKind.REPAYMENT, invoice=invoice).exists()
    assert ran == []  # the on-commit enqueue was discarded with the transaction
    assert account_balance(escrow) == 0
    assert_books_balanced()

    # the bank redelivers: applied once, distributed once
    with clock.frozen_at(MUSTANG_DUE):
        bank_event_apply(payload=payload)
    settlement = Settlement.objects.get(invoice=invoice)
    assert ran == [settlement.pk]
    assert settlement.status == SettlementStatus.COMPLETED
    assert Investment.objects.get(listing=listing).repaid_amount == D("100.00")
    assert account_balance(escrow) == 0
    after = db_counts()
    with clock.frozen_at(MUSTANG_DUE), pytest.raises(DuplicateEvent):
        bank_event_apply(payload=payload)
    assert db_counts() == after
    assert ran == [settlement.pk]
    assert Investment.objects.get(listing=listing).repaid_amount == D("100.00")
    assert_books_balanced()
