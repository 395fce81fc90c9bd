"""Debtor confirmation, concentration limits, the debtor's record across sellers and the
calibration report."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import TestCase

from compliance.enums import AlertKind
from compliance.models import ComplianceAlert
from invoices.confirmation import debtor_confirmation_request
from invoices.enums import InvoiceStatus
from invoices.models import DebtorConfirmation
from invoices.selectors import risk_calibration
from marketplace.services import investment_create, listing_create
from paymint.core import clock
from paymint.core.errors import ApplicationError
from paymint.core.models import OutboundMessage
from tests.factories import InvoiceFactory
from tests.helpers import LISTING_DAY, deposit, priced_invoice, signing_clock_ahead


def request_confirmation(client, invoice, seller):
    with TestCase.captureOnCommitCallbacks(execute=True):
        debtor_confirmation_request(invoice=invoice, seller=seller, email="AP@debtor.example")
    message = mail.outbox[-1]
    token = re.search(r"/debtor/confirm/([^/\s]+)/", message.body).group(1)
    return token


def test_debtor_confirmation_improves_the_score_and_shows_a_badge(seller, client, api_client):
    invoice = priced_invoice(seller)  # scored from the document: the score is the point
    score_before = invoice.risk_score
    token = request_confirmation(client, invoice, seller)
    assert OutboundMessage.objects.get().status == "SENT"
    assert mail.outbox[-1].to == ["ap@debtor.example"]

    page = client.get(f"/debtor/confirm/{token}/")
    assert page.status_code == 200 and invoice.invoice_number.encode() in page.content
    with clock.frozen_at(LISTING_DAY):
        answer = client.post(f"/debtor/confirm/{token}/", {"answer": "confirm"})
    assert answer.status_code == 200
    invoice.refresh_from_db()
    assert invoice.debtor_confirmed_at is not None
    assert invoice.risk_score == score_before + 8
    assert "DEBTOR_CONFIRMED" in [f["code"] for f in invoice.risk_factors]
    body = api_client(seller).get(f"/api/v1/invoices/{invoice.public_id}").json()
    assert body["debtor_confirmed"] is True
    # The link works once.
    again = client.post(f"/debtor/confirm/{token}/", {"answer": "dispute"})
    assert DebtorConfirmation.objects.get().status == "CONFIRMED"
    assert b"already answered" in again.content


def test_a_dispute_raises_an_alert(seller, client):
    invoice = InvoiceFactory(mustang=True, seller=seller)
    token = request_confirmation(client, invoice, seller)
    client.post(f"/debtor/confirm/{token}/", {"answer": "dispute", "note": "Never ordered"})
    alert = ComplianceAlert.objects.get()
    assert alert.kind == AlertKind.DEBTOR_DISPUTE
    assert alert.evidence["note"] == "Never ordered"
    invoice.refresh_from_db()
    assert invoice.debtor_confirmed_at is None


def test_tampered_and_expired_links_are_refused(seller, client, settings, monkeypatch):
    invoice = InvoiceFactory(mustang=True, seller=seller)
    token = request_confirmation(client, invoice, seller)
    assert client.get(f"/debtor/confirm/{token}x/").status_code == 404
    settings.DEBTOR_CONFIRMATION_DAYS = 0
    signing_clock_ahead(monkeypatch, 2)  # the link is two seconds old: past a zero-day limit
    expired = client.post(f"/debtor/confirm/{token}/", {"answer": "confirm"})
    assert expired.status_code == 410
    assert DebtorConfirmation.objects.get().status == "REQUESTED"


def test_debtor_exposure_cap_across_sellers(seller, settings):
    settings.PAYMINT = {**settings.PAYMINT, "MAX_DEBTOR_EXPOSURE": Decimal("900")}
    first = InvoiceFactory(mustang=True, seller=seller, invoice_number="A-1")
    with clock.frozen_at(LISTING_DAY):
        listing_create(invoice=first, seller=seller)  # 513.94 on debtor Theodor Est
    second = InvoiceFactory(mustang=True, seller=seller, invoice_number="A-2")
    with clock.frozen_at(LISTING_DAY), pytest.raises(ApplicationError) as caught:
        listing_create(invoice=second, seller=seller)
    assert caught.value.code == "DEBTOR_CONCENTRATION_LIMIT"
    second.refresh_from_db()
    assert second.status == InvoiceStatus.PRICED


def test_investor_exposure_cap_on_one_debtor(seller, make_investor, settings):
    settings.PAYMINT = {**settings.PAYMINT, "MAX_INVESTOR_DEBTOR_EXPOSURE": Decimal("400")}
    investor = make_investor()
    deposit(investor, "1000.00")
    first = InvoiceFactory(mustang=True, seller=seller, invoice_number="B-1")
    second = InvoiceFactory(mustang=True, seller=seller, invoice_number="B-2")
    with clock.frozen_at(LISTING_DAY):
        l1 = listing_create(invoice=first, seller=seller)
        l2 = listing_create(invoice=second, seller=seller)
        investment_create(investor=investor, listing=l1, amount="300.00")
        with pytest.raises(ApplicationError) as caught:
            investment_create(investor=investor, listing=l2, amount="150.00")
        assert caught.value.code == "INVESTOR_CONCENTRATION_LIMIT"
        investment_create(investor=investor, listing=l2, amount="100.00")  # up to the cap


def test_concentration_and_debtor_record_enter_the_score(seller):
    # scored from the documents: the score is the point
    first = priced_invoice(seller, variant="a", invoice_number="C-1")
    with clock.frozen_at(LISTING_DAY):
        listing_create(invoice=first, seller=seller)
    second = priced_invoice(seller, variant="b", invoice_number="C-2")
    codes = {f["code"]: f["points"] for f in second.risk_factors}
    assert codes["CONCENTRATION"] == -12  # the whole book would be on Theodor Est


def test_risk_report_compares_predicted_and_realized(seller, make_investor, capsys):
    from settlements.services import bank_event_apply
    from tests.helpers import MUSTANG_DUE, bank_event

    investor = make_investor()
    deposit(investor, "600.00")
    invoice = InvoiceFactory(mustang=True, seller=seller)
    with clock.frozen_at(LISTING_DAY):
        listing = listing_create(invoice=invoice, seller=seller)
        investment_create(investor=investor, listing=listing, amount=listing.advance_amount)
    invoice.refresh_from_db()
    with (
        clock.frozen_at(MUSTANG_DUE + dt.timedelta(days=3)),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        bank_event_apply(
            payload=bank_event(
                "evt_rr", "repayment.received", invoice.repayment_reference, "571.04"
            )
        )
    [row] = risk_calibration()
    assert row["grade"] == "A" and row["financed"] == 1 and row["closed"] == 1
    assert row["predicted_pd"] == Decimal("0.01")
    assert row["realized_default_rate"] == 0
    assert row["mean_days_late"] == 3
    call_command("risk_report")
    out = capsys.readouterr().out
    assert "predicted PD" in out and "1.0%" in out
