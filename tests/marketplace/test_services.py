"""Listing and funding services: terms, checks, disbursement, idempotency."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoices.enums import InvoiceStatus
from invoices.models import Invoice
from marketplace.models import Investment, Listing
from marketplace.services import investment_create, listing_create
from paymint.core import clock
from paymint.core.errors import ApplicationError
from settlements.enums import AccountKind, EntryKind
from settlements.ledger.posting import account_balance, ledger_account, platform_account
from settlements.models import JournalEntry
from tests.factories import InvoiceFactory, mustang_listing
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    assert_books_balanced,
    db_counts,
    deposit,
    make_user,
)

D = Decimal

pytestmark = pytest.mark.django_db


def cash(user) -> Decimal:
    kind = AccountKind.INVESTOR_CASH if user.is_investor else AccountKind.SELLER_CASH
    return account_balance(ledger_account(kind, "EUR", owner=user))


@pytest.fixture
def listing(seller):
    """The Mustang invoice's listing (513.94 EUR for 20 days), made by factories."""
    return mustang_listing(seller)


@pytest.fixture
def investors(make_investor):
    people = [make_investor(), make_investor()]
    for person in people:
        deposit(person, "1000.00")
    return people


def fund(investor, listing, amount, key="", when=LISTING_DAY):
    with clock.frozen_at(when):
        return investment_create(
            investor=investor, listing=listing, amount=amount, idempotency_key=key
        )


def refused(code, status, investor, listing, amount, key="", when=LISTING_DAY):
    balance = cash(investor) if investor.is_investor else None
    before = db_counts()
    funded = Listing.objects.get(pk=listing.pk).funded_amount
    with pytest.raises(ApplicationError) as info:
        fund(investor, listing, amount, key, when)
    assert (info.value.code, info.value.http_status) == (code, status)
    assert db_counts() == before
    assert Listing.objects.get(pk=listing.pk).funded_amount == funded
    if balance is not None:
        assert cash(investor) == balance
    return info.value


class TestListingCreate:
    def test_terms_are_fixed_at_listing(self, listing):
        assert listing.invoice.status == InvoiceStatus.LISTED
        assert (listing.advance_rate, listing.advance_amount) == (D("0.9"), D("513.94"))
        assert (listing.discount_rate, listing.platform_fee_rate) == (D("0.08"), D("0.01"))
        assert listing.platform_fee == D("5.14")
        assert listing.min_ticket == D("50.00")
        assert listing.face_value == D("571.04")
        assert listing.due_date == MUSTANG_DUE
        assert listing.funded_amount == 0
        # 14 listing days would pass the due date: expiry is due date - 7 days
        assert listing.expires_at == dt.datetime(2020, 12, 5, tzinfo=dt.UTC)
        event = listing.invoice.events.last()
        assert (event.to_status, event.reason) == ("LISTED", "listed for 513.94 EUR")

    def test_lower_advance_rate(self, seller):
        listing = mustang_listing(seller, advance_rate=D("0.5"))
        assert listing.advance_amount == D("285.52")  # 571.04 x 0.5

    def refused(self, invoice, seller, code, status, when=LISTING_DAY, **kwargs):
        before = db_counts()
        with clock.frozen_at(when), pytest.raises(ApplicationError) as info:
            listing_create(invoice=invoice, seller=seller, **kwargs)
        assert (info.value.code, info.value.http_status) == (code, status)
        assert db_counts() == before
        assert Invoice.objects.get(pk=invoice.pk).status == invoice.status

    def test_advance_rate_above_the_grade_cap(self, seller):
        invoice = InvoiceFactory(mustang=True, seller=seller)
        self.refused(invoice, seller, "ADVANCE_RATE_ABOVE_CAP", 400, advance_rate=D("0.91"))
        self.refused(invoice, seller, "ADVANCE_RATE_ABOVE_CAP", 400, advance_rate=D("0"))

    def test_not_the_owner(self, seller, staff):
        invoice = InvoiceFactory(mustang=True, seller=seller)
        other = make_user(
            "SELLER",
            "other@example.com",
            kyc={"legal_name": "Andere GmbH", "country": "DE", "tax_id": "DE129273398"},
            approve_by=staff,
        )
        self.refused(invoice, other, "NOT_INVOICE_OWNER", 403)

    def test_not_priced(self, listing, seller):
        self.refused(listing.invoice, seller, "INVALID_STATUS_TRANSITION", 409)

    def test_due_date_too_close_since_scoring(self, seller):
        invoice = InvoiceFactory(mustang=True, seller=seller)
        self.refused(invoice, seller, "DUE_DATE_NOT_IN_FUTURE", 422, when=dt.date(2020, 12, 6))


class TestInvestmentCreate:
    def test_partial_funding_moves_cash_to_escrow(self, listing, investors):
        anna, _ = investors
        investment, created = fund(anna, listing, "200.00")
        assert created
        assert (investment.amount, investment.discount_rate) == (D("200.00"), D("0.08"))
        # quote accepted at funding: 20 days, 200 x 0.08 x 20 / 365 = 0.8767 -> 0.88
        assert (investment.expected_days, investment.expected_discount_fee) == (20, D("0.88"))
        assert investment.expected_return == D("200.88")
        assert investment.discount_fee is None  # fixed at disbursement
        assert investment.funding_entry.kind == EntryKind.FUNDING
        assert cash(anna) == D("800.00")
        escrow = ledger_account(AccountKind.INVOICE_ESCROW, "EUR", invoice=listing.invoice)
        assert account_balance(escrow) == D("200.00")
        listing.refresh_from_db()
        assert (listing.funded_amount, listing.investor_count) == (D("200.00"), 1)
        assert listing.invoice.status == InvoiceStatus.LISTED
        assert_books_balanced()

    def test_filling_the_advance_disburses(self, listing, investors, seller):
        anna, bram = investors
        fund(anna, listing, "200.00")
        fund(bram, listing, "313.94")
        listing.refresh_from_db()
        invoice = listing.invoice
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.DISBURSED
        assert [e.to_status for e in invoice.events.all()][-2:] == ["FUNDED", "DISBURSED"]
        assert listing.disbursed_on == LISTING_DAY
        assert listing.funded_at is not None
        assert cash(seller) == D("508.80")  # 513.94 - 5.14
        revenue = platform_account(AccountKind.PLATFORM_FEE_REVENUE, "EUR")
        assert account_balance(revenue) == D("5.14")
        escrow = ledger_account(AccountKind.INVOICE_ESCROW, "EUR", invoice=invoice)
        assert account_balance(escrow) == 0
        # each investment's own fee, rounded once: 200 x 0.08 x 20 / 365 = 0.8767 -> 0.88,
        # 313.94 x 0.08 x 20 / 365 = 1.3762 -> 1.38 (= the quotes; the invoice's fee is 2.26)
        fees = list(Investment.objects.order_by("id").values_list("discount_fee", flat=True))
        assert fees == [D("0.88"), D("1.38")]
        quoted = Investment.objects.order_by("id").values_list("expected_discount_fee",
                                                               flat=True)
        assert fees == list(quoted)
        assert JournalEntry.objects.filter(kind=EntryKind.DISBURSEMENT).count() == 1
        assert_books_balanced()

    def test_remainder_below_the_min_ticket_may_be_taken(self, listing, investors):
        anna, bram = investors
        fund(anna, listing, "473.94")
        refused("BELOW_MIN_TICKET", 400, bram, listing, "39.99")
        investment, _ = fund(bram, listing, "40.00")  # exactly the remainder
        assert investment.amount == D("40.00")
        assert Invoice.objects.get(pk=listing.invoice_id).status == InvoiceStatus.DISBURSED

    def test_below_min_ticket(self, listing, investors):
        error = refused("BELOW_MIN_TICKET", 400, investors[0], listing, "49.99")
        assert "amount" in error.fields

    def test_above_remaining(self, listing, investors):
        fund(investors[0], listing, "500.00")
        error = refused("AMOUNT_EXCEEDS_REMAINING", 409, investors[1], listing, "13.95")
        assert "amount" in error.fields

    def test_insufficient_funds(self, listing, make_investor):
        poor = make_investor()
        deposit(poor, "99.99")
        refused("INSUFFICIENT_FUNDS", 409, poor, listing, "100.00")

    def test_no_wallet_at_all(self, listing, make_investor):
        refused("INSUFFICIENT_FUNDS", 409, make_investor(), listing, "50.00")

    def test_a_ticket_below_the_minimum_is_refused_as_such_whatever_the_cash(
            self, listing, make_investor):
        # The listing explains the refusal first, before the investor's cash: an empty
        # wallet asking for less than the minimum ticket is told about the minimum.
        error = refused("BELOW_MIN_TICKET", 400, make_investor(), listing, "49.99")
        assert "amount" in error.fields
        poor = make_investor()
        deposit(poor, "10.00")
        refused("BELOW_MIN_TICKET", 400, poor, listing, "20.00")
        assert cash(poor) == D("10.00")
        assert not Investment.objects.filter(investor=poor).exists()

    def test_kyc_not_approved(self, listing, make_investor):
        pending = make_investor(approved=False)
        deposit(pending, "500.00")
        refused("KYC_NOT_APPROVED", 403, pending, listing, "100.00")

    def test_seller_cannot_invest(self, listing, seller):
        refused("NOT_AN_INVESTOR", 403, seller, listing, "100.00")

    @pytest.mark.parametrize("amount", ["0", "-50.00", "abc", "NaN", "Infinity", "50.001"])
    def test_invalid_amount(self, listing, investors, amount):
        refused("INVALID_AMOUNT", 400, investors[0], listing, amount)

    def test_expired_listing(self, listing, investors):
        refused("LISTING_EXPIRED", 409, investors[0], listing, "100.00", when=dt.date(2020, 12, 5))

    def test_fully_funded_listing_is_closed(self, listing, investors, make_investor):
        fund(investors[0], listing, "513.94")
        late = make_investor()
        deposit(late, "100.00")
        refused("LISTING_NOT_OPEN", 409, late, listing, "50.00")


class TestIdempotency:
    def test_replay_returns_the_first_investment(self, listing, investors):
        first, created = fund(investors[0], listing, "100.00", key="k-1")
        before = db_counts()
        again, created_again = fund(investors[0], listing, D("100"), key="k-1")
        assert (created, created_again) == (True, False)
        assert again.pk == first.pk
        assert db_counts() == before
        assert cash(investors[0]) == D("900.00")

    def test_replay_after_the_listing_closed(self, listing, investors):
        first, _ = fund(investors[0], listing, "513.94", key="fill")
        again, created = fund(investors[0], listing, "513.94", key="fill")
        assert (again.pk, created) == (first.pk, False)

    def test_same_key_other_amount(self, listing, investors):
        fund(investors[0], listing, "100.00", key="k-1")
        refused("IDEMPOTENCY_KEY_REUSED", 422, investors[0], listing, "100.01", key="k-1")

    def test_same_key_other_listing(self, listing, investors, seller):
        fund(investors[0], listing, "100.00", key="k-1")
        other = mustang_listing(seller, invoice_number="RE-20201121/509")
        refused("IDEMPOTENCY_KEY_REUSED", 422, investors[0], other, "100.00", key="k-1")

    def test_keys_are_per_investor(self, listing, investors):
        a, _ = fund(investors[0], listing, "100.00", key="shared")
        b, created = fund(investors[1], listing, "100.00", key="shared")
        assert created
        assert a.pk != b.pk
        assert Investment.objects.count() == 2
