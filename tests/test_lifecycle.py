"""The whole financing lifecycle of a real invoice, through HTTP only (JWT + signed webhooks).

Seller Bei Spiel GmbH uploads the Mustang Factur-X invoice (571.04 EUR, issued 2020-11-21, due
2020-12-12); two investors fund it in fractions; the advance is disbursed; the debtor pays the
face value on the due date; settlement pays the investors principal + discount fee and the seller
the reserve. The books must balance after every step.

Hand computation (grade A: advance rate 90 %, discount rate 8 % a year ACT/365, fee 1 %):

* advance = 571.04 x 0.90 = 513.936 -> 513.94; platform fee = 1 % x 513.94 = 5.1394 -> 5.14
* seller receives 513.94 - 5.14 = 508.80 at disbursement on 2020-11-22
* days = 2020-12-12 - 2020-11-22 = 20; each investment's discount fee is its own, rounded once
  (the quote's rule, ``invoices.pricing.investment_discount_fee``): 200.00 x 0.08 x 20 / 365 =
  0.8767 -> 0.88 and 313.94 x 0.08 x 20 / 365 = 1.3762 -> 1.38; the invoice's fee is 2.26
* reserve = 571.04 - 513.94 - 2.26 = 54.84
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.models import KycProfile
from accounts.services import kyc_approve
from invoices.models import Invoice
from marketplace.models import Investment
from paymint.core import clock
from paymint.core.models import OutboundMessage
from settlements.models import BankEvent, JournalEntry
from tests.helpers import (
    MUSTANG_PDF,
    STRONG_PASSWORD,
    TINY_PNG,
    assert_books_balanced,
    bank_event,
    signed_webhook,
)

D = Decimal
LISTING_DAY = dt.date(2020, 11, 22)
DUE = dt.date(2020, 12, 12)

pytestmark = pytest.mark.django_db


def signup(role: str, email: str, kyc: dict, staff) -> APIClient:
    anonymous = APIClient()
    response = anonymous.post(
        "/api/v1/auth/register",
        {"email": email, "password": STRONG_PASSWORD, "role": role},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["role"] == role
    tokens = anonymous.post(
        "/api/v1/auth/token", {"email": email, "password": STRONG_PASSWORD}, format="json"
    )
    assert tokens.status_code == 200, tokens.json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    # The confirmation link from the mail, then the document the profile kind requires.
    mail = OutboundMessage.objects.filter(recipient=email).latest("created_at")
    token = re.search(r"/verify-email/([^/\s]+)/", mail.body).group(1)
    assert anonymous.post("/api/v1/auth/email/verify", {"token": token},
                          format="json").status_code == 200
    kind = "COMPANY_REGISTRATION" if role == "SELLER" else "IDENTITY"
    document = client.post("/api/v1/me/kyc/documents", {
        "kind": kind, "file": SimpleUploadedFile("doc.png", TINY_PNG, "image/png")},
        format="multipart")
    assert document.status_code == 201, document.json()
    response = client.post("/api/v1/me/kyc", kyc, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "PENDING_REVIEW"
    # Ops approve in the back office (no public API for staff decisions).
    kyc_approve(profile=KycProfile.objects.get(user__email=email), reviewer=staff)
    me = client.get("/api/v1/me").json()
    assert me["kyc"]["status"] == "APPROVED"
    return client


def balance(client: APIClient) -> Decimal:
    wallet = client.get("/api/v1/wallet")
    assert wallet.status_code == 200
    balances = {b["currency"]: D(b["balance"]) for b in wallet.json()["balances"]}
    return balances.get("EUR", D("0"))


def test_full_lifecycle_through_the_api(staff, committed):
    bank = APIClient()  # the bank's webhook sender: no JWT
    seller = signup(
        "SELLER",
        "finance@beispiel.example",
        {"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE 136 695 976"},
        staff,
    )
    anna = signup(
        "INVESTOR",
        "anna@example.com",
        {"legal_name": "Anna SARL", "country": "FR", "tax_id": "FR40303265045"},
        staff,
    )
    bram = signup(
        "INVESTOR",
        "bram@example.com",
        {"legal_name": "Bram B.V.", "country": "NL", "tax_id": "NL004495445B01"},
        staff,
    )
    assert seller.get("/api/v1/me").json()["kyc"]["tax_id"] == "DE136695976"  # stored compact
    assert_books_balanced()

    with clock.frozen_at(LISTING_DAY):
        # --- deposits by signed bank webhooks -------------------------------------------
        for n, (client, amount) in enumerate([(anna, "300.00"), (bram, "400.00")]):
            reference = client.get("/api/v1/wallet").json()["deposit_reference"]
            response = signed_webhook(
                bank, bank_event(f"evt_dep_{n}", "deposit.received", reference, amount)
            )
            assert response.status_code == 200, response.json()
            assert response.json()["status"] == "APPLIED"
            assert_books_balanced()
        assert (balance(anna), balance(bram)) == (D("300.00"), D("400.00"))

        # --- upload; extraction runs on commit ------------------------------------------
        with committed(), MUSTANG_PDF.open("rb") as handle:
            response = seller.post("/api/v1/invoices", {"document": handle}, format="multipart")
        assert response.status_code == 201, response.json()
        invoice_id = response.json()["id"]
        assert response.json()["status"] == "UPLOADED"
        assert_books_balanced()

        fields = seller.get(f"/api/v1/invoices/{invoice_id}").json()
        assert fields["status"] == "EXTRACTED"
        assert fields["extraction_method"] == "einvoice-cii"
        assert {k: fields[k] for k in ("invoice_number", "issuer_name", "issuer_tax_id")} == {
            "invoice_number": "RE-20201121/508",
            "issuer_name": "Bei Spiel GmbH",
            "issuer_tax_id": "DE136695976",
        }
        assert (fields["face_value"], fields["currency"]) == ("571.04", "EUR")
        assert (fields["issue_date"], fields["due_date"]) == ("2020-11-21", "2020-12-12")
        assert fields["confidence"]["total_amount"] >= 0.9

        assert fields["debtor_tax_id"] == ""
        assert "buyer_tax_id" in fields["low_confidence_fields"]

        # --- the seller adds the debtor's VAT number, missing from the document ----------
        response = seller.patch(
            f"/api/v1/invoices/{invoice_id}", {"debtor_tax_id": "DE129273398"}, format="json"
        )
        assert response.status_code == 200, response.json()
        assert response.json()["debtor_tax_id"] == "DE129273398"
        assert seller.get(f"/api/v1/invoices/{invoice_id}").json()["debtor_tax_id"] == (
            "DE129273398"
        )

        # --- submit: verification, then scoring on commit -------------------------------
        with committed():
            response = seller.post(f"/api/v1/invoices/{invoice_id}/submit")
        assert response.status_code == 200, response.json()
        assert all(c["passed"] for c in response.json()["verification"] if c["blocking"])
        priced = seller.get(f"/api/v1/invoices/{invoice_id}").json()
        assert priced["status"] == "PRICED"
        assert priced["risk_grade"] == "A"
        assert (priced["advance_rate"], priced["discount_rate"]) == ("0.900000", "0.080000")
        assert_books_balanced()

        # --- list -----------------------------------------------------------------------
        response = seller.post(f"/api/v1/invoices/{invoice_id}/list", {}, format="json")
        assert response.status_code == 200, response.json()
        listed = response.json()
        assert listed["status"] == "LISTED"
        listing = listed["listing"]
        assert (listing["advance_amount"], listing["platform_fee"]) == ("513.94", "5.14")
        listing_id = listing["id"]
        market = anna.get("/api/v1/marketplace?grade=A&currency=EUR").json()["results"]
        assert [m["id"] for m in market] == [listing_id]
        assert market[0]["remaining_amount"] == "513.94"
        assert_books_balanced()

        # --- anna funds 200.00 ----------------------------------------------------------
        response = anna.post(
            f"/api/v1/marketplace/{listing_id}/investments",
            {"amount": "200.00"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="anna-1",
        )
        assert response.status_code == 201, response.json()
        # 200 x 0.08 x 20 / 365 = 0.8767 -> 0.88
        assert (response.json()["expected_days"], response.json()["expected_return"]) == (
            20,
            "200.88",
        )
        assert balance(anna) == D("100.00")
        assert anna.get(f"/api/v1/marketplace/{listing_id}").json()["remaining_amount"] == (
            "313.94"
        )
        assert seller.get(f"/api/v1/invoices/{invoice_id}").json()["status"] == "LISTED"
        assert_books_balanced()

        # --- bram fills the remainder: funded and disbursed in the same transaction ------
        response = bram.post(
            f"/api/v1/marketplace/{listing_id}/investments",
            {"amount": "313.94"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="bram-1",
        )
        assert response.status_code == 201, response.json()
        assert balance(bram) == D("86.06")
        assert_books_balanced()

        disbursed = seller.get(f"/api/v1/invoices/{invoice_id}").json()
        assert disbursed["status"] == "DISBURSED"
        assert disbursed["listing"]["funded_amount"] == "513.94"
        assert disbursed["listing"]["disbursed_on"] == "2020-11-22"
        assert balance(seller) == D("508.80")  # advance - platform fee
        assert anna.get("/api/v1/marketplace").json()["results"] == []

        fees = {
            c: c.get("/api/v1/investments").json()["results"][0]["discount_fee"]
            for c in (anna, bram)
        }
        assert (fees[anna], fees[bram]) == ("0.88", "1.38")

    # --- the debtor pays the face value on the due date --------------------------------
    with clock.frozen_at(DUE):
        reference = disbursed["repayment_reference"]
        with committed():
            response = signed_webhook(
                bank, bank_event("evt_repay_1", "repayment.received", reference, "571.04")
            )
        assert response.status_code == 200, response.json()
        assert_books_balanced()

        settled = seller.get(f"/api/v1/invoices/{invoice_id}").json()
        assert settled["status"] == "SETTLED"

        for client, principal, fee, wallet in [
            (anna, "200.00", "0.88", D("300.88")),  # 100.00 + 200.88
            (bram, "313.94", "1.38", D("401.38")),  # 86.06 + 315.32
        ]:
            position = client.get("/api/v1/investments").json()["results"][0]
            assert position["status"] == "SETTLED"
            assert position["invoice_status"] == "SETTLED"
            assert (position["amount"], position["discount_fee"]) == (principal, fee)
            assert D(position["repaid_amount"]) == D(principal) + D(fee)
            assert balance(client) == wallet

        seller_wallet = seller.get("/api/v1/wallet").json()
        reserve = [e for e in seller_wallet["entries"] if e["kind"] == "SETTLEMENT"]
        assert [e["amount"] for e in reserve] == ["54.84"]
        assert balance(seller) == D("563.64")  # 508.80 + 54.84

    # Every cent is accounted for: 700 deposited + 571.04 repaid =
    # investors 702.26 + seller 563.64 + platform fee 5.14
    assert balance(anna) + balance(bram) + balance(seller) + D("5.14") == D("1271.04")
    assert Invoice.objects.count() == 1
    assert Investment.objects.count() == 2
    assert BankEvent.objects.count() == 3
    assert sorted(JournalEntry.objects.values_list("kind", flat=True)) == sorted(
        ["DEPOSIT", "DEPOSIT", "FUNDING", "FUNDING", "DISBURSEMENT", "REPAYMENT", "SETTLEMENT"]
    )
    assert_books_balanced()
