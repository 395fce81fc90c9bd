"""Export the audit trail as CSV or JSON lines, streamed (constant memory).

    manage.py export_audit_trail --since 2026-01-01 --until 2026-02-01 --format jsonl \
        --output audit-2026-01.jsonl

``--since`` is inclusive, ``--until`` exclusive (dates are midnight UTC, or ISO 8601 times);
without ``--output`` the rows go to standard output. The export is itself audited.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from compliance.audit import audit_events_between, audit_events_export, audit_record


def _moment(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--{name}: not a date or ISO 8601 time: {value!r}")
        moment = dt.datetime.combine(day, dt.time(0, 0))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


class Command(BaseCommand):
    help = "Export audit events (CSV or JSON lines) between two moments, streamed."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="From this date/time (inclusive)")
        parser.add_argument("--until", help="Until this date/time (exclusive)")
        parser.add_argument("--format", choices=["csv", "jsonl"], default="csv", dest="fmt")
        parser.add_argument("--output", help="File to write (default: standard output)")

    def handle(self, *args, since=None, until=None, fmt="csv", output=None, **options):
        start, end = _moment(since, "since"), _moment(until, "until")
        if start and end and start >= end:
            raise CommandError("--since must be before --until")
        events = audit_events_between(start, end)
        stream = open(output, "w", encoding="utf-8", newline="") if output else None  # noqa: SIM115
        target = stream if stream is not None else self.stdout
        count = 0
        try:
            for chunk in audit_events_export(events, fmt=fmt):
                target.write(chunk)
                count += 1
        finally:
            if stream is not None:
                stream.close()
        audit_record(action="audit.export", kind="access",
                     changes={"format": fmt, "since": since, "until": until,
                              "rows": count - (1 if fmt == "csv" else 0),
                              "output": output or "stdout"})
        if output:
            self.stderr.write(f"{count - (1 if fmt == 'csv' else 0)} event(s) written to "
                              f"{output}")
