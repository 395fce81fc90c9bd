"""Shared fixtures: API clients, approved sellers/investors, signed bank webhooks."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.services import kyc_approve, kyc_submit, staff_user_create, user_register
from settlements.webhooks import sign

SHARED_INVOICES = Path(settings.BASE_DIR).parent / "shared" / "invoices"
MUSTANG_PDF = SHARED_INVOICES / "zugferd" / "MustangGnuaccountingBeispielRE-20201121_508.pdf"
STRONG_PASSWORD = "correct-horse-battery-42"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Give each pytest process its own test database (``test_paymint_<pid>``), so that
    several runs on one machine (developers, CI) never drop each other's database."""
    from django.db import connections

    suffix = f"p{os.getpid()}"
    for alias in connections:
        test = connections[alias].settings_dict.setdefault("TEST", {})
        base = test.get("NAME") or f"test_{connections[alias].settings_dict['NAME']}"
        test["NAME"] = f"{base}_{suffix}"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": tmp_path / "media"}},
    }


@pytest.fixture
def staff(db):
    """The back-office account of the demo: operations and compliance roles, not a superuser
    (a PEP release needs a senior_management user besides)."""
    return staff_user_create(email="ops@example.com", password=STRONG_PASSWORD,
                             roles=("operations", "compliance"))


#: The smallest valid PNG (1x1 pixel): a stand-in identity or register document.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def kyc_ready(user):
    """What onboarding needs before KYC/KYB can be sent: the email address confirmed and the
    document the profile kind requires uploaded, through the same services as the dashboard
    and the API. Returns ``user``."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from accounts.kyc_documents import kyc_document_upload, kyc_onboarding_document_kind
    from accounts.models import User

    user.email_verified_at = timezone.now()
    User.objects.filter(pk=user.pk).update(email_verified_at=user.email_verified_at)
    kyc_document_upload(user=user, kind=kyc_onboarding_document_kind(user=user),
                        uploaded_file=SimpleUploadedFile("document.png", TINY_PNG, "image/png"))
    return user


def make_user(role: str, email: str, *, kyc: dict | None = None, approve_by=None,
              email_verified: bool = True):
    """A registered user (email confirmed unless ``email_verified=False``); with ``kyc``, the
    profile is sent with the required document and, with ``approve_by``, approved."""
    user = user_register(email=email, password=STRONG_PASSWORD, role=role)
    if email_verified:
        from django.utils import timezone

        from accounts.models import User

        user.email_verified_at = timezone.now()
        User.objects.filter(pk=user.pk).update(email_verified_at=user.email_verified_at)
    if kyc is not None:
        kyc_ready(user)
        profile = kyc_submit(user=user, **kyc)
        if approve_by is not None:
            kyc_approve(profile=profile, reviewer=approve_by)
    return type(user).objects.get(pk=user.pk)  # as a request would load it: no stale caches


@pytest.fixture
def seller(staff):
    """An approved seller whose KYB matches the Mustang e-invoice's issuer (Bei Spiel GmbH)."""
    return make_user(
        "SELLER", "seller@example.com",
        kyc={"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"},
        approve_by=staff,
    )


INVESTOR_TAX_IDS = ["FR40303265045", "NL004495445B01", "BE0403170701", "IT00743110157",
                    "ATU13585627", "ESA28015865"]


@pytest.fixture
def make_investor(staff):
    counter = {"n": 0}

    def _make(*, approved: bool = True, email: str | None = None):
        n = counter["n"]
        counter["n"] += 1
        tax_id = INVESTOR_TAX_IDS[n % len(INVESTOR_TAX_IDS)]
        return make_user(
            "INVESTOR", email or f"investor{n}@example.com",
            kyc={"legal_name": f"Investor {n}", "country": tax_id[:2] if tax_id[:2] != "AT"
                 else "AT", "tax_id": tax_id},
            approve_by=staff if approved else None,
        )

    return _make


def api_client_for(user) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def api_client():
    return api_client_for


def signed_webhook(client: APIClient, event: dict, *, timestamp: int | None = None,
                   secret: str | None = None, tamper=None):
    body = json.dumps(event).encode()
    header = sign(body, secret or settings.BANK_WEBHOOK_SECRET,
                  int(time.time()) if timestamp is None else timestamp)
    if tamper is not None:
        body = tamper(body)
    return client.generic("POST", "/api/v1/webhooks/bank", body,
                          content_type="application/json", HTTP_X_PAYMINT_SIGNATURE=header)


def bank_event(event_id: str, event_type: str, reference: str, amount, currency="EUR") -> dict:
    return {"id": event_id, "type": event_type, "created": int(time.time()),
            "data": {"reference": reference, "amount": str(Decimal(amount)),
                     "currency": currency}}


@pytest.fixture
def webhook():
    return signed_webhook


# --- Money/API core suite: helpers shared by the marketplace, settlements and lifecycle tests --

LISTING_DAY = dt.date(2020, 11, 22)  # day after the Mustang invoice's issue
MUSTANG_DUE = dt.date(2020, 12, 12)


def mustang_bytes(variant: str = "") -> bytes:
    """The Mustang PDF; a non-empty ``variant`` appends a PDF comment so the bytes (and hash)
    differ while the embedded e-invoice still reads the same."""
    data = MUSTANG_PDF.read_bytes()
    return data + f"\n%{variant}\n".encode() if variant else data


def uploaded(data: bytes, name: str = "invoice.pdf", content_type: str = "application/pdf"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def priced_invoice(seller, *, variant: str = "", invoice_number: str | None = None):
    """Upload + extract + (optional renumber) + submit + score through the services."""
    from invoices.services import (
        invoice_run_extraction,
        invoice_score,
        invoice_submit,
        invoice_update_fields,
        invoice_upload,
    )
    from paymint.core import clock

    with clock.frozen_at(LISTING_DAY):
        invoice = invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes(variant)))
        invoice = invoice_run_extraction(invoice_id=invoice.pk)
        if invoice_number is not None:
            invoice = invoice_update_fields(invoice=invoice, actor=seller,
                                            changes={"invoice_number": invoice_number})
        invoice = invoice_submit(invoice=invoice, actor=seller)
        invoice = invoice_score(invoice_id=invoice.pk)
    invoice.refresh_from_db()
    return invoice


def listed_invoice(seller, *, variant: str = "", invoice_number: str | None = None,
                   advance_rate=None):
    """A LISTED Mustang invoice (listed on :data:`LISTING_DAY`); returns its Listing."""
    from marketplace.services import listing_create
    from paymint.core import clock

    invoice = priced_invoice(seller, variant=variant, invoice_number=invoice_number)
    with clock.frozen_at(LISTING_DAY):
        return listing_create(invoice=invoice, seller=seller, advance_rate=advance_rate)


def deposit(user, amount, *, event_id: str | None = None, currency: str = "EUR"):
    """Credit ``user``'s wallet through the real bank-event service."""
    import uuid

    from settlements.services import bank_event_apply

    return bank_event_apply(payload=bank_event(event_id or f"evt_{uuid.uuid4().hex}",
                                               "deposit.received", user.deposit_reference,
                                               amount, currency))


def db_counts() -> dict[str, int]:
    """Row counts of every table a money or invoice operation writes."""
    from accounts.models import KycProfile, KycStatusEvent
    from invoices.models import Invoice, InvoiceStatusEvent
    from marketplace.models import Investment, Listing
    from settlements.models import BankEvent, JournalEntry, LedgerAccount, Posting, Settlement

    models = [Invoice, InvoiceStatusEvent, Listing, Investment, JournalEntry, Posting,
              BankEvent, Settlement, LedgerAccount, KycProfile, KycStatusEvent]
    return {m.__name__: m.objects.count() for m in models}


def assert_books_balanced() -> None:
    """Trial balance zero in every currency and no unbalanced entry."""
    from settlements.ledger.posting import trial_balance, unbalanced_entries

    assert all(total == 0 for total in trial_balance().values()), trial_balance()
    assert unbalanced_entries() == []


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed(): ...`` runs the on-commit callbacks (eager Celery tasks) registered
    inside the block, as the real commit would outside a test transaction."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def list_mustang_invoice(seller, *, min_fill_rate=None):
    """Like :func:`listed_invoice`, with the seller's optional minimum fill."""
    from marketplace.services import listing_create
    from paymint.core import clock

    invoice = priced_invoice(seller)
    with clock.frozen_at(LISTING_DAY):
        return listing_create(invoice=invoice, seller=seller, min_fill_rate=min_fill_rate)


def run_in_threads(count: int, work, *, timeout: float = 60.0) -> list:
    """Run ``work(i)`` in ``count`` real threads released together by a barrier; each thread
    uses (and closes) its own database connection. Returns each call's result or the exception
    it raised; fails if a thread is still running after ``timeout`` (a deadlock or a hang)."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "threads still running: deadlock or hang"
    return results


def admin_sign_in(client, user):
    """Sign ``client`` in as ``user`` with a verified TOTP device (the admin requires
    two-factor authentication for staff)."""
    from django.apps import apps

    client.force_login(user)
    if apps.is_installed("django_otp.plugins.otp_totp"):
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.create(user=user, name="ops phone", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


@pytest.fixture
def ops_client(client, staff):
    """A test client signed in as ``staff`` (operations + compliance roles) with a verified
    TOTP device."""
    return admin_sign_in(client, staff)


@pytest.fixture
def senior_staff(staff):
    """``staff`` given the senior_management role too (may approve PEP relationships)."""
    from accounts.roles import role_groups

    staff.groups.add(*role_groups(["senior_management"]))
    return type(staff).objects.get(pk=staff.pk)  # fresh: no cached permissions


@pytest.fixture
def superuser_client(db):
    """The break-glass superuser (``createsuperuser``), signed in with two-factor."""
    from django.test import Client

    from accounts.models import User

    root = User.objects.create_superuser(email="root@example.com", password=STRONG_PASSWORD)
    return admin_sign_in(Client(), root)
