"""The monthly platform report for finance, as CSV (section, currency, item, amount).

    manage.py platform_report --month 2026-11 [--output report.csv]

Activity (funded, advances, fees, repayments, deposits, payouts), defaults and recoveries, and
the balance sheet of every account type at the month's end
(:func:`settlements.backoffice.platform_report_rows`). Also in the admin: Ledger accounts ->
``report/?month=YYYY-MM``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from settlements.backoffice import platform_report_csv


class Command(BaseCommand):
    help = "Write the monthly platform report (CSV)."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--output", help="File to write (default: standard output)")

    def handle(self, *args, month: str, output: str | None, **options):
        try:
            first = dt.date.fromisoformat(f"{month}-01")
        except ValueError:
            raise CommandError(f"--month: not YYYY-MM: {month!r}") from None
        body = platform_report_csv(month=first)
        if output:
            Path(output).write_bytes(body)
        else:
            self.stdout.write(body.decode(), ending="")
