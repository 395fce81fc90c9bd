"""Ops act on invoices in the back office: verify, reject, mark disputed - through services,
recorded in the invoice's history; a disputed invoice cannot be listed or funded."""

from __future__ import annotations

import pytest
from django.urls import reverse

from compliance.enums import AlertKind
from compliance.models import ComplianceAlert
from invoices.enums import InvoiceStatus
from marketplace.services import investment_create, listing_create
from paymint.core import clock
from paymint.core.errors import ApplicationError
from tests.factories import InvoiceFactory, mustang_listing
from tests.helpers import LISTING_DAY, deposit


def changelist():
    return reverse("admin:invoices_invoice_changelist")


def test_verify_action_records_who_checked(ops_client, staff, seller):
    invoice = InvoiceFactory(mustang=True, seller=seller)
    response = ops_client.post(changelist(), {"action": "verify",
                                              "_selected_action": [invoice.pk]})
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.ops_verified_by == staff and invoice.ops_verified_at is not None
    assert invoice.events.last().reason.startswith("verified by operations")


def test_reject_needs_a_reason_and_moves_the_invoice(ops_client, seller):
    invoice = InvoiceFactory(mustang=True, seller=seller)
    form = ops_client.post(changelist(), {"action": "reject", "_selected_action": [invoice.pk],
                                          "apply": "1", "reason": ""})
    assert form.status_code == 200 and b"This field is required" in form.content
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PRICED
    ops_client.post(changelist(), {"action": "reject", "_selected_action": [invoice.pk],
                                   "apply": "1", "reason": "Debtor unknown at this address"})
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.REJECTED
    assert "Debtor unknown" in invoice.events.last().reason


def test_a_disputed_invoice_cannot_be_listed_or_funded(ops_client, seller, make_investor):
    listing = mustang_listing(seller)
    other = InvoiceFactory(mustang=True, seller=seller, invoice_number="X-9")
    for invoice in (listing.invoice, other):
        ops_client.post(changelist(), {"action": "mark_disputed",
                                       "_selected_action": [invoice.pk], "apply": "1",
                                       "reason": "Debtor says goods were returned"})
    assert ComplianceAlert.objects.filter(kind=AlertKind.DEBTOR_DISPUTE).count() == 2
    investor = make_investor()
    deposit(investor, "100.00")
    with clock.frozen_at(LISTING_DAY):
        with pytest.raises(ApplicationError) as caught:
            investment_create(investor=investor, listing=listing, amount="50.00")
        assert caught.value.code == "INVOICE_DISPUTED"
        other.refresh_from_db()
        with pytest.raises(ApplicationError) as caught:
            listing_create(invoice=other, seller=seller)
        assert caught.value.code == "INVOICE_DISPUTED"


def test_invoices_export_to_csv(ops_client, seller):
    invoice = InvoiceFactory(mustang=True, seller=seller)
    response = ops_client.post(changelist(), {"action": "export_csv",
                                              "_selected_action": [invoice.pk]})
    assert response["Content-Type"] == "text/csv"
    assert invoice.invoice_number.encode() in response.content


def test_sellers_cannot_use_the_ops_services(seller):
    from invoices.services import invoice_ops_reject

    invoice = InvoiceFactory(mustang=True, seller=seller)
    with pytest.raises(ApplicationError) as caught:
        invoice_ops_reject(invoice=invoice, actor=seller, reason="mine")
    assert caught.value.code == "STAFF_ONLY"
