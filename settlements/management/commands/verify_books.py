"""Check PayMint's books end to end (settlements/services/books.py); exit status 1 on any
difference, each also raised as a compliance alert.

    manage.py verify_books [--since YYYY-MM-DD] [--json] [--no-alert]

Run daily by beat (``settlements.tasks.books_verify_task``), by ``scripts/restore.sh`` after a
restore, and as the demo's last step.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from settlements.services import books_verify


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--since: {value!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = "Verify the books: trial balance, every entry, listings, settlements, chain mirror."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            type=_date,
            default=None,
            help="Only entries, listings and settlements since this date",
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="One JSON object on stdout"
        )
        parser.add_argument(
            "--no-alert", action="store_true", help="Report only; raise no compliance alert"
        )

    def handle(self, *args, since: dt.date | None, as_json: bool, no_alert: bool, **options):
        report = books_verify(since=since, alert=not no_alert)
        if as_json:
            self.stdout.write(_dumps(report))
        else:
            scope = f"since {since}" if since else "whole database"
            counts = ", ".join(f"{name} {count}" for name, count in report.counts.items())
            self.stdout.write(f"verify_books ({scope}): {counts}")
            for finding in report.findings:
                self.stdout.write(f"DIFFERENCE {finding.check} {finding.key}: {finding.detail}")
            self.stdout.write(
                "Books OK." if report.ok else f"{len(report.findings)} difference(s)."
            )
        if not report.ok:
            sys.exit(1)


def _dumps(report) -> str:
    return json.dumps(
        {
            "ok": report.ok,
            "since": report.since.isoformat() if report.since else None,
            "counts": report.counts,
            "findings": [
                {"check": f.check, "key": f.key, "detail": f.detail} for f in report.findings
            ],
        },
        sort_keys=True,
    )
