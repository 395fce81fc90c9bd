"""Load test: PayMint's real traffic mix (``benchmarks/locustfile.py``) against gunicorn on
PostgreSQL, headless, with a fixed number of users for a fixed time.

    .venv/bin/python benchmarks/load_test.py [--users N] [--time 60s] [--no-readme]
    make bench

Creates a scratch database (``paymint_bench_load``), migrates and seeds it through the services
(8 investors with funded wallets, 2 sellers, 40 open listings with a 1.00 EUR minimum ticket
and due dates 60 days ahead), starts ``gunicorn paymint.wsgi`` (2 sync workers, production
settings, pooled connections, rate limits raised out of the way), runs
``locust --headless --users N --spawn-rate N --run-time T`` and writes, under
``benchmarks/reports/`` (not versioned), locust's HTML report and CSV statistics. The table of
p50/p95/p99 and requests/s per endpoint goes into ``benchmarks/README.md`` (its own section).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import django_setup  # noqa: E402 - after sys.path

os.environ["BENCH_DB"] = os.environ.get("BENCH_DB", "paymint_bench_load")
os.environ["MIN_TICKET"] = "1"  # read by the settings of the seed and of the server

from benchmarks.api_benchmark import (  # noqa: E402
    README,
    arg,
    create_database,
    drop_database,
    free_port,
    start_gunicorn,
    stop_gunicorn,
)

USERS = int(arg("--users", "20"))
RUN_TIME = arg("--time", "60s")
REPORTS = ROOT / "benchmarks" / "reports"
SECTION = "## Load test (`load_test.py`, `make bench`)"
WEBHOOK_SECRET = "whsec_bench"
EINVOICE = (
    ROOT.parent
    / "shared"
    / "invoices"
    / "zugferd"
    / "EN16931_Einfach_DueDate.embedded-factur-x.xml"
)


def seed(media: str) -> dict:
    django_setup.setup_django(media)
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from accounts.auth_tokens import token_pair_issue
    from accounts.services import staff_user_create
    from invoices.models import Invoice
    from marketplace.models import Listing
    from tests.helpers import INVESTOR_TAX_IDS, STRONG_PASSWORD, deposit, listed_invoice, make_user

    staff = staff_user_create(
        email="ops@load.example", password=STRONG_PASSWORD, roles=("operations", "compliance")
    )
    sellers = [
        make_user(
            "SELLER",
            f"seller{n}@load.example",
            kyc={"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"},
            approve_by=staff,
        )
        for n in range(2)
    ]
    investors = []
    for n in range(8):
        tax_id = INVESTOR_TAX_IDS[n % len(INVESTOR_TAX_IDS)]
        investor = make_user(
            "INVESTOR",
            f"investor{n}@load.example",
            kyc={"legal_name": f"Load Investor {n}", "country": tax_id[:2], "tax_id": tax_id},
            approve_by=staff,
        )
        deposit(investor, Decimal("50000"))
        investors.append(investor)
    for n in range(40):
        listed_invoice(sellers[0], variant=f"load-{n}", invoice_number=f"LD-{n}")
    # Listed on the Mustang invoice's day: open them on today's real clock, due in 60 days.
    due = timezone.now().date() + timezone.timedelta(days=60)
    Listing.objects.update(expires_at=timezone.now() + timezone.timedelta(days=1), due_date=due)
    Invoice.objects.filter(listing__isnull=False).update(due_date=due)
    out = {
        "investor_tokens": [token_pair_issue(user=u)["access"] for u in investors],
        "seller_tokens": [token_pair_issue(user=u)["access"] for u in sellers],
        "deposit_references": [u.deposit_reference for u in investors],
        "webhook_secret": WEBHOOK_SECRET,
        "einvoice_xml": EINVOICE.read_text(),
    }
    connections.close_all()
    return out


def run_locust(port: int, seed_file: Path) -> Path:
    REPORTS.mkdir(exist_ok=True)
    prefix = REPORTS / "load"
    env = {**os.environ, "PAYMINT_LOAD_SEED": str(seed_file)}
    subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "locust"),
            "-f",
            str(ROOT / "benchmarks" / "locustfile.py"),
            "--headless",
            "--host",
            f"http://127.0.0.1:{port}",
            "--users",
            str(USERS),
            "--spawn-rate",
            str(USERS),
            "--run-time",
            RUN_TIME,
            "--csv",
            str(prefix),
            "--html",
            str(REPORTS / "load.html"),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        check=False,
    )
    return Path(f"{prefix}_stats.csv")


def report(stats_file: Path, started: str, load: tuple) -> str:
    rows = list(csv.DictReader(stats_file.open()))
    lines = [
        SECTION,
        "",
        f"`make bench` (= `.venv/bin/python benchmarks/load_test.py --users {USERS} --time "
        f"{RUN_TIME}`): locust, headless, {USERS} users ({USERS} spawned per second), "
        f"{RUN_TIME}, against gunicorn (2 sync workers, production settings, pooled "
        "connections) on PostgreSQL; the mix of `benchmarks/locustfile.py` (investors 8 : "
        "sellers 1 : bank 1). HTML report and CSV: `benchmarks/reports/` (not versioned).",
        "",
        f"Last run: {started}, {platform.node()}, {os.cpu_count()} CPUs (locust, gunicorn and "
        f"PostgreSQL share them with other work); load average {load[0]:.1f} at the start, "
        f"{load[1]:.1f} at the end.",
        "",
        "| endpoint | requests | failures | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        name = row["Name"] if row["Name"] != "Aggregated" else "**all**"
        lines.append(
            f"| {row['Type']} {name} | {row['Request Count']} | {row['Failure Count']} | "
            f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = os.getloadavg()[0]
    create_database()
    try:
        with tempfile.TemporaryDirectory() as media:
            print("seeding...", flush=True)
            data = seed(media)
            seed_file = Path(media) / "seed.json"
            seed_file.write_text(json.dumps(data))
            port = free_port()
            os.environ.update(
                {
                    "BANK_WEBHOOK_SECRET": WEBHOOK_SECRET,
                    "THROTTLE_RATE_FUNDING": "100000/min",
                    "THROTTLE_RATE_UPLOADS": "100000/hour",
                    "THROTTLE_RATE_WEBHOOKS": "100000/min",
                    "UPLOAD_QUOTA_FILES_PER_DAY": "0",
                    "UPLOAD_QUOTA_BYTES_PER_DAY": "0",
                }
            )
            server = start_gunicorn("pool", port, media)
            try:
                stats = run_locust(port, seed_file)
            finally:
                stop_gunicorn(server)
    finally:
        drop_database()
    section = report(stats, started, (load0, os.getloadavg()[0]))
    print(section)
    if "--no-readme" not in sys.argv:
        write_readme_section(section)


def write_readme_section(section: str) -> None:
    text = README.read_text()
    start = text.find(SECTION)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[end + 1 :] if end != -1 else "")
    README.write_text(text)


if __name__ == "__main__":
    main()
