"""Write the bank file of an approved payout batch (pain.001 for EUR, CSV otherwise).

    manage.py payout_batch_export PO-EUR-20261206-ABC123 --output batch.xml \
        --actor finance@example.com

``ID`` is the batch reference (or its numeric id). The first export builds and keeps the
file; every later one writes the same bytes (:func:`settlements.services.payout_batch_export`).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import staff_user_by_email
from paymint.core.errors import ApplicationError
from settlements.services import payout_batch_export
from settlements.services.payouts import payout_batch_get


class Command(BaseCommand):
    help = "Export an approved payout batch's bank file (idempotent: the same bytes)."

    def add_arguments(self, parser):
        parser.add_argument("batch", help="Batch reference (PO-...) or numeric id")
        parser.add_argument("--output", required=True, help="File to write")
        parser.add_argument("--actor", required=True,
                            help="Email of the finance staff account that exports it")

    def handle(self, *args, batch: str, output: str, actor: str, **options):
        user = staff_user_by_email(email=actor)
        if user is None:
            raise CommandError(f"No active staff account {actor!r}.")
        found = payout_batch_get(reference_or_id=batch)
        if found is None:
            raise CommandError(f"No payout batch {batch!r}.")
        try:
            exported = payout_batch_export(batch=found, actor=user)
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        Path(output).write_bytes(exported.file_content.encode())
        self.stdout.write(f"{exported.reference} -> {output} ({exported.file_format}, "
                          f"sha256 {exported.file_sha256})")
