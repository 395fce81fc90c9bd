"""The audit trail: model changes and staff actions with who/when/where, append-only in the
database, read-only in the admin, per-record history, streamed exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.enums import KycStatus
from accounts.models import KycProfile
from accounts.services import kyc_submit, user_register
from compliance.audit import audit_events_for_object, audit_events_purge_before, audit_record
from compliance.enums import AlertKind, AlertStatus
from compliance.models import AuditEvent, ComplianceAlert
from compliance.services import alert_raise
from tests.factories import mustang_listing
from tests.helpers import STRONG_PASSWORD, kyc_ready

UA = "Mozilla/5.0 (AuditTest)"


@pytest.fixture
def applicant(db):
    return kyc_ready(user_register(email="applicant@example.com", password=STRONG_PASSWORD,
                                   role="INVESTOR"))


@pytest.fixture
def pending_profile(applicant):
    return kyc_submit(user=applicant, legal_name="Ada Lovelace", country="FR",
                      tax_id="FR40303265045", address="12 rue de la Paix, Paris")


@pytest.fixture
def alert(db, applicant):
    return alert_raise(kind=AlertKind.AML_RULE, dedupe_key="aml:test:1", title="Large deposit",
                       evidence={"amount": "12000"}, user=applicant)


def _events(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


# --- Model changes: who, when, from where ---------------------------------------------------


def test_api_write_is_recorded_with_actor_ip_user_agent_and_request_id(api_client, applicant):
    client = api_client(applicant)
    response = client.post("/api/v1/me/kyc", {
        "legal_name": "Ada Lovelace", "country": "FR", "tax_id": "FR40303265045",
        "address": "12 rue de la Paix, Paris",
    }, format="json", HTTP_USER_AGENT=UA, HTTP_X_REQUEST_ID="req-audit-0001",
        REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 201, response.json()
    profile = KycProfile.objects.get(user=applicant)

    # The draft was created by the document upload; the API write updates it.
    created = audit_events_for_object(profile).filter(action=AuditEvent.Action.UPDATE).last()
    # JWT authentication happens inside DRF, after the middleware: still attributed.
    assert created.actor == applicant
    assert created.actor_email == "applicant@example.com"
    assert created.remote_addr == "203.0.113.7"
    assert created.user_agent == UA
    assert created.cid == "req-audit-0001"
    assert created.subject_user == applicant
    assert created.timestamp <= timezone.now()

    update = (audit_events_for_object(profile).filter(action=AuditEvent.Action.UPDATE)
              .order_by("id").first())
    assert update is not None and update.cid == "req-audit-0001"
    # Encrypted personal data never reaches the trail in clear: the change is recorded masked.
    assert update.changes["tax_id"] == ["", "[masked]"]
    assert update.changes["address"] == ["", "[masked]"]
    dump = json.dumps([e.changes for e in AuditEvent.objects.all()])
    assert "FR40303265045" not in dump and "rue de la Paix" not in dump

    # The status move (written by the transition service) is in the trail too.
    status_events = _events(content_type__model="kycstatusevent", subject_user=applicant)
    assert status_events and status_events[0].changes["to_status"][1] == "PENDING_REVIEW"


def test_untrusted_forwarded_for_header_is_ignored(api_client, applicant, settings):
    client = api_client(applicant)
    client.post("/api/v1/me/erasure-request", {}, format="json",
                REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="10.9.9.9")
    event = AuditEvent.objects.get(event="erasure.request")
    assert event.remote_addr == "198.51.100.1"

    settings.TRUSTED_PROXY_COUNT = 1  # behind one trusted proxy: its view of the client counts
    audit_record(action="test.proxy", request=_request(REMOTE_ADDR="198.51.100.1",
                                                       HTTP_X_FORWARDED_FOR="10.0.0.1, 192.0.2.44"))
    assert AuditEvent.objects.get(event="test.proxy").remote_addr == "192.0.2.44"


def _request(**meta):
    from django.test import RequestFactory

    request = RequestFactory().get("/", **meta)
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    return request


def test_login_and_logout_are_recorded(client, applicant):
    response = client.post(reverse("login"), {"username": applicant.email,
                                              "password": STRONG_PASSWORD},
                           HTTP_USER_AGENT=UA)
    assert response.status_code == 302
    client.post(reverse("logout"))
    login, logout = _events(event__in=["auth.login", "auth.logout"])
    assert (login.event, login.actor, login.user_agent) == ("auth.login", applicant, UA)
    assert login.remote_addr == "127.0.0.1"
    assert logout.event == "auth.logout"


def test_password_hash_is_never_stored(applicant):
    applicant.set_password("another-strong-password-77")
    applicant.save(update_fields=["password"])
    event = audit_events_for_object(applicant).filter(action=AuditEvent.Action.UPDATE).get()
    assert event.changes == {"password": ["[masked]", "[masked]"]}


# --- Append-only ------------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigger is PostgreSQL-only")
def test_database_refuses_update_and_delete_of_audit_rows(applicant):
    event = audit_record(action="test.immutable", target=applicant, reason="original")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_auditevent SET reason = 'x' WHERE id = %s",
                       [event.pk])
    event.refresh_from_db()
    assert event.reason == "original"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigger is PostgreSQL-only")
def test_only_the_retention_purge_may_delete_and_only_old_rows(applicant):
    old = audit_record(action="test.old", target=applicant)
    new = audit_record(action="test.new", target=applicant)
    cutoff = new.timestamp  # 'old' was written before it
    assert audit_events_purge_before(cutoff) >= 1
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk=new.pk).exists()
    # The purge setting was local to its transaction: a plain delete is refused again.
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=new.pk).delete()


# --- Staff actions in the back office ---------------------------------------------------------


def test_kyc_decision_in_admin_is_recorded_with_reason(ops_client, staff, pending_profile):
    response = ops_client.post(reverse("admin:accounts_kycprofile_changelist"), {
        "action": "reject_selected", "_selected_action": [pending_profile.pk], "apply": "1",
        "reason": "Identity document expired",
    }, HTTP_USER_AGENT=UA)
    assert response.status_code == 302
    assert KycProfile.objects.get(pk=pending_profile.pk).status == KycStatus.REJECTED
    event = AuditEvent.objects.get(event="kyc.reject")
    assert event.actor == staff
    assert event.reason == "Identity document expired"
    assert event.changes == {"outcome": "ok", "status": ["PENDING_REVIEW", "REJECTED"]}
    assert (event.remote_addr, event.user_agent) == ("127.0.0.1", UA)
    assert event.subject_user == pending_profile.user
    assert event.cid  # the request id


def test_refused_staff_action_is_recorded_too(ops_client, staff, pending_profile):
    KycProfile.objects.filter(pk=pending_profile.pk).update(user=staff)  # reviewing oneself
    ops_client.post(reverse("admin:accounts_kycprofile_changelist"), {
        "action": "approve_selected", "_selected_action": [pending_profile.pk], "apply": "1",
        "reason": "",
    })
    event = AuditEvent.objects.get(event="kyc.approve")
    assert event.changes == {"outcome": "refused", "code": "PERMISSION_DENIED"}


def test_alert_escalation_and_sar_export_are_recorded(ops_client, staff, alert):
    changelist = reverse("admin:compliance_compliancealert_changelist")
    ops_client.post(changelist, {"action": "start_review", "_selected_action": [alert.pk]})
    ops_client.post(changelist, {"action": "escalate", "_selected_action": [alert.pk],
                                 "apply": "1", "reason": "Structuring pattern, SAR filed"})
    response = ops_client.post(changelist, {"action": "download_sar",
                                            "_selected_action": [alert.pk]})
    assert response.status_code == 200
    assert ComplianceAlert.objects.get(pk=alert.pk).status == AlertStatus.ESCALATED

    review, escalate = _events(event__in=["alert.in_review", "alert.escalated"])
    assert review.changes == {"outcome": "ok", "status": ["OPEN", "IN_REVIEW"]}
    assert escalate.reason == "Structuring pattern, SAR filed"
    assert escalate.changes["status"] == ["IN_REVIEW", "ESCALATED"]
    sar = AuditEvent.objects.get(event="sar.export")
    assert sar.action == AuditEvent.Action.ACCESS
    assert sar.actor == staff and sar.changes["bytes"] == len(response.content)
    assert {e.object_pk for e in (review, escalate, sar)} == {str(alert.pk)}


# --- Admin: read-only, per-record history, export -------------------------------------------


def test_audit_admin_is_read_only(ops_client, applicant):
    event = audit_record(action="test.view", target=applicant, reason="kept")
    changelist = reverse("admin:compliance_auditevent_changelist")
    assert ops_client.get(changelist).status_code == 200
    change = reverse("admin:compliance_auditevent_change", args=[event.pk])
    page = ops_client.get(change)
    assert page.status_code == 200 and b"kept" in page.content
    assert ops_client.post(change, {"reason": "edited"}).status_code == 403
    delete = reverse("admin:compliance_auditevent_delete", args=[event.pk])
    assert ops_client.post(delete, {"post": "yes"}).status_code == 403
    assert ops_client.get(reverse("admin:compliance_auditevent_add")).status_code == 403
    assert b"delete_selected" not in ops_client.get(changelist).content
    event.refresh_from_db()
    assert event.reason == "kept"


def test_history_button_opens_the_records_audit_trail(ops_client, alert, applicant):
    audit_record(action="test.about_alert", target=alert, reason="alert-only event")
    audit_record(action="test.other", target=applicant, reason="user event")
    response = ops_client.get(reverse("admin:compliance_compliancealert_history",
                                      args=[alert.pk]))
    assert response.status_code == 302
    assert "object_pk=" in response.url and "content_type__id__exact=" in response.url
    page = ops_client.get(response.url)
    assert page.status_code == 200
    listed = [e for e in page.context["cl"].result_list]
    assert "test.about_alert" in {e.event for e in listed}
    assert {e.object_pk for e in listed} == {str(alert.pk)}  # the alert's create, not the user's
    assert "test.other" not in {e.event for e in listed}

    # A user's History lists everything about them (their records, not just the user row).
    response = ops_client.get(reverse("admin:accounts_user_history", args=[applicant.pk]))
    listed = {e.event for e in ops_client.get(response.url).context["cl"].result_list}
    assert {"test.about_alert", "test.other"} <= listed


def test_admin_export_streams_csv(ops_client, applicant):
    first = audit_record(action="test.export", target=applicant, reason="a, \"quoted\" reason")
    response = ops_client.post(reverse("admin:compliance_auditevent_changelist"), {
        "action": "export_csv", "_selected_action": [first.pk],
    })
    assert response.status_code == 200 and response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["event"], r["reason"]) for r in rows] == [("test.export",
                                                          'a, "quoted" reason')]
    assert AuditEvent.objects.filter(event="audit.export").exists()  # the export is audited


def test_export_command_filters_by_time_and_streams_jsonl(applicant, tmp_path):
    events = [audit_record(action=f"test.cmd.{i}", target=applicant) for i in range(3)]
    AuditEvent.objects.filter(pk=events[0].pk)  # timestamps differ by microseconds
    since = events[1].timestamp.isoformat()
    until = (events[2].timestamp + dt.timedelta(microseconds=1)).isoformat()
    out = io.StringIO()
    call_command("export_audit_trail", "--since", since, "--until", until,
                 "--format", "jsonl", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["test.cmd.1", "test.cmd.2"]
    assert lines[0]["subject_user_id"] == applicant.pk

    target = tmp_path / "trail.csv"
    call_command("export_audit_trail", "--format", "csv", "--output", str(target),
                 stderr=io.StringIO())
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert {"test.cmd.0", "test.cmd.1", "test.cmd.2"} <= {r["event"] for r in rows}
    assert AuditEvent.objects.filter(event="audit.export").count() == 2


def test_alert_assign_and_note_actions_work_and_are_recorded(ops_client, staff, alert):
    from accounts.services import staff_user_create

    colleague = staff_user_create(email="mlro@example.com", password=STRONG_PASSWORD)
    changelist = reverse("admin:compliance_compliancealert_changelist")
    form = ops_client.post(changelist, {"action": "assign", "_selected_action": [alert.pk]})
    assert form.status_code == 200 and b"mlro@example.com" in form.content
    ops_client.post(changelist, {"action": "assign", "_selected_action": [alert.pk],
                                 "apply": "1", "assignee": colleague.pk})
    ops_client.post(changelist, {"action": "add_note", "_selected_action": [alert.pk],
                                 "apply": "1", "text": "Called the customer; source of funds "
                                 "is a house sale."})
    alert.refresh_from_db()
    assert alert.assigned_to == colleague
    assert [n.text for n in alert.notes.all()] == [
        "assigned to mlro@example.com",
        "Called the customer; source of funds is a house sale."]
    assign = AuditEvent.objects.get(event="alert.assign")
    assert assign.changes == {"assigned_to": [None, "mlro@example.com"]}
    assert assign.actor == staff
    note = AuditEvent.objects.get(event="alert.note")
    assert note.reason.startswith("Called the customer")


def test_investment_through_the_api_is_audited_and_has_a_history(ops_client, seller,
                                                                   make_investor, api_client):
    from marketplace.models import Investment
    from paymint.core import clock
    from tests.helpers import LISTING_DAY, deposit

    listing = mustang_listing(seller)
    investor = make_investor()
    deposit(investor, "200.00")
    with clock.frozen_at(LISTING_DAY):
        response = api_client(investor).post(
            f"/api/v1/marketplace/{listing.public_id}/investments", {"amount": "150.00"},
            format="json", HTTP_X_REQUEST_ID="req-invest-1", REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 201, response.json()
    investment = Investment.objects.get()
    created = audit_events_for_object(investment).get(action=AuditEvent.Action.CREATE)
    assert (created.actor, created.subject_user, created.cid, created.remote_addr) == (
        investor, investor, "req-invest-1", "192.0.2.10")
    assert created.changes["amount"] == [None, "150.0000000"]
    funding = AuditEvent.objects.get(content_type__model="journalentry",
                                     object_pk=str(investment.funding_entry_id))
    assert funding.cid == "req-invest-1" and funding.actor == investor

    response = ops_client.get(reverse("admin:marketplace_investment_history",
                                      args=[investment.pk]))
    listed = ops_client.get(response.url).context["cl"].result_list
    assert [e.pk for e in listed] == [created.pk]


def _audit_row(event: AuditEvent) -> dict:
    row = {f.attname: getattr(event, f.attname) for f in AuditEvent._meta.concrete_fields}
    for varying in ("id", "object_pk", "object_id", "object_repr", "timestamp", "changes",
                    "changes_text"):
        row.pop(varying)
    return row


def test_batched_audit_rows_are_the_rows_written_one_by_one(applicant):
    """``audit_rows_batched`` (a funding's entry and investment) writes, in one INSERT at the
    block's end, the rows that django-auditlog writes change by change outside it."""
    from compliance.audit import audit_rows_batched

    def alerts(batched: bool, n: int) -> list[AuditEvent]:
        before = AuditEvent.objects.count()
        with transaction.atomic():
            if batched:
                with audit_rows_batched():
                    for i in range(n):
                        alert_raise(kind=AlertKind.AML_RULE, dedupe_key=f"aml:batch:{i}",
                                    title="Large deposit", evidence={"n": i}, user=applicant)
                    assert AuditEvent.objects.count() == before  # not yet written
            else:
                for i in range(n):
                    alert_raise(kind=AlertKind.AML_RULE, dedupe_key=f"aml:one:{i}",
                                title="Large deposit", evidence={"n": i}, user=applicant)
        return list(AuditEvent.objects.order_by("id")[before:])

    one_by_one, batched = alerts(False, 2), alerts(True, 2)

    assert len(batched) == len(one_by_one) >= 2
    assert [_audit_row(e) for e in batched] == [_audit_row(e) for e in one_by_one]
    for single, many in zip(one_by_one, batched, strict=True):
        assert set(many.changes) == set(single.changes)
        assert many.changes["dedupe_key"] == [None, single.changes["dedupe_key"][1].replace(
            "one", "batch")]
    alert_ids = set(ComplianceAlert.objects.filter(dedupe_key__startswith="aml:batch:")
                    .values_list("pk", flat=True))
    assert {int(e.object_pk) for e in batched
            if e.content_type.model == "compliancealert"} == alert_ids


def test_batched_audit_rows_are_not_written_when_the_block_fails(applicant):
    from compliance.audit import audit_rows_batched

    before = AuditEvent.objects.count()
    with pytest.raises(ZeroDivisionError), transaction.atomic(), audit_rows_batched():
        alert_raise(kind=AlertKind.AML_RULE, dedupe_key="aml:failed", title="Large deposit",
                    evidence={}, user=applicant)
        1 / 0  # noqa: B018
    assert AuditEvent.objects.count() == before
