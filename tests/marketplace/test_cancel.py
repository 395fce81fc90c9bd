"""A seller cancels an invoice before disbursement (``POST /api/v1/invoices/{id}/cancel`` and
the invoice page's button, one service): the listing is withdrawn, every investor refunded in
full with one journal entry per investment; idempotent; refused once disbursed, writing
nothing; and safe against fundings arriving at the same moment (real threads, PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from invoices.enums import InvoiceStatus
from invoices.models import Invoice
from marketplace.enums import InvestmentStatus
from marketplace.models import Investment
from marketplace.services import investment_create
from paymint.core import clock
from settlements.enums import AccountKind, EntryKind
from settlements.ledger.posting import account_balance, ledger_account
from settlements.models import JournalEntry
from tests.helpers import (
    LISTING_DAY,
    api_client_for,
    assert_books_balanced,
    db_counts,
    deposit,
    listed_invoice,
    make_user,
    priced_invoice,
    run_in_threads,
)

D = Decimal


def cash(user) -> D:
    return account_balance(ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=user))


def cancel(client, invoice_id, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        return client.post(f"/api/v1/invoices/{invoice_id}/cancel", **headers)


@pytest.mark.django_db
class TestCancel:
    def test_listed_invoice_refunds_every_investor_one_entry_each(self, seller, make_investor):
        listing = listed_invoice(seller)
        anna, bram = make_investor(), make_investor()
        deposit(anna, "300.00")
        deposit(bram, "300.00")
        with clock.frozen_at(LISTING_DAY):
            investment_create(investor=anna, listing=listing, amount="200.00")
            investment_create(investor=bram, listing=listing, amount="113.94")
        assert (cash(anna), cash(bram)) == (D("100.00"), D("186.06"))

        response = cancel(api_client_for(seller), listing.invoice.public_id, key="c-1")
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == "CANCELLED"
        assert (cash(anna), cash(bram)) == (D("300.00"), D("300.00"))
        refunds = JournalEntry.objects.filter(kind=EntryKind.REFUND, invoice=listing.invoice)
        assert refunds.count() == 2
        assert sorted(p.amount for e in refunds for p in e.postings.all() if p.amount > 0) == [
            D("113.94"),
            D("200.00"),
        ]
        assert set(Investment.objects.values_list("status", flat=True)) == {
            InvestmentStatus.REFUNDED
        }
        escrow = ledger_account(AccountKind.INVOICE_ESCROW, "EUR", invoice=listing.invoice)
        assert account_balance(escrow) == 0
        event = listing.invoice.events.order_by("id").last()
        assert (event.from_status, event.to_status, event.actor_id) == (
            "LISTED",
            "CANCELLED",
            seller.pk,
        )
        assert "2 investor(s) refunded" in event.reason
        assert_books_balanced()

        # A replay answers the first response; a second cancel (no key) changes nothing.
        before = db_counts()
        replay = cancel(api_client_for(seller), listing.invoice.public_id, key="c-1")
        assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
        again = cancel(api_client_for(seller), listing.invoice.public_id)
        assert (again.status_code, again.json()["status"]) == (200, "CANCELLED")
        assert db_counts() == before

        # The listing is gone from the marketplace; a late funding is refused.
        with clock.frozen_at(LISTING_DAY):
            late = api_client_for(anna).post(
                f"/api/v1/marketplace/{listing.public_id}/investments",
                {"amount": "50.00"},
                format="json",
            )
        assert (late.status_code, late.json()["code"]) == (404, "LISTING_NOT_FOUND")

    def test_priced_invoice_is_cancelled_without_money(self, seller):
        invoice = priced_invoice(seller)
        entries = JournalEntry.objects.count()
        response = cancel(api_client_for(seller), invoice.public_id)
        assert (response.status_code, response.json()["status"]) == (200, "CANCELLED")
        assert JournalEntry.objects.count() == entries

    def test_disbursed_invoice_is_refused_and_nothing_written(self, seller, make_investor):
        listing = listed_invoice(seller)
        investor = make_investor()
        deposit(investor, "600.00")
        with clock.frozen_at(LISTING_DAY):
            investment_create(investor=investor, listing=listing, amount="513.94")
        before = db_counts()
        response = cancel(api_client_for(seller), listing.invoice.public_id)
        assert response.status_code == 409
        assert response.json()["code"] == "INVOICE_NOT_CANCELLABLE"
        assert set(response.json()) == {"code", "message", "fields"}
        assert db_counts() == before
        assert Invoice.objects.get(pk=listing.invoice_id).status == InvoiceStatus.DISBURSED

    def test_others_cannot_cancel(self, seller, make_investor, staff):
        listing = listed_invoice(seller)
        other = make_user("SELLER", "other-seller@example.com")
        investor = make_investor()
        before = db_counts()
        for user in (other, investor):
            response = cancel(api_client_for(user), listing.invoice.public_id)
            assert (response.status_code, response.json()["code"]) == (404, "INVOICE_NOT_FOUND")
        from rest_framework.test import APIClient

        assert cancel(APIClient(), listing.invoice.public_id).status_code == 401
        assert db_counts() == before

    def test_the_invoice_page_button_uses_the_same_service(self, seller, make_investor, client):
        listing = listed_invoice(seller)
        investor = make_investor()
        deposit(investor, "100.00")
        with clock.frozen_at(LISTING_DAY):
            investment_create(investor=investor, listing=listing, amount="100.00")
        client.force_login(seller)
        url = f"/seller/invoices/{listing.invoice.public_id}/"
        with clock.frozen_at(LISTING_DAY):
            page = client.get(url)
            assert b'value="cancel"' in page.content
            response = client.post(url, {"action": "cancel"})
        assert response.status_code == 302
        assert Invoice.objects.get(pk=listing.invoice_id).status == InvoiceStatus.CANCELLED
        assert cash(investor) == D("100.00")
        assert JournalEntry.objects.filter(kind=EntryKind.REFUND).count() == 1
        with clock.frozen_at(LISTING_DAY):
            assert b'value="cancel"' not in client.get(url).content


# --- against fundings arriving at the same moment (real threads) ---------------------------


def _fund(client, listing_id, amount):
    response = client.post(
        f"/api/v1/marketplace/{listing_id}/investments", {"amount": str(amount)}, format="json"
    )
    return response.status_code, response.json()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
@pytest.mark.parametrize("fill", [False, True])
def test_cancel_races_fundings(seller, make_investor, fill):
    """One cancel among eight fundings, released together. Without ``fill`` the fundings
    cannot fill the listing: every funding that committed is refunded and the others see the
    listing closed. With ``fill`` one funding may fill it first: then the invoice is disbursed
    and the cancel refused - never both, never money stuck in escrow."""
    investors = [make_investor() for _ in range(8)]
    for person in investors:
        deposit(person, "600.00")
    seller_client = api_client_for(seller)
    clients = [api_client_for(p) for p in investors]
    for round_no in range(3):
        listing = listed_invoice(
            seller, variant=f"race-{fill}-{round_no}", invoice_number=f"RACE-{fill}-{round_no}"
        )
        amounts = [D("513.94") if fill and i == 3 else D("50.00") for i in range(8)]
        before = {p.pk: cash(p) for p in investors}

        def work(i, listing=listing, amounts=amounts):
            if i == 8:
                response = seller_client.post(
                    f"/api/v1/invoices/{listing.invoice.public_id}/cancel"
                )
                return "cancel", response.status_code, response.json().get("code")
            return ("fund", *_fund(clients[i], listing.public_id, amounts[i]))

        with clock.frozen_at(LISTING_DAY, all_threads=True):
            results = run_in_threads(9, work)
        assert not [r for r in results if isinstance(r, BaseException)], results
        cancel_result = results[8]
        fundings = Counter((r[1], r[2].get("code")) for r in results[:8])
        invoice = Invoice.objects.get(pk=listing.invoice_id)
        investments = list(Investment.objects.filter(listing=listing))
        escrow = ledger_account(AccountKind.INVOICE_ESCROW, "EUR", invoice=invoice)
        if cancel_result[1] == 200:
            assert invoice.status == InvoiceStatus.CANCELLED
            assert all(inv.status == InvestmentStatus.REFUNDED for inv in investments)
            assert JournalEntry.objects.filter(
                invoice=invoice, kind=EntryKind.REFUND
            ).count() == len(investments)
            assert {p.pk: cash(p) for p in investors} == before  # everyone whole
            assert account_balance(escrow) == 0
            allowed = {(201, None), (409, "LISTING_NOT_OPEN"), (404, "LISTING_NOT_FOUND")}
            if fill:
                # The filling ticket (the whole advance) refused for its amount: a 50.00
                # committed first (then the cancel ran), a refusal that moved nothing.
                allowed.add((409, "AMOUNT_EXCEEDS_REMAINING"))
            assert set(fundings) <= allowed, fundings
            assert fundings[(201, None)] == len(investments)
        else:
            assert fill, cancel_result
            assert cancel_result[1:] == (409, "INVOICE_NOT_CANCELLABLE")
            assert invoice.status == InvoiceStatus.DISBURSED
            assert not JournalEntry.objects.filter(invoice=invoice, kind=EntryKind.REFUND).exists()
            assert account_balance(escrow) == 0
        assert_books_balanced()
