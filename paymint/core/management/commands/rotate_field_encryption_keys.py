"""``manage.py rotate_field_encryption_keys``: re-encrypt every encrypted field under the
newest key of ``FIELD_ENCRYPTION_KEYS`` (see :func:`paymint.core.fields.field_encryption_rotate`).

Rotation procedure: put a new key in front of ``FIELD_ENCRYPTION_KEYS`` and deploy; run this
command (batched, idempotent - run it again until it reports 0 rotated); then remove the old
key and deploy again.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from paymint.core.crypto import FieldDecryptionError, encryption_keys
from paymint.core.fields import field_encryption_rotate


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field value under the newest FIELD_ENCRYPTION_KEYS key."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Rows per transaction (default 500)."
        )

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        keys = encryption_keys()
        try:
            report = field_encryption_rotate(batch_size=batch_size)
        except FieldDecryptionError as exc:
            raise CommandError(f"{exc} Nothing of the failing batch was written.") from exc
        for label in sorted(report.seen):
            self.stdout.write(
                f"{label}: {report.seen[label]} value(s), {report.rotated[label]} re-encrypted"
                + (f", {report.hashes[label]} lookup hash(es) updated"
                   if report.hashes.get(label) else "")
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {report.total_rotated} value(s) rewritten under the newest of "
                f"{len(keys)} key(s)."
            )
        )
