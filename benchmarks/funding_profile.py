"""What one investment costs: SQL queries, CPU (application and database) and how long the listing
stays locked, for ``marketplace.services.investment_create`` on PostgreSQL.

    .venv/bin/python benchmarks/funding_profile.py [--investments N] [--profile]

Creates a scratch database (``paymint_bench_funding``), migrates it, makes 4 KYC-approved
investors with funded wallets and a listing with a 0.10 EUR minimum ticket, then makes
``N`` (default 300) minimum-ticket investments from one client (rotating over the investors),
on the business clock of the listing day. Reported per investment, medians over the run:

- queries inside ``investment_create``'s transaction and after its commit (the on-commit work:
  AML monitoring, the chain outbox, queued tasks, eager here as in the tests);
- application CPU (``time.thread_time`` of the client: Python, driver, Django) and database
  CPU (``/proc/<backend pid>/schedstat`` of its connection), the whole call including the
  after-commit work;
- the listing lock's hold time: from the return of the statement that locks the listing (the
  funding's conditional ``UPDATE`` of its counters, its last statement since issue #19) to the
  end of the commit.

``--profile`` prints the top functions by CPU (cProfile with a CPU clock), ``--queries`` the
statements of the last investment.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import os
import pstats
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_DB", "paymint_bench_funding")

from benchmarks.money_benchmark import (  # noqa: E402
    Usage,
    create_database,
    drop_database,
    fund_wallets,
    new_investors,
    new_listing,
    setup_django,
)


def arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


class QueryCounter:
    """Counts the SQL statements of this thread's connection, split at the commit."""

    def __init__(self, usage=None, profiler=None) -> None:
        self.usage = usage
        self.profiler = profiler
        self.in_tx = 0
        self.after = 0
        self.committed = False
        self.sql: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        self.sql.append(("after commit: " if self.committed else "") + sql)
        if self.committed:
            self.after += 1
        else:
            self.in_tx += 1
        try:
            return execute(sql, params, many, context)
        finally:
            self.last_statement_end = time.perf_counter()

    def mark(self, commit_started: float, commit_ended: float) -> None:
        """Right after the funding's COMMIT returned, before the on-commit callbacks (whose
        own transactions' commits are not marked)."""
        if self.committed:
            return
        # The COMMIT's round trip (WAL flush included): the listing stays locked through it.
        self.commit_wall = commit_ended - commit_started
        self.committed = True
        self.cpu_at_commit = time.thread_time()
        if self.profiler is not None:  # profile the call up to its commit only
            self.profiler.disable()
        # The backend's CPU to the commit (reading /proc runs no statement once the pid is known).
        self.db_at_commit = self.usage._backend_seconds() if self.usage is not None else 0.0


def main() -> None:
    count = int(arg("--investments", "300"))
    create_database()
    try:
        with tempfile.TemporaryDirectory() as media:
            setup_django(media)
            run(count)
    finally:
        drop_database()


def run(count: int) -> None:
    from django.db import connection

    from accounts.services import staff_user_create
    from marketplace.services import investment_create
    from paymint.core import clock
    from tests.helpers import LISTING_DAY, make_user

    staff = staff_user_create(email="bench-ops@example.com", password="correct-horse-bench-42")
    seller = make_user(
        "SELLER", "bench-seller@example.com",
        kyc={"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"},
        approve_by=staff)
    investors = new_investors(4, staff, threads=1)
    fund_wallets(investors, "10000.00")
    listing = new_listing(seller, min_ticket=Decimal("0.10"))
    connection.close()
    rows = []
    profiler = cProfile.Profile(time.thread_time) if "--profile" in sys.argv else None
    with clock.frozen_at(dt.datetime.combine(LISTING_DAY, dt.time(13), tzinfo=dt.UTC),
                         all_threads=True):
        for n in range(count + 20):
            investor = investors[n % len(investors)]
            usage = Usage()
            counter = QueryCounter(usage, profiler if n >= 20 else None)
            usage.after_commit.append(counter.mark)
            started = time.thread_time()
            with connection.execute_wrapper(counter), usage:
                if profiler is not None and n >= 20:
                    profiler.enable()
                investment_create(investor=investor, listing=listing,
                                  amount=listing.min_ticket)
                if profiler is not None:
                    profiler.disable()
            counter.cpu_in_request = counter.cpu_at_commit - started
            counter.db_in_request = counter.db_at_commit - usage._server0
            if n >= 20:  # the first ones warm caches up
                rows.append((counter, usage))
    in_tx = statistics.median(c.in_tx for c, _ in rows)
    after = statistics.median(c.after for c, _ in rows)
    app = statistics.median(u.client for _, u in rows) * 1000
    app_tx = statistics.median(c.cpu_in_request for c, _ in rows) * 1000
    db = statistics.median(u.server for _, u in rows) * 1000
    db_tx = statistics.median(c.db_in_request for c, _ in rows) * 1000
    total_tx = statistics.median(c.cpu_in_request + c.db_in_request for c, _ in rows) * 1000
    held = statistics.median(u.lock_held for _, u in rows) * 1000
    commit = statistics.median(c.commit_wall for c, _ in rows) * 1000
    load = os.getloadavg()[0]
    print(f"investments: {len(rows)} (median per investment), load average {load:.1f}")
    print("| queries in the transaction | after commit | app CPU ms to the commit | db CPU ms to "
          "the commit | app + db CPU ms to the commit | app CPU ms with the after-commit work "
          "| db CPU ms with it | listing locked ms (wall) | of which COMMIT ms (wall) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {in_tx:.0f} | {after:.0f} | {app_tx:.2f} | {db_tx:.2f} | {total_tx:.2f} "
          f"| {app:.2f} | {db:.2f} | {held:.2f} | {commit:.2f} |")
    if "--queries" in sys.argv:
        for sql in rows[-1][0].sql:
            print(" ", sql[:240])
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats(arg("--sort", "cumulative")).print_stats(int(arg("--top", "60")))


if __name__ == "__main__":
    main()
