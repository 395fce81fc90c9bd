"""Retention: delete what PayMint no longer needs to keep (``settings.RETENTION``).

:func:`retention_apply` (daily beat task ``retention_apply_task`` and ``manage.py
apply_retention``) removes, counted back from the business clock (:mod:`paymint.core.clock`):

- KYC/KYB document **files** of closed accounts after ``kyc_documents_after_closure_days``:
  a closed account is a deactivated user (closure = the user's last change) or an
  application rejected and not resubmitted (closure = the decision). The document row stays
  (type, size, upload time; the file name is cleared) so the KYC history remains readable;
- stored first responses of ``Idempotency-Key`` writes after ``idempotency_records_days``;
- sent or failed outbox messages after ``outbound_messages_days`` (pending ones never);
- audit events after ``audit_events_years``.

Journal entries, postings, invoices, investments, settlements and withdrawals are never
touched. Running it twice deletes nothing the second time; each run is recorded as one
``retention.apply`` audit event with its counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.db.models import Q

from accounts.enums import KycStatus
from accounts.models import KycDocument
from paymint.core import clock
from paymint.core.models import IdempotencyRecord, OutboundMessage

from .audit import audit_events_purge_before, audit_record
from .models import AuditEvent


@dataclass(frozen=True)
class RetentionResult:
    kyc_document_files_deleted: int
    idempotency_records_deleted: int
    outbound_messages_deleted: int
    audit_events_deleted: int
    dry_run: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RetentionCutoffs:
    kyc_documents: dt.datetime
    idempotency_records: dt.datetime
    outbound_messages: dt.datetime
    audit_events: dt.datetime


def retention_cutoffs(now: dt.datetime | None = None) -> RetentionCutoffs:
    """Everything created (or closed) before these moments has expired."""
    now = now or clock.now()
    policy = settings.RETENTION
    return RetentionCutoffs(
        kyc_documents=now - dt.timedelta(days=policy["kyc_documents_after_closure_days"]),
        idempotency_records=now - dt.timedelta(days=policy["idempotency_records_days"]),
        outbound_messages=now - dt.timedelta(days=policy["outbound_messages_days"]),
        audit_events=now - relativedelta(years=policy["audit_events_years"]),
    )


def expired_kyc_documents(cutoff: dt.datetime):
    """Documents of accounts closed before ``cutoff`` whose file is still stored."""
    closed = (Q(profile__user__is_active=False, profile__user__updated_at__lt=cutoff)
              | Q(profile__status=KycStatus.REJECTED, profile__decided_at__lt=cutoff))
    return KycDocument.objects.filter(closed).exclude(file="")


def _delete_document_file(document_id: int) -> bool:
    with transaction.atomic():
        document = KycDocument.objects.select_for_update().get(pk=document_id)
        if not document.file:
            return False
        storage, name = document.file.storage, document.file.name
        document.file = ""
        document.original_filename = ""
        document.save(update_fields=["file", "original_filename"])
        transaction.on_commit(lambda: storage.delete(name))
    return True


def retention_apply(*, dry_run: bool = False, now: dt.datetime | None = None
                    ) -> RetentionResult:
    """Apply ``settings.RETENTION`` once (see the module docstring); ``dry_run`` only counts.
    Idempotent."""
    cutoffs = retention_cutoffs(now)
    documents = expired_kyc_documents(cutoffs.kyc_documents)
    idempotency = IdempotencyRecord.objects.filter(created_at__lt=cutoffs.idempotency_records)
    messages = OutboundMessage.objects.filter(
        created_at__lt=cutoffs.outbound_messages,
        status__in=[OutboundMessage.Status.SENT, OutboundMessage.Status.FAILED],
    )
    audit_events = AuditEvent.objects.filter(timestamp__lt=cutoffs.audit_events)
    if dry_run:
        return RetentionResult(
            kyc_document_files_deleted=documents.count(),
            idempotency_records_deleted=idempotency.count(),
            outbound_messages_deleted=messages.count(),
            audit_events_deleted=audit_events.count(),
            dry_run=True,
        )
    files = sum(_delete_document_file(pk) for pk in documents.values_list("pk", flat=True))
    idempotency_deleted, _ = idempotency.delete()
    messages_deleted, _ = messages.delete()
    audit_deleted = audit_events_purge_before(cutoffs.audit_events)
    result = RetentionResult(
        kyc_document_files_deleted=files,
        idempotency_records_deleted=idempotency_deleted,
        outbound_messages_deleted=messages_deleted,
        audit_events_deleted=audit_deleted,
    )
    if any((files, idempotency_deleted, messages_deleted, audit_deleted)):
        audit_record(action="retention.apply", kind="delete",
                     changes={**result.as_dict(),
                              "cutoffs": {k: v.isoformat()
                                          for k, v in asdict(cutoffs).items()}})
    return result
