"""Fixtures for the security suite: two users per role, each with their own data, built through
the real services; throttles off (the suite sends many requests on purpose).

``world`` (function scope) holds:

- ``seller_a``: an EXTRACTED (editable) invoice ``draft_a``, an open listing ``open_a`` (invested
  in by both investors) and a fully funded listing ``funded_a`` (investor A only; the invoice is
  FUNDED and disbursed), a pending debtor confirmation on ``open_a``'s invoice, a KYB document;
- ``seller_b``: an EXTRACTED invoice ``draft_b`` and a KYB document;
- ``investor_a``: a deposit, investments ``investment_a`` (in ``open_a``) and
  ``investment_a_funded`` (in ``funded_a``), a withdrawal, a KYC document;
- ``investor_b``: a deposit, investment ``investment_b`` (in ``open_a``), a withdrawal, a KYC
  document.

Every user's KYC/KYB went through email verification, submission with a document and a staff
approval. The business clock is frozen on :data:`tests.conftest.LISTING_DAY` while the world is
built; tests that fund listings freeze it again (listings expire after 14 days).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.helpers import (
    LISTING_DAY,
    STRONG_PASSWORD,
    deposit,
    listed_invoice,
    mustang_bytes,
    uploaded,
)

#: A valid 1x1 PNG: the identity/registration document uploaded with onboarding.
PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

SELLER_A_KYB = {"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"}
SELLER_B_KYB = {"legal_name": "Andere GmbH", "country": "DE", "tax_id": "DE129273398"}
INVESTOR_A_KYC = {"legal_name": "Ada Investor", "country": "FR", "tax_id": "FR40303265045"}
INVESTOR_B_KYC = {"legal_name": "Bram Investor", "country": "NL", "tax_id": "NL004495445B01"}


def png_document(label: str) -> bytes:
    """A small PNG that differs per ``label`` (each user's document has its own hash)."""
    import hashlib
    import io

    from PIL import Image

    shade = tuple(hashlib.sha256(label.encode()).digest()[:3])
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), shade).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class World:
    staff: object
    seller_a: object
    seller_b: object
    investor_a: object
    investor_b: object
    draft_a: object = None
    draft_b: object = None
    open_a: object = None
    funded_a: object = None
    investment_a: object = None
    investment_a_funded: object = None
    investment_b: object = None
    withdrawal_a: object = None
    withdrawal_b: object = None
    confirmation_a: object = None
    kyc_documents: dict = field(default_factory=dict)
    settlement_a: object = None
    pool: object = None
    redemption_a: object = None

    @property
    def users(self) -> dict[str, object]:
        return {"seller_a": self.seller_a, "seller_b": self.seller_b,
                "investor_a": self.investor_a, "investor_b": self.investor_b}

    def private_markers_of(self, *keys: str) -> set[str]:
        """Strings that only the named users (and staff) may ever see: their account ids,
        emails, deposit references, invoice/investment/withdrawal/document ids, invoice
        repayment references and document hashes."""
        from accounts.models import KycDocument
        from invoices.models import Invoice
        from marketplace.models import Investment
        from pools.models import RedemptionRequest
        from settlements.models import Withdrawal

        users = [self.users[k] for k in keys]
        markers: set[str] = set()
        for user in users:
            markers |= {str(user.public_id), user.email, user.deposit_reference}
        for invoice in Invoice.objects.filter(seller__in=users):
            markers |= {str(invoice.public_id), invoice.repayment_reference,
                        invoice.document_sha256}
        for investment in Investment.objects.filter(investor__in=users):
            markers.add(str(investment.public_id))
        for redemption in RedemptionRequest.objects.filter(investor__in=users):
            markers.add(str(redemption.public_id))
        for withdrawal in Withdrawal.objects.filter(user__in=users):
            markers |= {str(withdrawal.public_id), withdrawal.reference}
        for document in KycDocument.objects.filter(profile__user__in=users):
            markers |= {str(document.public_id), document.sha256}
        return {m for m in markers if m}


@pytest.fixture(autouse=True)
def _no_throttles(monkeypatch):
    """The security suite sends hundreds of requests per user on purpose: DRF throttles (rate
    limits) would answer 429 and hide what the endpoints really do."""
    from rest_framework.views import APIView

    monkeypatch.setattr(APIView, "check_throttles", lambda self, request: None)


def _onboard(role: str, email: str, kyc: dict, staff, *, approve: bool = True):
    """Register, verify the email, submit KYC/KYB with a document, approve (real services)."""
    from accounts.email_verification import email_verification_token, email_verify
    from accounts.kyc_documents import kyc_submit_with_document
    from accounts.services import kyc_approve, user_register

    user = user_register(email=email, password=STRONG_PASSWORD, role=role)
    user = email_verify(token=email_verification_token(user=user))
    document = SimpleUploadedFile(f"{role.lower()}-id.png", png_document(email),
                                  content_type="image/png")
    profile = kyc_submit_with_document(user=user, document=document, **kyc)
    if approve:
        kyc_approve(profile=profile, reviewer=staff)
    user.refresh_from_db()
    return user


def extracted_invoice(seller, *, variant: str, invoice_number: str):
    """An uploaded and read (EXTRACTED, still editable) Mustang invoice of ``seller``."""
    from invoices.services import invoice_run_extraction, invoice_update_fields, invoice_upload
    from paymint.core import clock

    with clock.frozen_at(LISTING_DAY):
        invoice = invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes(variant)))
        invoice = invoice_run_extraction(invoice_id=invoice.pk)
        invoice = invoice_update_fields(invoice=invoice, actor=seller,
                                        changes={"invoice_number": invoice_number})
    invoice.refresh_from_db()
    return invoice


@pytest.fixture
def world(staff) -> World:
    from accounts.models import KycDocument
    from invoices.confirmation import debtor_confirmation_request
    from marketplace.services import investment_create
    from notifications.services import push_device_register
    from paymint.core import clock
    from settlements.services import withdrawal_request

    w = World(
        staff=staff,
        seller_a=_onboard("SELLER", "seller-a@example.com", SELLER_A_KYB, staff),
        seller_b=_onboard("SELLER", "seller-b@example.com", SELLER_B_KYB, staff),
        investor_a=_onboard("INVESTOR", "investor-a@example.com", INVESTOR_A_KYC, staff),
        investor_b=_onboard("INVESTOR", "investor-b@example.com", INVESTOR_B_KYC, staff),
    )
    w.draft_a = extracted_invoice(w.seller_a, variant="authz-draft-a", invoice_number="AUTHZ-A-1")
    w.draft_b = extracted_invoice(w.seller_b, variant="authz-draft-b", invoice_number="AUTHZ-B-1")
    w.open_a = listed_invoice(w.seller_a, variant="authz-open-a", invoice_number="AUTHZ-A-2")
    w.funded_a = listed_invoice(w.seller_a, variant="authz-funded-a",
                                invoice_number="AUTHZ-A-3")
    deposit(w.investor_a, "2000.00")
    deposit(w.investor_b, "1000.00")
    with clock.frozen_at(LISTING_DAY):
        w.investment_a, _ = investment_create(investor=w.investor_a, listing=w.open_a,
                                              amount=Decimal("100.00"))
        w.investment_b, _ = investment_create(investor=w.investor_b, listing=w.open_a,
                                              amount=Decimal("60.00"))
        w.funded_a.refresh_from_db()
        w.investment_a_funded, _ = investment_create(
            investor=w.investor_a, listing=w.funded_a, amount=w.funded_a.advance_amount)
        w.withdrawal_a, _ = withdrawal_request(user=w.investor_a, amount=Decimal("25.00"),
                                               currency="EUR",
                                               idempotency_key=f"wd-{uuid.uuid4().hex}")
        w.withdrawal_b, _ = withdrawal_request(user=w.investor_b, amount=Decimal("15.00"),
                                               currency="EUR",
                                               idempotency_key=f"wd-{uuid.uuid4().hex}")
        w.confirmation_a = debtor_confirmation_request(
            invoice=w.open_a.invoice, seller=w.seller_a, email="ap@debtor.example")
    # The EUR liquidity pool (open to every approved investor) and investor A's queued
    # redemption (owned: only investor A may cancel it).
    from pools.services import pool_create, pool_deposit, redemption_request

    with clock.frozen_at(LISTING_DAY):
        w.pool = pool_create(currency="EUR", actor=staff)
        pool_deposit(pool=w.pool, investor=w.investor_a, amount=Decimal("100.00"))
        w.redemption_a, _ = redemption_request(pool=w.pool, investor=w.investor_a,
                                               shares=Decimal("10"))
    w.pool.refresh_from_db()
    for obj in (w.open_a, w.funded_a, w.draft_a, w.draft_b):
        obj.refresh_from_db()
    w.kyc_documents = {
        key: KycDocument.objects.get(profile__user=user) for key, user in w.users.items()
    }
    w.notifications = {key: _notify(user, f"authz:{key}") for key, user in w.users.items()}
    w.devices = {
        key: push_device_register(user=user, platform="ANDROID",
                                  token=f"authz-fcm-token-{key}-0123456789")[0]
        for key, user in w.users.items()
    }
    return w


def _notify(user, key: str):
    """One in-app notification of ``user``, through the real path (a domain event emitted in
    a transaction, dispatched after commit)."""
    from django.db import transaction
    from django.test import TestCase

    from notifications.models import Notification
    from paymint.core.events import EventName, event_emit

    with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        event = event_emit(name=EventName.SECURITY_PASSWORD_CHANGED, key=key,
                           recipients={user: {}})
    return Notification.objects.get(event=event, recipient=user)


def pytest_terminal_summary(terminalreporter):
    """One closing line with the fuzzing totals (tests/security/test_api_fuzzing.py)."""
    import sys

    results = getattr(sys.modules.get("tests.security.test_api_fuzzing"), "RESULTS", None)
    if not results:
        return
    statuses = Counter()
    for stats in results.values():
        statuses.update(stats["statuses"])
    terminalreporter.write_line(
        f"FUZZ TOTAL operation-runs={len(results)} "
        f"requests={sum(s['examples'] for s in results.values())} "
        f"seconds={sum(s['seconds'] for s in results.values()):.0f} "
        f"statuses={dict(sorted(statuses.items()))}")
