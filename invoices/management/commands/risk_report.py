"""``manage.py risk_report``: predicted vs realized default rates and days late by grade."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from invoices.selectors import risk_calibration


def _pct(value) -> str:
    return "-" if value is None else f"{float(value):.1%}"


class Command(BaseCommand):
    help = "Calibration of the risk scorecard: predicted PD vs realized outcomes per grade."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args, **options):
        rows = risk_calibration()
        if options["json"]:
            self.stdout.write(json.dumps(rows, default=str))
            return
        self.stdout.write(f"{'grade':5} {'financed':>8} {'closed':>6} {'predicted PD':>12} "
                          f"{'realized default':>16} {'late':>6} {'mean days late':>14}")
        for r in rows:
            self.stdout.write(
                f"{r['grade']:5} {r['financed']:>8} {r['closed']:>6} "
                f"{_pct(r['predicted_pd']):>12} {_pct(r['realized_default_rate']):>16} "
                f"{_pct(r['late_rate']):>6} {r['mean_days_late']:>14.1f}"
            )
        if not rows:
            self.stdout.write("no financed invoices yet")
