"""Retention (settings.RETENTION) on the business clock: each kind expires at its own period,
pending and live records stay, journal entries are never touched, a second run is a no-op."""

from __future__ import annotations

import datetime as dt
import functools
import io
import os

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from accounts.models import KycDocument
from accounts.services import kyc_reject
from compliance.models import AuditEvent
from compliance.retention import retention_apply
from compliance.tasks import retention_apply_task
from paymint.core import clock
from paymint.core.models import IdempotencyRecord, OutboundMessage
from settlements.models import JournalEntry, Posting
from tests.helpers import deposit


@pytest.fixture
def make_investor(make_investor):
    """Investors onboarded through the real services: retention reads their KYC document."""
    return functools.partial(make_investor, onboarded=True)


def _document(user) -> KycDocument:
    """The identity document the user sent with their KYC (one each)."""
    return KycDocument.objects.get(profile=user.kyc)


@pytest.fixture
def world(make_investor, staff, django_capture_on_commit_callbacks):
    """A live investor, a deactivated one, a rejected applicant (each with a KYC document),
    idempotency records, outbox messages, ledger entries and audit events, all created now."""
    live, closed = make_investor(), make_investor()
    rejected = make_investor(approved=False)
    kyc_reject(profile=rejected.kyc, reviewer=staff, reason="Document unreadable")
    docs = {name: _document(user) for name, user in
            (("live", live), ("closed", closed), ("rejected", rejected))}
    closed.is_active = False
    closed.save(update_fields=["is_active", "updated_at"])
    deposit(live, "100.00")
    IdempotencyRecord.objects.create(user=live, key="k1", path="/api/v1/x",
                                     request_fingerprint="f", response_status=201)
    for status in ("SENT", "FAILED", "PENDING"):
        OutboundMessage.objects.create(dedupe_key=f"m-{status}", recipient="a@example.com",
                                       subject="Hello", body="Dear Ada", status=status)
    return docs


def _run_at(days: int, **kwargs):
    with clock.frozen_at(timezone.now() + dt.timedelta(days=days)):
        return retention_apply(**kwargs)


def test_each_kind_expires_at_its_own_period(world, django_capture_on_commit_callbacks):
    policy = settings.RETENTION
    ledger = (JournalEntry.objects.count(), Posting.objects.count())
    paths = {name: doc.file.path for name, doc in world.items()}
    events = AuditEvent.objects.count()

    nothing = _run_at(0)
    assert nothing.as_dict() == {"kyc_document_files_deleted": 0,
                                 "idempotency_records_deleted": 0,
                                 "outbound_messages_deleted": 0, "audit_events_deleted": 0,
                                 "dry_run": False}

    result = _run_at(policy["idempotency_records_days"] + 1)
    assert (result.idempotency_records_deleted, result.outbound_messages_deleted) == (1, 0)
    assert not IdempotencyRecord.objects.exists()

    result = _run_at(policy["outbound_messages_days"] + 1)
    assert result.outbound_messages_deleted == 2  # sent and failed; pending never
    assert list(OutboundMessage.objects.values_list("status", flat=True)) == ["PENDING"]

    with django_capture_on_commit_callbacks(execute=True):
        result = _run_at(policy["kyc_documents_after_closure_days"] + 1)
    assert result.kyc_document_files_deleted == 2
    for name in ("closed", "rejected"):
        doc = KycDocument.objects.get(pk=world[name].pk)
        assert not doc.file and doc.original_filename == ""
        assert not os.path.exists(paths[name])
    live = KycDocument.objects.get(pk=world["live"].pk)
    assert live.file and os.path.exists(paths["live"])  # the customer is still with us
    assert result.audit_events_deleted == 0
    assert AuditEvent.objects.count() > events  # the runs were audited

    years = policy["audit_events_years"]
    with clock.frozen_at(timezone.now() + dt.timedelta(days=365 * years + 3)):
        result = retention_apply()
        assert result.audit_events_deleted > events
        assert list(AuditEvent.objects.values_list("event", flat=True)) == ["retention.apply"]
        again = retention_apply()  # idempotent: nothing left to delete, nothing recorded
    assert again.as_dict() == nothing.as_dict()
    assert AuditEvent.objects.count() == 1

    assert (JournalEntry.objects.count(), Posting.objects.count()) == ledger


def test_dry_run_only_counts(world):
    result = _run_at(settings.RETENTION["kyc_documents_after_closure_days"] + 1, dry_run=True)
    assert result.dry_run
    assert (result.kyc_document_files_deleted, result.idempotency_records_deleted,
            result.outbound_messages_deleted) == (2, 1, 2)
    assert IdempotencyRecord.objects.count() == 1
    assert OutboundMessage.objects.count() == 3
    assert KycDocument.objects.exclude(file="").count() == 3


def test_command_and_beat_task(world):
    out = io.StringIO()
    with clock.frozen_at(timezone.now() + dt.timedelta(days=40)):
        call_command("apply_retention", "--dry-run", stdout=out)
        assert "would delete: 0 KYC document file(s), 1 idempotency record(s)" in out.getvalue()
        assert retention_apply_task.delay().get()["idempotency_records_deleted"] == 1
    schedule = settings.CELERY_BEAT_SCHEDULE["compliance-retention"]
    assert schedule["task"] == "compliance.tasks.retention_apply_task"
