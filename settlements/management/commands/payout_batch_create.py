"""Make a payout batch of every payable withdrawal in one currency (a scheduled run).

    manage.py payout_batch_create --currency EUR --actor finance@example.com

The batch is made by ``--actor`` (a staff account with the finance role) through
:func:`settlements.services.payout_batch_create`, exactly as in the admin: another finance
user must approve it before its bank file can be exported. Prints the batch reference and
the withdrawals skipped with their reason. Exits with an error when nothing can be paid.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import staff_user_by_email
from paymint.core.errors import ApplicationError
from settlements.services import payout_batch_create


class Command(BaseCommand):
    help = "Make a payout batch (maker-checker: another finance user approves it)."

    def add_arguments(self, parser):
        parser.add_argument("--currency", required=True, help="ISO 4217 code, e.g. EUR")
        parser.add_argument("--actor", required=True,
                            help="Email of the finance staff account that makes the batch")

    def handle(self, *args, currency: str, actor: str, **options):
        user = staff_user_by_email(email=actor)
        if user is None:
            raise CommandError(f"No active staff account {actor!r}.")
        try:
            result = payout_batch_create(actor=user, currency=currency.upper())
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        for reference, reason in result.skipped:
            self.stderr.write(f"skipped {reference}: {reason}")
        batch = result.batch
        self.stdout.write(f"{batch.reference} {batch.item_count} {batch.total_amount:f} "
                          f"{batch.currency} {batch.status}")
