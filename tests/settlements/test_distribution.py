"""settlement_execute on invoices with many investors: what it writes, and that its cost in
queries does not grow with the number of investors (one statement per table, not a row each)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from invoices.services import (
    invoice_run_extraction,
    invoice_score,
    invoice_submit,
    invoice_update_fields,
    invoice_upload,
)
from marketplace.enums import InvestmentStatus
from marketplace.models import Investment
from marketplace.services import investment_create, listing_create
from paymint.core import clock
from settlements import tasks
from settlements.enums import AccountKind
from settlements.ledger.posting import account_balance, ledger_account
from settlements.models import Settlement
from settlements.services import bank_event_apply, settlement_execute
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    assert_books_balanced,
    bank_event,
    deposit,
    mustang_bytes,
    uploaded,
)

D = Decimal


def funded_and_repaid(seller, investors, *, number: int, queued: list[int]) -> Settlement:
    """A copy of the Mustang invoice (own bytes, number and face value) funded in equal
    tickets by ``investors`` (the last takes the rest), disbursed, then repaid in full; the
    settlement is left pending."""
    face = D("571.04") + number
    with clock.frozen_at(LISTING_DAY):
        invoice = invoice_upload(seller=seller,
                                 uploaded_file=uploaded(mustang_bytes(f"dist-{number}")))
        invoice = invoice_run_extraction(invoice_id=invoice.pk)
        invoice = invoice_update_fields(invoice=invoice, actor=seller, changes={
            "invoice_number": f"DIST-{number}", "face_value": face, "amount_due": face})
        invoice = invoice_submit(invoice=invoice, actor=seller)
        invoice = invoice_score(invoice_id=invoice.pk)
        listing = listing_create(invoice=invoice, seller=seller)
        ticket = (listing.advance_amount / len(investors)).quantize(D("0.01")) - D("0.01")
        for person in investors[:-1]:
            deposit(person, ticket)
            investment_create(investor=person, listing=listing, amount=ticket)
        listing.refresh_from_db()
        rest = listing.advance_amount - listing.funded_amount
        deposit(investors[-1], rest)
        investment_create(investor=investors[-1], listing=listing, amount=rest)
    invoice.refresh_from_db()
    assert invoice.status == "DISBURSED"
    with clock.frozen_at(MUSTANG_DUE), TestCase.captureOnCommitCallbacks(execute=True):
        bank_event_apply(payload=bank_event(f"evt_dist_{number}", "repayment.received",
                                            invoice.repayment_reference, face))
    return Settlement.objects.get(pk=queued[-1])


@pytest.fixture
def queued(monkeypatch):
    ids: list[int] = []
    monkeypatch.setattr(tasks.settlement_execute_task, "delay", ids.append)
    return ids


@pytest.mark.django_db
def test_settling_many_investors_pays_each_in_full_with_as_many_queries_as_two(
    seller, make_investor, queued
):
    people = [make_investor() for _ in range(7)]
    small = funded_and_repaid(seller, people[:2], number=1, queued=queued)
    big = funded_and_repaid(seller, people, number=2, queued=queued)
    counts = []
    for settlement in (small, big):
        with clock.frozen_at(MUSTANG_DUE), CaptureQueriesContext(connection) as ctx:
            settlement_execute(settlement_id=settlement.pk)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]

    big.refresh_from_db()
    assert big.status == "COMPLETED" and big.invoice.status == "SETTLED"
    investments = list(Investment.objects.filter(listing__invoice=big.invoice).order_by("id"))
    assert len(investments) == 7
    postings = {p.account.owner_id: p for p in big.entry.postings.select_related("account")
                if p.account.kind == AccountKind.INVESTOR_CASH}
    for inv in investments:
        owed = inv.amount + inv.discount_fee
        assert (inv.principal_repaid, inv.fee_repaid, inv.late_interest_repaid) == \
            (inv.amount, inv.discount_fee, 0)
        assert (inv.repaid_amount, inv.loss, inv.status) == (owed, 0, InvestmentStatus.SETTLED)
        assert big.breakdown["investors"][str(inv.pk)] == str(owed)
        posting = postings[inv.investor_id]
        assert posting.amount == owed
        assert posting.memo == (f"principal {inv.amount:.2f}, discount fee "
                                f"{inv.discount_fee:.2f}, late interest 0.00")
    legs = sorted(big.entry.postings.values_list("leg", flat=True))
    assert legs == list(range(len(legs)))  # one leg each, numbered from 0
    seller_reserve = D(big.breakdown["seller_reserve"])
    assert sum(p.amount for p in postings.values()) + seller_reserve == big.repaid_amount
    escrow = ledger_account(AccountKind.INVOICE_ESCROW, "EUR", invoice=big.invoice)
    assert account_balance(escrow) == 0
    assert_books_balanced()
