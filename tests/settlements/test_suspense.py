"""Unmatched money (issue #13): a credit whose reference matches no one goes to suspense;
finance allocates it, four eyes, through the same service as a webhook - the same postings,
the same waterfall. A receipt no webhook announced (a manual repayment entry) is the same
action."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.test import Client, TestCase
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import staff_user_create
from compliance.models import AuditEvent
from invoices.enums import InvoiceStatus
from marketplace.models import Investment
from paymint.core import clock
from paymint.core.errors import ApplicationError
from settlements.enums import AccountKind, AllocationStatus, BankEventStatus, EntryKind
from settlements.ledger.posting import account_balance, ledger_account, platform_account
from settlements.models import BankEvent, JournalEntry, Posting, SuspenseAllocation
from settlements.services import (
    allocation_approve,
    allocation_propose,
    allocation_reject,
    bank_event_apply,
)
from tests.helpers import (
    MUSTANG_DUE,
    STRONG_PASSWORD,
    admin_sign_in,
    assert_books_balanced,
    bank_event,
    db_counts,
)
from tests.settlements.test_collections import disbursed  # noqa: F401 - fixture


@pytest.fixture
def proposer(db):
    return staff_user_create(email="fin1@example.com", password=STRONG_PASSWORD,
                             roles=("finance",))


@pytest.fixture
def approver(db):
    return staff_user_create(email="fin2@example.com", password=STRONG_PASSWORD,
                             roles=("finance",))


def suspense(currency: str = "EUR") -> Decimal:
    return account_balance(platform_account(AccountKind.SUSPENSE, currency))


def unmatched(event_id: str, event_type: str, reference: str, amount: str) -> BankEvent:
    return bank_event_apply(payload=bank_event(event_id, event_type, reference, amount))


def test_an_unknown_reference_goes_to_suspense(webhook, db):
    response = webhook(APIClient(), bank_event("evt_u1", "deposit.received", "PM-NOBODY99",
                                               "42.00"))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "UNMATCHED"
    event = BankEvent.objects.get(event_id="evt_u1")
    assert event.entry.kind == EntryKind.SUSPENSE_IN
    assert suspense() == Decimal("42.00")
    assert_books_balanced()


def test_a_suspense_credit_allocated_to_a_deposit_four_eyes(proposer, approver,
                                                           make_investor):
    investor = make_investor()
    event = unmatched("evt_u2", "deposit.received", "PM-TYPO0001", "250.00")
    allocation = allocation_propose(actor=proposer, bank_event=event, kind="DEPOSIT",
                                    reference=investor.deposit_reference,
                                    reason="Payer called: typo in the reference")
    assert suspense() == Decimal("250.00")  # nothing moves on a proposal

    before = (db_counts(), AuditEvent.objects.count())
    with pytest.raises(ApplicationError) as refused:
        allocation_approve(allocation=allocation, actor=proposer)
    assert (refused.value.code, refused.value.http_status) == ("FOUR_EYES_SAME_PERSON", 403)
    assert (db_counts(), AuditEvent.objects.count()) == before
    assert SuspenseAllocation.objects.get().status == AllocationStatus.PROPOSED

    posted = allocation_approve(allocation=allocation, actor=approver)
    assert (posted.status, posted.decided_by) == (AllocationStatus.POSTED, approver)
    cash = ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=investor)
    assert (account_balance(cash), suspense()) == (Decimal("250.00"), Decimal("0.00"))
    event.refresh_from_db()
    assert event.status == BankEventStatus.ALLOCATED
    assert posted.posted_event.entry.kind == EntryKind.DEPOSIT  # the webhook's own entry
    assert_books_balanced()
    with pytest.raises(ApplicationError) as again:
        allocation_approve(allocation=allocation, actor=approver)
    assert again.value.code == "ALLOCATION_NOT_OPEN"
    with pytest.raises(ApplicationError) as second:
        allocation_propose(actor=proposer, bank_event=event, kind="DEPOSIT",
                           reference=investor.deposit_reference, reason="twice")
    assert second.value.code == "ALLOCATION_NOT_OPEN"


def _signature(invoice) -> list:
    """The repayment's and the settlement's postings, as (entry kind, account kind, owner,
    amount), in order."""
    rows = Posting.objects.filter(
        entry__invoice=invoice, entry__kind__in=[EntryKind.REPAYMENT, EntryKind.SETTLEMENT],
    ).order_by("entry__created_at", "entry_id", "leg").values_list(
        "entry__kind", "account__kind", "account__owner__email", "amount")
    return [(k, a, o, Decimal(m).normalize()) for k, a, o, m in rows]


EXPECTED = [
    ("REPAYMENT", "PLATFORM_BANK_CLEARING", None, Decimal("-571.04")),
    ("REPAYMENT", "INVOICE_ESCROW", None, Decimal("571.04")),
]


@pytest.mark.parametrize("route", ["webhook", "suspense", "manual receipt"])
def test_an_allocated_repayment_settles_the_invoice_as_a_webhook_would(
        route, disbursed, proposer, approver, seller):  # noqa: F811 - fixture
    listing, a, b = disbursed()
    invoice = listing.invoice
    with clock.frozen_at(MUSTANG_DUE), TestCase.captureOnCommitCallbacks(execute=True):
        if route == "webhook":
            bank_event_apply(payload=bank_event("evt_rep", "repayment.received",
                                                invoice.repayment_reference, "571.04"))
        else:
            event = None
            if route == "suspense":
                event = unmatched("evt_rep", "repayment.received", "INV-TYPO", "571.04")
            allocation = allocation_propose(
                actor=proposer, bank_event=event, kind="REPAYMENT",
                reference=invoice.repayment_reference, amount="571.04", currency="EUR",
                reason="Debtor quoted the order number")
            allocation_approve(allocation=allocation, actor=approver)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.SETTLED
    signature = _signature(invoice)
    assert signature[:2] == EXPECTED
    # Each investor gets their principal and discount fee (the waterfall's split, the same
    # for every route), the seller the rest: the reserve.
    paid = {inv.investor.email: (inv.amount + inv.fee_repaid).normalize()
            for inv in Investment.objects.filter(listing=listing).select_related("investor")}
    assert Decimal("516") < sum(paid.values()) < Decimal("517")  # 513.94 + the fee
    settlement = sorted((o or "", m) for _, kind, o, m in signature[2:])
    assert settlement == sorted([
        ("", Decimal("-571.04")),  # the escrow
        (a.email, paid[a.email]), (b.email, paid[b.email]),
        (seller.email, Decimal("571.04") - sum(paid.values())),  # the seller's reserve
    ])
    assert suspense() == 0
    assert_books_balanced()


def test_refusals_write_nothing(proposer, approver, make_investor):
    event = unmatched("evt_u3", "deposit.received", "PM-TYPO0002", "10.00")
    investor = make_investor()
    before = (JournalEntry.objects.count(), SuspenseAllocation.objects.count(),
              AuditEvent.objects.count())
    with pytest.raises(ApplicationError) as no_reason:
        allocation_propose(actor=proposer, bank_event=event, kind="DEPOSIT",
                           reference="PM-X", reason="  ")
    assert no_reason.value.code == "REASON_REQUIRED"
    with pytest.raises(ApplicationError) as not_staff:
        allocation_propose(actor=investor, bank_event=event, kind="DEPOSIT",
                           reference=investor.deposit_reference, reason="x")
    assert not_staff.value.code == "PERMISSION_DENIED"
    assert (JournalEntry.objects.count(), SuspenseAllocation.objects.count(),
            AuditEvent.objects.count()) == before

    # An allocation to a reference that matches no one is refused at approval and nothing
    # moves; the proposal is back to PROPOSED for a rejection.
    wrong = allocation_propose(actor=proposer, bank_event=event, kind="DEPOSIT",
                               reference="PM-STILLNOBODY", reason="guess")
    entries = JournalEntry.objects.count()
    with pytest.raises(ApplicationError) as unknown:
        allocation_approve(allocation=wrong, actor=approver)
    assert unknown.value.code == "UNKNOWN_REFERENCE"
    assert JournalEntry.objects.count() == entries and suspense() == Decimal("10.00")
    assert SuspenseAllocation.objects.get(pk=wrong.pk).status == AllocationStatus.PROPOSED
    with pytest.raises(ApplicationError) as own:
        allocation_reject(allocation=wrong, actor=proposer, reason="mine")
    assert own.value.code == "FOUR_EYES_SAME_PERSON"
    rejected = allocation_reject(allocation=wrong, actor=approver, reason="no such wallet")
    assert rejected.status == AllocationStatus.REJECTED
    # The credit is open again.
    allocation_propose(actor=proposer, bank_event=event, kind="DEPOSIT",
                       reference=investor.deposit_reference, reason="found them")


def test_the_database_refuses_an_allocation_decided_by_its_proposer(proposer):
    event = unmatched("evt_u4", "deposit.received", "PM-TYPO0003", "10.00")
    allocation = allocation_propose(actor=proposer, bank_event=event, kind="DEPOSIT",
                                    reference="PM-X", reason="r")
    with pytest.raises(IntegrityError), transaction.atomic():
        SuspenseAllocation.objects.filter(pk=allocation.pk).update(decided_by=proposer)


def test_the_unmatched_queue_in_the_admin(proposer, approver, make_investor):
    investor = make_investor()
    event = unmatched("evt_u5", "deposit.received", "PM-TYPO0005", "30.00")
    maker_client = admin_sign_in(Client(), proposer)
    queue = maker_client.get(reverse("admin:settlements_bankevent_changelist"),
                             {"status__exact": "UNMATCHED"})
    assert queue.status_code == 200 and b"PM-TYPO0005" in queue.content
    maker_client.post(reverse("admin:settlements_bankevent_changelist"), {
        "action": "allocate", "_selected_action": [event.pk], "apply": "1",
        "kind": "DEPOSIT", "reference": investor.deposit_reference, "reason": "typo"})
    allocation = SuspenseAllocation.objects.get()
    changelist = reverse("admin:settlements_suspenseallocation_changelist")
    maker_client.post(changelist, {"action": "approve", "_selected_action": [allocation.pk]})
    assert SuspenseAllocation.objects.get().status == AllocationStatus.PROPOSED  # own: no
    admin_sign_in(Client(), approver).post(changelist, {
        "action": "approve", "_selected_action": [allocation.pk]})
    assert SuspenseAllocation.objects.get().status == AllocationStatus.POSTED
    assert suspense() == 0

    receipt = maker_client.post(reverse("admin:settlements_suspenseallocation_receipt"), {
        "kind": "DEPOSIT", "reference": investor.deposit_reference, "reason": "cheque 0042",
        "amount": "12.50", "currency": "EUR"})
    assert receipt.status_code == 302
    assert SuspenseAllocation.objects.filter(bank_event=None, amount=Decimal("12.50")).exists()
