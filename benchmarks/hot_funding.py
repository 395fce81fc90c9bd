"""One hot invoice funded by many client processes at once (issue #19: >= 150 investments/s with
16 client processes), through the service (``marketplace.services.investment_create``, not the
API), on PostgreSQL.

    .venv/bin/python benchmarks/hot_funding.py [--processes 16] [--investments 960]
        [--eager-after-commit] [--pgbench-seconds 10]

Creates a scratch database (``paymint_bench_hot``; ``BENCH_DB`` overrides), migrates it, makes
``--processes`` KYC-approved investors with funded wallets and one listing with a 0.10 EUR
minimum ticket, then:

1. one process makes ``--investments`` minimum-ticket investments (the single-client rate);
2. ``--processes`` forked processes (one investor each, own connection, no shared GIL) make
   ``--investments`` together on the same listing;
3. the same number of ``pgbench`` clients run a single-row ``UPDATE`` of that listing row for
   ``--pgbench-seconds`` (the database's own ceiling for one hot row on this machine).

The after-commit work of a funding (AML monitoring of the entry, the ``investment.confirmed``
event's dispatch to notifications) runs in Celery workers in production; here it is left
queued (its tasks are not run) unless ``--eager-after-commit`` runs it in the client, as the
tests do. Reported: investments/s, CPU per investment (client process + its database backend,
``time.thread_time`` and ``/proc/<pid>/schedstat``), the machine's busy CPU per investment
(``/proc/stat``: every process, other work included), time spent in the statement that locks
the listing (the funding's conditional ``UPDATE``, its wait for the lock included) and the
listing lock's hold time from that statement's return to the commit (wall), and the load
average.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_DB", "paymint_bench_hot")

from benchmarks.money_benchmark import (  # noqa: E402
    BENCH_DB,
    SERVER,
    create_database,
    drop_database,
    fund_wallets,
    funding_rate,
    funding_rate_processes,
    new_investors,
    new_listing,
    setup_django,
)


def arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all CPUs, every process), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def pgbench_rate(listing_id: int, clients: int, seconds: int) -> float:
    """Transactions/s of ``clients`` pgbench clients updating the listing's row (autocommit,
    one ``UPDATE`` per transaction)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(
            'UPDATE "marketplace_listing" SET "funded_amount" = "funded_amount" + 0, '
            f'"investor_count" = "investor_count" + 0 WHERE "id" = {int(listing_id)};\n'
        )
    try:
        out = subprocess.run(
            ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(seconds), "-f",
             script.name, f"{SERVER}/{BENCH_DB}"],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    for line in out.splitlines():
        if line.startswith("tps"):
            return float(line.split("=")[1].split()[0])
    raise RuntimeError(out)


def main() -> None:
    create_database()
    try:
        with tempfile.TemporaryDirectory() as media:
            setup_django(media)
            run()
    finally:
        drop_database()


def run() -> None:
    from django.db import connection

    from accounts.services import staff_user_create
    from paymint.core import clock
    from tests.helpers import LISTING_DAY, make_user

    processes = int(arg("--processes", "16"))
    total = int(arg("--investments", "960"))
    per_client = total // processes
    if "--eager-after-commit" not in sys.argv:
        # As in production: the after-commit tasks go to the workers; here they stay queued.
        from compliance import tasks as compliance_tasks
        from paymint.core import tasks as core_tasks

        core_tasks.domain_event_dispatch_task.delay = lambda *args, **kwargs: None
        compliance_tasks.monitor_movement_task.delay = lambda *args, **kwargs: None
    staff = staff_user_create(email="bench-ops@example.com", password="correct-horse-bench-42")
    seller = make_user(
        "SELLER", "bench-seller@example.com",
        kyc={"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"},
        approve_by=staff)
    investors = new_investors(processes, staff, threads=4)
    fund_wallets(investors, "10000.00")
    ticket = Decimal("0.10")
    warm, single, hot = (new_listing(seller, min_ticket=ticket) for _ in range(3))
    connection.close()
    results = {}
    with clock.frozen_at(dt.datetime.combine(LISTING_DAY, dt.time(13), tzinfo=dt.UTC),
                         all_threads=True):
        funding_rate(investors[:1], [warm], 20)  # warm-up (imports, caches)
        for name, clients, listings, per in (
            ("1 process", investors[:1], [single], total),
            (f"{processes} processes", investors, [hot] * processes, per_client),
        ):
            load = os.getloadavg()[0]
            busy = busy_seconds()
            result = funding_rate_processes(clients, listings, per)
            result["busy"] = (busy_seconds() - busy) / (len(clients) * per)
            result["load"] = (load, os.getloadavg()[0])
            results[name] = result
    seconds = int(arg("--pgbench-seconds", "10"))
    load = os.getloadavg()[0]
    tps = pgbench_rate(hot.pk, processes, seconds) if seconds else None

    mode = "eager in the client" if "--eager-after-commit" in sys.argv else "left queued"
    print(f"one hot listing, minimum tickets (0.10 EUR), {total} investments per run; "
          f"after-commit tasks {mode}")
    print("| clients | investments/s | CPU ms per investment (app + db) | machine busy CPU ms "
          "per investment | waited for the listing lock ms | listing locked ms (wall) "
          "| load average (start, end) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['rate']:.0f} | {(r['client'] + r['server']) * 1000:.2f} "
              f"({r['client'] * 1000:.2f} + {r['server'] * 1000:.2f}) | {r['busy'] * 1000:.2f} "
              f"| {r['lock_wait'] * 1000:.1f} | {r['lock_held'] * 1000:.2f} "
              f"| {r['load'][0]:.1f}, {r['load'][1]:.1f} |")
    if tps is not None:
        hot16 = results[f"{processes} processes"]["rate"]
        print(f"\npgbench, {processes} clients, single-row UPDATE of the same listing, "
              f"{seconds} s (load {load:.1f}): {tps:.0f} tps; funding = {hot16 / tps:.3f}x")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(total {time.perf_counter() - t0:.0f} s)")
