"""Data-subject rights: the data export (API and dashboard), erasure requests and their
execution by staff (anonymized, financial records kept, sign-in refused), blocking rules."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from accounts.models import KycDocument, KycProfile, SignInOrigin, User
from compliance.data_protection import erasure_execute, erasure_request_create
from compliance.models import AccountHold, AuditEvent, DataErasureRequest
from compliance.screening import account_hold_place
from compliance.services import alert_raise
from marketplace.services import investment_create
from notifications.models import Notification, PushDevice
from notifications.services import notifications_personal_data_erase, push_device_register
from paymint.core import clock
from paymint.core.errors import ApplicationError
from paymint.core.models import DomainEvent
from settlements.models import JournalEntry, LedgerAccount, Withdrawal
from settlements.services import bank_event_apply
from settlements.services.withdrawals import withdrawal_request
from tests.factories import mustang_listing
from tests.helpers import (
    LISTING_DAY,
    STRONG_PASSWORD,
    api_client_for,
    bank_event,
    deposit,
)

PERSONAL = {"date_of_birth": dt.date(1990, 5, 17), "identity_document_number": "X1234567",
            "bank_account_iban": "DE89370400440532013000", "address": "Hauptstr. 1, Berlin"}


@pytest.fixture
def make_investor(make_investor):
    """Investors onboarded through the real services: the export and the erasure read their
    KYC document."""
    return functools.partial(make_investor, onboarded=True)


def _with_personal_data(user) -> KycProfile:
    profile = user.kyc
    for name, value in PERSONAL.items():
        setattr(profile, name, value)
    profile.save(update_fields=[*PERSONAL, "updated_at"])
    # The onboarding upload is a stand-in image; make it a passport scan with a name.
    document = KycDocument.objects.get(profile=profile)
    document.file.save("passport.pdf", ContentFile(b"%PDF-1.4 passport scan"), save=False)
    KycDocument.objects.filter(pk=document.pk).update(
        file=document.file.name, content_type="application/pdf", size=22,
        sha256="ab" * 32, original_filename="my passport.pdf")
    return profile


@pytest.fixture
def investor(make_investor, staff):
    user = make_investor(email="ada@example.com")
    User.objects.filter(pk=user.pk).update(first_name="Ada", last_name="Lovelace")
    user.refresh_from_db()
    _with_personal_data(user)
    return user


def _pay_out(user, amount: str) -> Withdrawal:
    withdrawal, _ = withdrawal_request(user=user, amount=amount, currency="EUR")
    bank_event_apply(payload=bank_event(f"evt_paid_{withdrawal.pk}", "withdrawal.paid",
                                        withdrawal.reference, amount))
    return withdrawal


# --- Export -----------------------------------------------------------------------------------


def test_export_api_returns_the_users_own_data_as_a_json_file(
        investor, make_investor, seller, staff):
    listing = mustang_listing(seller)
    other = make_investor(email="someone.else@example.com")
    deposit(investor, "500.00")
    deposit(other, "400.00")
    with clock.frozen_at(LISTING_DAY):
        investment_create(investor=investor, listing=listing, amount="300.00")
        investment_create(investor=other, listing=listing, amount="100.00")
    alert_raise(kind="AML_RULE", dedupe_key="aml:ada", title="Rapid in and out",
                evidence={}, user=investor)

    response = api_client_for(investor).get("/api/v1/me/export")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="paymint-data-{investor.public_id}.json"')
    body = response.content.decode()
    data = json.loads(body)

    assert data["schema"] == "paymint-data-export/1"
    assert data["account"]["email"] == "ada@example.com"
    assert data["account"]["last_name"] == "Lovelace"
    kyc = data["kyc"]  # decrypted: the user's own
    assert (kyc["date_of_birth"], kyc["identity_document_number"], kyc["bank_account_iban"]) \
        == ("1990-05-17", "X1234567", "DE89370400440532013000")
    assert kyc["documents"][0]["original_filename"] == "my passport.pdf"
    [investment] = data["investments"]
    assert Decimal(investment["amount"]) == Decimal("300.00")
    assert isinstance(investment["amount"], str)  # money never as a float
    assert [Decimal(b["balance"]) for b in data["wallet"]["balances"]] == [Decimal("200.00")]
    assert {e["kind"] for e in data["wallet"]["entries"]} == {"DEPOSIT", "FUNDING"}
    assert data["invoices"] == [] and data["withdrawals"] == []

    # Nobody else's data, no staff identities, no compliance casework (tipping-off).
    assert "someone.else@example.com" not in body
    assert "ops@example.com" not in body
    events = data["audit_events"]
    approval = [e for e in events if e["model"] == "kycstatusevent"
                and e["changes"]["to_status"][1] == "APPROVED"]
    assert len(approval) == 1 and approval[0]["actor_email"] == "PayMint staff"
    assert "actor" not in approval[0]["changes"] and approval[0]["remote_addr"] == ""
    assert not any(e["model"] == "compliancealert" or e["event"].startswith("alert.")
                   for e in events)
    assert "Rapid in and out" not in body
    # The export itself is in the audit trail.
    assert AuditEvent.objects.filter(event="data.export", subject_user=investor).count() == 1


def test_dashboard_page_downloads_and_requests_erasure(client, make_investor):
    user = make_investor(email="grace@example.com")
    client.force_login(user)
    page = client.get(reverse("data-privacy"))
    assert page.status_code == 200 and b"Download my data" in page.content
    download = client.get(reverse("data-export"))
    assert download["Content-Disposition"].startswith("attachment;")
    assert json.loads(download.content)["account"]["email"] == "grace@example.com"

    response = client.post(reverse("erasure-request"), {"note": "Closing my account"})
    assert response.status_code == 302
    erasure = DataErasureRequest.objects.get(user=user)
    assert (erasure.status, erasure.note) == ("REQUESTED", "Closing my account")
    assert b"our team is processing it" in client.get(reverse("data-privacy")).content


# --- Erasure ----------------------------------------------------------------------------------


def test_erasure_is_refused_while_positions_or_a_balance_are_open(investor, seller):
    listing = mustang_listing(seller)
    deposit(investor, "500.00")
    with clock.frozen_at(LISTING_DAY):
        investment_create(investor=investor, listing=listing, amount="300.00")

    response = api_client_for(investor).post("/api/v1/me/erasure-request", {}, format="json")
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "ERASURE_BLOCKED"
    assert len(problem["fields"]["positions"]) == 1 and "active" in problem["fields"][
        "positions"][0]
    assert problem["fields"]["balances"] == ["investor cash: 200.0000000 EUR"]
    assert not DataErasureRequest.objects.exists()


def test_staff_execute_erasure_in_admin(investor, staff, ops_client,
                                        django_capture_on_commit_callbacks):
    deposit(investor, "150.00")
    withdrawal = _pay_out(investor, "150.00")  # balance back to zero, records remain
    profile = investor.kyc
    document = profile.documents.get()
    stored = document.file.path
    old_token = api_client_for(investor)
    pair = Client().post("/api/v1/auth/token", {"email": "ada@example.com",
                                                "password": STRONG_PASSWORD},
                         content_type="application/json")
    assert pair.status_code == 200, pair.content
    refresh = pair.json()["refresh"]
    entries_before = JournalEntry.objects.count()
    accounts_before = list(LedgerAccount.objects.filter(owner=investor).values_list("pk",
                                                                                      flat=True))

    response = old_token.post("/api/v1/me/erasure-request", {"note": "please"}, format="json")
    assert response.status_code == 201
    again = old_token.post("/api/v1/me/erasure-request", {}, format="json")
    assert again.status_code == 200 and again.json()["id"] == response.json()["id"]
    erasure = DataErasureRequest.objects.get()
    events_before = AuditEvent.objects.count()

    with django_capture_on_commit_callbacks(execute=True):  # files are deleted after commit
        response = ops_client.post(
            reverse("admin:compliance_dataerasurerequest_changelist"),
            {"action": "execute", "_selected_action": [erasure.pk], "apply": "1",
             "reason": "Art. 17 request, identity confirmed"})
    assert response.status_code == 302

    user = User.objects.get(pk=investor.pk)
    assert re.fullmatch(r"erased-[0-9a-f-]{36}@invalid", user.email)
    assert user.username == user.email
    assert (user.first_name, user.last_name, user.is_active) == ("", "", False)
    assert not user.has_usable_password()
    profile.refresh_from_db()
    assert profile.legal_name == "[erased]"
    assert (profile.tax_id, profile.address, profile.identity_document_number,
            profile.bank_account_iban, profile.date_of_birth) == ("", "", "", "", None)
    document.refresh_from_db()
    assert not document.file and document.original_filename == ""
    assert not os.path.exists(stored)  # the file is gone from storage

    # Financial records stay, linked to the anonymized user.
    assert JournalEntry.objects.count() == entries_before
    assert list(LedgerAccount.objects.filter(owner=user).values_list("pk", flat=True)) \
        == accounts_before
    assert Withdrawal.objects.get(pk=withdrawal.pk).user_id == user.pk

    # No way back in: password, session and API token are refused.
    for email in ("ada@example.com", user.email):
        page = Client().post(reverse("login"), {"username": email, "password": STRONG_PASSWORD})
        assert page.status_code == 200 and "_auth_user_id" not in page.wsgi_request.session
    assert old_token.get("/api/v1/me").status_code == 401
    again = Client().post("/api/v1/auth/token/refresh", {"refresh": refresh},
                          content_type="application/json")
    assert again.status_code == 401
    token = api_client_for(user).post(  # a fresh token cannot be had either
        "/api/v1/auth/token", {"email": "ada@example.com", "password": STRONG_PASSWORD},
        format="json")
    assert token.status_code in (400, 401)

    erasure.refresh_from_db()
    assert (erasure.status, erasure.decided_by) == ("EXECUTED", staff)
    event = AuditEvent.objects.get(event="user.erase")
    assert (event.actor, event.subject_user_id, event.reason) == (
        staff, user.pk, "Art. 17 request, identity confirmed")
    assert "kyc.bank_account_iban" in event.changes["erased_fields"]
    assert event.changes["document_files_deleted"] == 1
    assert event.changes["refresh_tokens_revoked"] == 2  # the test client's and the pair's
    # The erasure wrote no erased value into the audit trail.
    new_events = AuditEvent.objects.order_by("id")[events_before:]
    dump = json.dumps([[e.changes, e.object_repr] for e in new_events])
    for value in ("ada@example.com", "Lovelace", "X1234567", "DE89370400440532013000"):
        assert value not in dump


def test_execution_rechecks_balances_and_compliance_review(investor, staff):
    erasure = erasure_request_create(user=investor)
    deposit(investor, "25.00")  # money arrived after the request
    with pytest.raises(ApplicationError) as blocked:
        erasure_execute(erasure_request=erasure, actor=staff, reason="requested")
    assert blocked.value.code == "ERASURE_BLOCKED"
    _pay_out(investor, "25.00")

    account_hold_place(user=investor, reason=AccountHold.Reason.AML_REVIEW)
    with pytest.raises(ApplicationError) as review:
        erasure_execute(erasure_request=erasure, actor=staff, reason="requested")
    assert review.value.code == "ERASURE_BLOCKED_COMPLIANCE"

    investor.refresh_from_db()
    assert investor.email == "ada@example.com" and investor.is_active  # nothing was written
    erasure.refresh_from_db()
    assert erasure.status == "REQUESTED"
    assert not AuditEvent.objects.filter(event="user.erase").exists()


def test_only_staff_execute_and_only_once(investor, staff):
    erasure = erasure_request_create(user=investor)
    with pytest.raises(ApplicationError) as denied:
        erasure_execute(erasure_request=erasure, actor=investor)
    assert denied.value.code == "PERMISSION_DENIED"
    erasure_execute(erasure_request=erasure, actor=staff, reason="ok")
    with pytest.raises(ApplicationError) as closed:
        erasure_execute(erasure_request=erasure, actor=staff, reason="again")
    assert closed.value.code == "ERASURE_REQUEST_CLOSED"
    with pytest.raises(ApplicationError) as staff_self:
        erasure_request_create(user=staff)
    assert staff_self.value.code == "ERASURE_NOT_FOR_STAFF"


def _sign_in(user_agent: str) -> None:
    response = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR="203.0.113.9").post(
        "/api/v1/auth/token", {"email": "ada@example.com", "password": STRONG_PASSWORD},
        content_type="application/json")
    assert response.status_code == 200, response.content


def test_erasure_erases_notifications_sign_in_origins_and_push_tokens(
        investor, make_investor, staff, django_capture_on_commit_callbacks):
    other = make_investor(email="grace@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        _sign_in("Mozilla/5.0 Firefox/128.0")
        _sign_in("PayMintApp/3.1 (Pixel 8)")  # a new device: security.new_sign_in
        deposit(investor, "40.00")
        deposit(other, "70.00")
    push_device_register(user=investor, platform="ANDROID", token="fcm-token-ada-0123456789")
    push_device_register(user=other, platform="IOS", token="fcm-token-grace-0123456789")
    told = Notification.objects.filter(recipient=investor)
    assert {"security.new_sign_in", "deposit.received"} <= set(told.values_list("name",
                                                                                flat=True))
    sign_in = told.get(name="security.new_sign_in")
    assert "203.0.113.9" in sign_in.body and "PayMintApp/3.1" in sign_in.body
    _pay_out(investor, "40.00")

    erasure = erasure_request_create(user=investor)
    erasure_execute(erasure_request=erasure, actor=staff, reason="Art. 17")

    notes = list(Notification.objects.filter(recipient=investor))
    assert notes and {(n.title, n.body, n.link) for n in notes} == {("[erased]", "", "")}
    assert not SignInOrigin.objects.filter(user=investor).exists()
    assert not PushDevice.objects.filter(user=investor).exists()
    dump = json.dumps([[e.data, e.recipients] for e in DomainEvent.objects.all()])
    for value in ("203.0.113.9", "PayMintApp", "Firefox", "40.00"):
        assert value not in dump
    assert "70.00" in dump  # another user's events are left alone
    # Another user keeps their notification, device and sign-in origin.
    assert Notification.objects.get(recipient=other, name="deposit.received").body
    assert PushDevice.objects.filter(user=other).count() == 1
    event = AuditEvent.objects.get(event="user.erase")
    assert event.changes["sign_in_origins_deleted"] == 2
    assert event.changes["push_devices_deleted"] == 1
    assert event.changes["notifications_erased"] == len(notes)
    assert event.changes["domain_events_erased"] >= 2
    erase_again = notifications_personal_data_erase(user=investor)
    assert erase_again == {"notifications_erased": 0, "push_devices_deleted": 0}
