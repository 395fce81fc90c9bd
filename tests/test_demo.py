"""The main job (``make demo``) on the embedded default, end to end in a subprocess: SQLite,
eager Celery, local storage, the local Stellar ledger. Guards the newcomer's first command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow


def test_demo_runs_the_whole_lifecycle_and_balances(tmp_path: Path):
    # A bare machine: none of the services the test settings point at (they export
    # THROTTLE_CACHE_URL into os.environ, and the suite's registrations would count against the
    # demo's rate limits in that shared Redis).
    services = ("DJANGO_", "DATABASE_", "THROTTLE_", "REDIS_", "CACHE_", "CELERY_", "AWS_",
                "SENTRY_", "STELLAR_")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(services)},
        "DJANGO_SETTINGS_MODULE": "paymint.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, timeout=300)
    demo = subprocess.run([*manage, "demo"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    out = demo.stdout
    # Every stage ran, and the figures are the ones the README's worked example gives.
    for expected in (
        "grade A",
        "advance amount 513.94 EUR",
        "platform fee 5.14",
        "principal 150.00 + discount fee 0.66 = 150.66 EUR",
        "principal 200.00 + discount fee 0.88 = 200.88 EUR",  # as quoted (issue #11)
        "seller reserve 54.84 EUR",
        "on-chain payouts 516.2000000 = ledger investors' total 516.20",
        "lifecycle complete",
        "approving their own batch: refused (PAYOUT_MAKER_CANNOT_APPROVE)",
        "NbOfTxs 2, CtrlSum 750.00 EUR",
        # What each party was told (issue #12): the seller and each investor, their own events.
        "invoice.disbursed",
        "investment.confirmed",
        "repayment.received",
        # The liquidity pool (issue #17): a deposit at NAV, the pool's automatic allocation
        # beside an auto-invest rule, the repayment, the NAV rising, a redemption paid FIFO.
        "deposits 300.00 EUR (POST /api/v1/pools/{id}/deposits): 300.0000000000 shares at "
        "NAV 1.0000000000",
        "the pool funds 256.97 EUR",
        "chiara's rule: INVESTED 100.00 EUR",
        "accrued fee 1.13 - provisions 0.00 - owed 0.00 = net assets 301.13 EUR",
        "NAV per share 1.0000000000 -> 1.0038000000 (rose 0.3800%); redemption paid in full",
        "100.37 EUR to bram@paymint.demo's wallet (0.88 -> 101.25 EUR",
        "the register reconciles",
    ):
        assert expected in out, expected
    assert out.count("(zero) - every entry balanced") >= 12
    assert "Traceback" not in demo.stderr
