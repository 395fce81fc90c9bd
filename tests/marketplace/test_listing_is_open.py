"""``Listing.is_open`` (marketplace migration 0003): equal to "the invoice is LISTED" after every
transition - listing, full funding, expiry (cancelled or partially disbursed), the seller's
cancellation, the later life of a disbursed invoice - and impossible to write wrong; the
marketplace's open-listing test reads it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoices.enums import InvoiceStatus
from invoices.services import invoice_transition
from marketplace.models import Listing
from marketplace.selectors import listing_open_list
from marketplace.services import investment_create, invoice_cancel
from marketplace.tasks import listings_expire_task
from paymint.core import clock
from tests.factories import ListingFactory
from tests.helpers import LISTING_DAY, deposit, list_mustang_invoice, priced_invoice

pytestmark = pytest.mark.django_db


def assert_in_sync() -> None:
    """Every listing's ``is_open`` equals its invoice's status being LISTED (read afresh)."""
    rows = list(Listing.objects.values_list("pk", "is_open", "invoice__status"))
    assert rows, "no listing to check"
    assert [(pk, is_open, status) for pk, is_open, status in rows
            if is_open != (status == InvoiceStatus.LISTED)] == []


def is_open(listing) -> bool:
    return Listing.objects.values_list("is_open", flat=True).get(pk=listing.pk)


def fund(investor, listing, amount):
    deposit(investor, amount)
    with clock.frozen_at(LISTING_DAY):
        return investment_create(investor=investor, listing=listing, amount=Decimal(amount))[0]


def test_listing_opens_and_full_funding_closes_it(seller, make_investor):
    listing = list_mustang_invoice(seller)
    assert is_open(listing)
    assert list(listing_open_list().values_list("pk", flat=True)) == [listing.pk]
    assert_in_sync()

    fund(make_investor(), listing, "100.00")  # partly funded: still open
    assert is_open(listing)
    fund(make_investor(), listing, str(listing.advance_amount - Decimal("100.00")))
    listing.invoice.refresh_from_db()
    assert listing.invoice.status in (InvoiceStatus.FUNDED, InvoiceStatus.DISBURSED)
    assert not is_open(listing)
    assert not listing_open_list().exists()
    assert_in_sync()

    # The disbursed invoice's later life never reopens it (the trigger's WHEN: no write).
    invoice_transition(invoice=listing.invoice, to_status=InvoiceStatus.OVERDUE)
    invoice_transition(invoice=listing.invoice, to_status=InvoiceStatus.SETTLED)
    assert not is_open(listing)
    assert_in_sync()


@pytest.mark.parametrize("min_fill_rate, closed_as", [
    (None, InvoiceStatus.CANCELLED), (Decimal("0.5"), InvoiceStatus.DISBURSED)])
def test_expiry_closes_it_cancelled_or_partially_disbursed(seller, make_investor, min_fill_rate,
                                                          closed_as):
    listing = list_mustang_invoice(seller, min_fill_rate=min_fill_rate)
    fund(make_investor(), listing, "300.00")
    assert is_open(listing)
    with clock.frozen_at(listing.expires_at + dt.timedelta(minutes=1)):
        assert listings_expire_task() == 1
    listing.invoice.refresh_from_db()
    assert listing.invoice.status == closed_as
    assert not is_open(listing)
    assert_in_sync()


def test_seller_cancellation_closes_it(seller, make_investor):
    listing = list_mustang_invoice(seller)
    fund(make_investor(), listing, "100.00")
    invoice_cancel(invoice=listing.invoice, seller=seller)
    assert not is_open(listing)
    assert not listing_open_list().exists()
    assert_in_sync()


def test_other_invoices_transitions_touch_no_listing(seller):
    listing = ListingFactory()
    invoice = priced_invoice(seller)
    invoice_transition(invoice=invoice, to_status=InvoiceStatus.CANCELLED)
    assert is_open(listing)
    assert_in_sync()


def test_a_stale_or_direct_write_cannot_make_it_wrong(seller):
    listing = list_mustang_invoice(seller)
    stale = Listing.objects.get(pk=listing.pk)
    stale.is_open = False
    stale.save()  # every column, is_open included
    assert is_open(listing)
    Listing.objects.filter(pk=listing.pk).update(is_open=False)
    assert is_open(listing)
    closed = ListingFactory()
    invoice_cancel(invoice=closed.invoice, seller=closed.invoice.seller)
    Listing.objects.filter(pk=closed.pk).update(is_open=True)
    assert not is_open(closed)
    assert_in_sync()
