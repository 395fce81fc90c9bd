"""Apply the retention periods of ``settings.RETENTION`` now (also run daily by Celery beat).

    manage.py apply_retention [--dry-run]

Idempotent; never touches journal entries or other financial records (compliance/retention.py).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from compliance.retention import retention_apply


class Command(BaseCommand):
    help = "Delete KYC files of closed accounts, old idempotency records, outbox messages and "
    help += "audit events past their retention period."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help="Only count what would be deleted")

    def handle(self, *args, dry_run: bool, **options):
        result = retention_apply(dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"Retention {verb}: {result.kyc_document_files_deleted} KYC document file(s), "
            f"{result.idempotency_records_deleted} idempotency record(s), "
            f"{result.outbound_messages_deleted} outbound message(s), "
            f"{result.audit_events_deleted} audit event(s)."
        )
