"""An investor's annual statement for tax, as CSV or a printable PDF.

    manage.py investor_statement --investor anna@paymint.demo --year 2020 --format pdf \
        --output anna-2020.pdf

Interest earned, fees paid, realised losses and principal returned per currency
(:func:`settlements.backoffice.investor_annual_statement`). Also in the admin: Ledger
accounts -> ``statement/?investor=EMAIL&year=YYYY&format=csv|pdf``.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import kyc_profile_for_user, user_by_email
from settlements.backoffice import investor_annual_statement_csv, investor_annual_statement_pdf


class Command(BaseCommand):
    help = "Write an investor's annual statement (CSV or PDF)."

    def add_arguments(self, parser):
        parser.add_argument("--investor", required=True, help="The investor's email")
        parser.add_argument("--year", required=True, type=int)
        parser.add_argument("--format", choices=["csv", "pdf"], default="csv", dest="fmt")
        parser.add_argument("--output", required=True, help="File to write")

    def handle(self, *args, investor: str, year: int, fmt: str, output: str, **options):
        user = user_by_email(email=investor)
        if user is None:
            raise CommandError(f"No account {investor!r}.")
        if fmt == "pdf":
            profile = kyc_profile_for_user(user=user)
            body = investor_annual_statement_pdf(
                investor=user, year=year, legal_name=profile.legal_name if profile else "")
        else:
            body = investor_annual_statement_csv(investor=user, year=year)
        Path(output).write_bytes(body)
        self.stdout.write(f"{output} ({len(body)} bytes)")
