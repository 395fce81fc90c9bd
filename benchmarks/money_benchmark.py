"""Money engine throughput on PostgreSQL.

    .venv/bin/python benchmarks/money_benchmark.py [--quick] [--runs N] [--no-readme]
    .venv/bin/python benchmarks/money_benchmark.py --settlement-only   # (c) alone, printed

Creates a scratch database (``paymint_bench``; ``BENCH_DB`` / ``BENCH_SERVER`` override) on the
local server, migrates it, measures, and drops it again. Measures:

(a) funding throughput on one hot invoice with 1 and with 16 concurrent clients (threads, each
    its own connection; investments of the minimum ticket), in investments/s;
(b) funding spread over 16 invoices, one client each (both repeated ``--runs`` times, default
    3, each run with fresh clients and listings; medians reported);
(c) settling one invoice with 1,000 investors: wall time and SQL queries of
    ``settlement_execute``, against a plain bulk insert of the same 1,002 postings in one
    transaction; and the query count for 10 vs 1,000 investors (with the queries that grow).

Besides rates and wall times, every funding client and the settlement record the CPU they
used - the Python thread (``time.thread_time``) and its PostgreSQL backend
(``/proc/<pid>/schedstat``, when the server runs on this machine) - and each funding client
the time it waited for the listing's row lock (in the statement that locks the listing: the
funding's conditional ``UPDATE`` of its counters).
CPU per investment times the investments a run made, over the cores, is the ceiling that no
spreading over invoices can lift; lock wait is what spreading can remove.

Prints a table with pass/fail against the targets and writes it into ``benchmarks/README.md``
(its own section, replaced on every run).
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import django_setup  # noqa: E402 - after sys.path

BENCH_DB = os.environ.get("BENCH_DB", "paymint_bench")
SERVER = os.environ.get("BENCH_SERVER", "postgres://postgres@127.0.0.1:5432")
os.environ["DATABASE_URL"] = f"{SERVER}/{BENCH_DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paymint.settings.test")
os.environ.setdefault("LOG_LEVEL", "WARNING")

QUICK = "--quick" in sys.argv
# (c) alone (no funding runs), printed and not written to the README (whose section needs all).
SETTLEMENT_ONLY = "--settlement-only" in sys.argv
CLIENTS = 16
HOT_TOTAL = 320 if QUICK else 960  # investments per hot-invoice run (1 or 16 clients)
SETTLE_ROUNDS = 1 if QUICK else 3
RUNS = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else (1 if QUICK else 3)
BIG = 1000
SMALL = 10
D = Decimal
README = ROOT / "benchmarks" / "README.md"
SECTION = "## Money engine (`money_benchmark.py`)"


def _admin_connection():
    import psycopg

    return psycopg.connect(f"{SERVER}/postgres", autocommit=True)


def create_database() -> None:
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def setup_django(media: str) -> None:
    """Django set up for the benchmark (:mod:`benchmarks.django_setup`), then migrated."""
    django_setup.setup_django(media)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- fixtures through the real services ------------------------------------------------------

_counter = iter(range(1, 10**9))


def new_investors(count: int, staff, *, threads: int = 8) -> list:
    """``count`` KYC-approved investors (created in parallel: sign-up, KYC, approval)."""
    from django.db import connection

    from tests.helpers import INVESTOR_TAX_IDS, make_user

    out: list = [None] * count
    tag = uuid.uuid4().hex[:8]

    def work(part: int) -> None:
        try:
            for i in range(part, count, threads):
                tax_id = INVESTOR_TAX_IDS[i % len(INVESTOR_TAX_IDS)]
                out[i] = make_user(
                    "INVESTOR",
                    f"bench-{tag}-{i}@example.com",
                    kyc={
                        "legal_name": f"Bench investor {i}",
                        "country": tax_id[:2],
                        "tax_id": tax_id,
                    },
                    approve_by=staff,
                )
        finally:
            connection.close()

    run_threads(threads, work)
    return out


def fund_wallets(users, amount) -> None:
    from django.db import connection

    from tests.helpers import deposit

    def work(part: int) -> None:
        try:
            for user in users[part::8]:
                deposit(user, amount)
        finally:
            connection.close()

    run_threads(8, work)


def new_listing(seller, *, min_ticket: Decimal):
    """A listed copy of the Mustang invoice (own bytes, number and face value)."""
    from django.conf import settings

    from invoices.services import (
        invoice_run_extraction,
        invoice_score,
        invoice_submit,
        invoice_update_fields,
        invoice_upload,
    )
    from marketplace.services import listing_create
    from paymint.core import clock
    from tests.helpers import LISTING_DAY, mustang_bytes, uploaded

    n = next(_counter)
    settings.PAYMINT["MIN_TICKET"] = min_ticket
    with clock.frozen_at(LISTING_DAY):
        invoice = invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes(f"bench-{n}")))
        invoice = invoice_run_extraction(invoice_id=invoice.pk)
        face = D("571.04") + n
        invoice = invoice_update_fields(
            invoice=invoice,
            actor=seller,
            changes={"invoice_number": f"BENCH-{n}", "face_value": face, "amount_due": face},
        )
        invoice = invoice_submit(invoice=invoice, actor=seller)
        invoice = invoice_score(invoice_id=invoice.pk)
        return listing_create(invoice=invoice, seller=seller)


class Usage:
    """CPU of the current thread and its database connection; time spent in the statement that
    locks the listing (``lock_wait``: since issue #19 the funding's conditional ``UPDATE`` of
    the listing's counters, its last statement; before, a ``SELECT ... FOR UPDATE`` at the
    start) and from its return to the commit (``lock_held``: the listing row is locked for
    that long)."""

    LOCK_SQL = re.compile(
        r'FROM "marketplace_listing" .*FOR (NO KEY )?UPDATE'
        r'|\AUPDATE "marketplace_listing" SET "funded_amount"', re.S)

    def __init__(self) -> None:
        self.lock_wait = 0.0
        self.lock_held = 0.0
        self._pid = None
        self._acquired: float | None = None
        #: ``hook(commit_started, commit_ended)`` (perf_counter) run right after each COMMIT
        #: returns - before Django's on-commit callbacks, which the lock does not wait for.
        self.after_commit: list = []

    def _wrapper(self, execute, sql, params, many, context):
        if not self.LOCK_SQL.search(sql):
            return execute(sql, params, many, context)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            acquired = time.perf_counter()
            self.lock_wait += acquired - started
            if self._acquired is None:
                self._acquired = acquired

    def _commit(self) -> None:
        started = time.perf_counter()
        self._original_commit()
        ended = time.perf_counter()
        if self._acquired is not None:  # the COMMIT released the listing
            self.lock_held += ended - self._acquired
            self._acquired = None
        for hook in self.after_commit:
            hook(started, ended)

    def _rollback(self) -> None:
        self._original_rollback()
        self._acquired = None

    def _backend_seconds(self) -> float:
        """CPU seconds of this connection's server process so far (0 if not readable)."""
        from django.db import connection

        if self._pid is None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self._pid = cursor.fetchone()[0]
        try:
            with open(f"/proc/{self._pid}/schedstat") as stat:
                return int(stat.read().split()[0]) / 1e9
        except OSError:  # the server runs elsewhere
            return 0.0

    def __enter__(self) -> Usage:
        from django.db import connection

        self._server0 = self._backend_seconds()
        self._client0 = time.thread_time()
        self._wrap = connection.execute_wrapper(self._wrapper)
        self._wrap.__enter__()
        # The connection's commit and rollback, wrapped for this thread's connection: the lock
        # is held until the COMMIT returns (Django runs on-commit callbacks after it).
        self._original_commit, self._original_rollback = connection.commit, connection.rollback
        connection.commit, connection.rollback = self._commit, self._rollback
        return self

    def __exit__(self, *exc) -> None:
        from django.db import connection

        connection.commit, connection.rollback = self._original_commit, self._original_rollback
        self._wrap.__exit__(*exc)
        self.client = time.thread_time() - self._client0
        self.server = self._backend_seconds() - self._server0


class LockSampler:
    """Samples ``pg_stat_activity`` every ``interval`` seconds from its own connection: the
    mean number of this database's backends waiting for a lock, times the elapsed time, is
    the server's view of the time funding spent waiting for row locks."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(f"{SERVER}/{BENCH_DB}", autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                ).fetchone()
                self.samples.append(row[0])
                self._stop.wait(self.interval)

    def __enter__(self) -> LockSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.elapsed = time.perf_counter() - self._started
        self._stop.set()
        self._thread.join()

    @property
    def waiting_seconds(self) -> float:
        return statistics.fmean(self.samples) * self.elapsed if self.samples else 0.0


def run_threads(count: int, work) -> float:
    """Run ``work(i)`` in ``count`` threads released together; wall seconds."""
    barrier = threading.Barrier(count + 1)
    errors: list[BaseException] = []

    def target(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def funding_rate(investors, listings, per_client: int) -> dict:
    """Client ``i`` makes ``per_client`` minimum-ticket investments in ``listings[i]``; returns
    ``rate`` (investments/s) and, per investment, ``client``/``server`` CPU and ``lock_wait``
    (seconds)."""
    from django.db import connection

    from marketplace.services import investment_create

    usages: list[Usage] = []

    def work(i: int) -> None:
        try:
            listing = listings[i]
            with Usage() as usage:
                for _ in range(per_client):
                    investment_create(investor=investors[i], listing=listing,
                                      amount=listing.min_ticket)
            usages.append(usage)
        finally:
            connection.close()

    with LockSampler() as sampler:
        elapsed = run_threads(len(listings), work)
    total = len(listings) * per_client
    return {
        "rate": total / elapsed,
        "client": sum(u.client for u in usages) / total,
        "server": sum(u.server for u in usages) / total,
        "lock_wait": sum(u.lock_wait for u in usages) / total,
        "lock_held": sum(u.lock_held for u in usages) / total,
        "pg_lock_wait": sampler.waiting_seconds / total,
    }


def _process_client(investor_id, listing_id, per_client, barrier, failures, totals) -> None:
    from django.db import connections

    from accounts.models import User
    from marketplace.models import Listing
    from marketplace.services import investment_create

    connections.close_all()  # never reuse the parent's sockets
    try:
        investor, listing = User.objects.get(pk=investor_id), Listing.objects.get(pk=listing_id)
    finally:
        barrier.wait()
    try:
        with Usage() as usage:
            for _ in range(per_client):
                investment_create(investor=investor, listing=listing, amount=listing.min_ticket)
        with totals.get_lock():
            totals[0] += usage.client
            totals[1] += usage.server
            totals[2] += usage.lock_wait
            totals[3] += usage.lock_held
    except BaseException:  # noqa: BLE001 - counted by the parent
        failures.value += 1
        raise
    finally:
        connections.close_all()


def funding_rate_processes(investors, listings, per_client: int) -> dict:
    """As :func:`funding_rate`, one forked process per client (no shared GIL)."""
    import multiprocessing

    from django.db import connections

    ctx = multiprocessing.get_context("fork")
    connections.close_all()
    barrier = ctx.Barrier(len(listings) + 1)
    failures = ctx.Value("i", 0)
    totals = ctx.Array("d", 4)
    procs = [
        ctx.Process(
            target=_process_client,
            args=(inv.pk, listing.pk, per_client, barrier, failures, totals),
        )
        for inv, listing in zip(investors, listings, strict=True)
    ]
    for proc in procs:
        proc.start()
    barrier.wait()
    with LockSampler() as sampler:
        started = time.perf_counter()
        for proc in procs:
            proc.join()
        elapsed = time.perf_counter() - started
    if failures.value or any(p.exitcode for p in procs):
        raise RuntimeError("a funding client failed")
    total = len(listings) * per_client
    return {"rate": total / elapsed, "client": totals[0] / total, "server": totals[1] / total,
            "lock_wait": totals[2] / total, "lock_held": totals[3] / total,
            "pg_lock_wait": sampler.waiting_seconds / total}


# --- (c) settlement ----------------------------------------------------------------------------


def funded_and_repaid(seller, investors, *, first_deposit_user=None):
    """A listing funded by every one of ``investors`` (equal tickets, the last takes the rest),
    disbursed, then repaid in full by the debtor; returns the pending settlement's id."""
    from marketplace.services import investment_create
    from paymint.core import clock
    from settlements import tasks
    from settlements.services import bank_event_apply
    from tests.helpers import LISTING_DAY, MUSTANG_DUE, bank_event, deposit

    listing = new_listing(seller, min_ticket=D("0.01"))
    ticket = (listing.advance_amount / len(investors) / 2).quantize(D("0.01"))
    with clock.frozen_at(LISTING_DAY):
        for person in investors[:-1]:
            if len(investors) <= 50:  # large tickets: top up the wallet first
                deposit(person, ticket)
            investment_create(investor=person, listing=listing, amount=ticket)
        listing.refresh_from_db()
        rest = listing.advance_amount - listing.funded_amount
        deposit(investors[-1], rest)
        investment_create(investor=investors[-1], listing=listing, amount=rest)
    listing.refresh_from_db()
    invoice = listing.invoice
    invoice.refresh_from_db()
    assert invoice.status == "DISBURSED", invoice.status
    queued: list[int] = []
    original = tasks.settlement_execute_task.delay
    tasks.settlement_execute_task.delay = queued.append
    try:
        with clock.frozen_at(MUSTANG_DUE):
            bank_event_apply(
                payload=bank_event(
                    f"bench_{uuid.uuid4().hex}",
                    "repayment.received",
                    invoice.repayment_reference,
                    listing.face_value,
                )
            )
    finally:
        tasks.settlement_execute_task.delay = original
    return queued[0]


def normalize(sql: str) -> str:
    sql = re.sub(r'"s\d+_x\d+"', "?", sql)  # savepoint names
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "?", sql)
    sql = re.sub(r"\((\?\s*,\s*)+\?\)", "(...)", sql)
    sql = re.sub(r"(\(\.\.\.\)\s*,\s*)+\(\.\.\.\)", "(...)", sql)
    sql = re.sub(r"(WHEN .*? THEN .*? )+", "WHEN ... ", sql)
    return sql[:140]


def settle(settlement_id: int) -> tuple[float, list[dict], float]:
    """Run one settlement; wall seconds, its queries, and its CPU seconds (thread + backend)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from paymint.core import clock
    from settlements.services import settlement_execute
    from tests.helpers import MUSTANG_DUE

    connection.ensure_connection()
    gc.collect()  # a full collection of the benchmark's heap (~0.1 s) must not land inside
    # Usage first: its one query (the backend's pid) is not counted.
    with Usage() as usage, clock.frozen_at(MUSTANG_DUE), \
            CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        settlement = settlement_execute(settlement_id=settlement_id)
        elapsed = time.perf_counter() - started
    assert settlement.status == "COMPLETED"
    assert settlement.entry.postings.count() == len(settlement.breakdown["investors"]) + 2
    return elapsed, list(ctx.captured_queries), usage.client + usage.server


def bulk_insert(settlement_id: int) -> tuple[float, int, float]:
    """The same postings as ``settlement_id``'s entry, written by a bare bulk insert; wall
    seconds, posting count, CPU seconds.

    The debit legs go to the platform's bank clearing account instead (an account that may go
    negative): the settlement already emptied the escrow, and the database's commit check
    (settlements.0007) refuses an entry that would take it below zero. Same rows, same
    balanced entry, same commit check otherwise."""

    from settlements.enums import AccountKind
    from settlements.ledger.posting import platform_account
    from settlements.models import Settlement

    source = Settlement.objects.get(pk=settlement_id).entry
    clearing = platform_account(AccountKind.PLATFORM_BANK_CLEARING, source.currency).pk
    rows = [
        (clearing if amount < 0 else account, amount, currency, memo)
        for account, amount, currency, memo in source.postings.values_list(
            "account_id", "amount", "currency", "memo"
        )
    ]
    gc.collect()
    with Usage() as usage:
        started = time.perf_counter()
        _bulk_insert(source, rows)
        elapsed = time.perf_counter() - started
    return elapsed, len(rows), usage.client + usage.server


def _bulk_insert(source, rows) -> None:
    from django.db import transaction

    from settlements.models import JournalEntry, Posting

    with transaction.atomic():
        entry = JournalEntry.objects.create(
            kind=source.kind,
            idempotency_key=f"bench-bulk:{uuid.uuid4()}",
            currency=source.currency,
            effective_date=source.effective_date,
            description="bulk insert baseline",
        )
        Posting.objects.bulk_create(
            Posting(entry=entry, leg=i, account_id=a, amount=amt, currency=c, memo=m)
            for i, (a, amt, c, m) in enumerate(rows)
        )


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    media = tempfile.mkdtemp(prefix="paymint-bench-media-")
    create_database()
    try:
        setup_django(media)
        results = measure()
    finally:
        drop_database()
    report(results)


def measure() -> dict:
    from django.db import connection

    from accounts.services import staff_user_create
    from paymint.core import clock
    from tests.helpers import LISTING_DAY, make_user

    r: dict = {"load": [os.getloadavg()[0]]}
    staff = staff_user_create(email="bench-ops@example.com", password="correct-horse-bench-42")
    seller = make_user(
        "SELLER",
        "bench-seller@example.com",
        kyc={"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"},
        approve_by=staff,
    )
    ticket = D("0.10")
    r["funding"] = []
    for run_no in range(0 if SETTLEMENT_ONLY else RUNS):
        # Fresh clients and listings per run, so that every run starts from the same state.
        print(f"funding run {run_no + 1}/{RUNS}: setting up investors ...", flush=True)
        clients = new_investors(CLIENTS, staff)
        fund_wallets(clients, "10000.00")
        hot = [new_listing(seller, min_ticket=ticket) for _ in range(5)]
        spread = [new_listing(seller, min_ticket=ticket) for _ in range(2 * CLIENTS)]
        connection.close()
        run: dict = {}
        with clock.frozen_at(
            dt.datetime.combine(LISTING_DAY, dt.time(13), tzinfo=dt.UTC), all_threads=True
        ):
            funding_rate(clients[:1], hot[:1], 20)  # warm-up
            print("(a) hot invoice, 1 client ...", flush=True)
            run["hot_1"] = funding_rate(clients[:1], hot[1:2], HOT_TOTAL)
            print("(a) hot invoice, 16 clients ...", flush=True)
            run["hot_16"] = funding_rate(clients, [hot[2]] * CLIENTS, HOT_TOTAL // CLIENTS)
            print("(b) 16 clients on 16 invoices ...", flush=True)
            run["spread_16"] = funding_rate(clients, spread[:CLIENTS], HOT_TOTAL // CLIENTS)
            print("(a, b) again with processes ...", flush=True)
            run["p_hot_1"] = funding_rate_processes(clients[:1], hot[3:4], HOT_TOTAL)
            run["p_hot_16"] = funding_rate_processes(clients, [hot[4]] * CLIENTS,
                                                     HOT_TOTAL // CLIENTS)
            run["p_spread_16"] = funding_rate_processes(clients, spread[CLIENTS:],
                                                        HOT_TOTAL // CLIENTS)
        connection.close()
        r["funding"].append(run)

    # (c) measures the money engine: the domain events' dispatch (notifications: 1,000 emails
    # rendered and written to the outbox, which Celery's eager mode would run inside the
    # timed settlement) is left to the workers, as in production - the events stay queued.
    from paymint.core import tasks as core_tasks

    core_tasks.domain_event_dispatch_task.delay = lambda *args, **kwargs: None
    print(f"(c) creating {BIG} investors ...", flush=True)
    many = new_investors(BIG, staff)
    fund_wallets(many, "5.00")
    r["settle_big"], r["bulk"], r["queries_big"] = [], [], None
    r["settle_cpu"], r["bulk_cpu"] = [], []
    for round_no in range(SETTLE_ROUNDS):
        print(f"(c) settlement with {BIG} investors, round {round_no + 1} ...", flush=True)
        sid = funded_and_repaid(seller, many)
        elapsed, queries, cpu = settle(sid)
        r["settle_big"].append(elapsed)
        r["settle_cpu"].append(cpu)
        r["queries_big"] = queries
        bulk_elapsed, r["postings"], cpu = bulk_insert(sid)
        r["bulk"].append(bulk_elapsed)
        r["bulk_cpu"].append(cpu)
    print(f"(c) settlement with {SMALL} investors ...", flush=True)
    sid = funded_and_repaid(seller, many[:SMALL])
    r["settle_small"], r["queries_small"], _ = settle(sid)
    r["load"].append(os.getloadavg()[0])
    return r


FUNDING_RUNS = {
    "hot_1": "1 client, one hot invoice",
    "hot_16": "16 clients, one hot invoice",
    "spread_16": "16 clients, 16 invoices",
    "p_hot_1": "1 process, one hot invoice",
    "p_hot_16": "16 processes, one hot invoice",
    "p_spread_16": "16 processes, 16 invoices",
}


def funding_medians(runs: list[dict]) -> dict[str, dict]:
    """``{run name: {rate, client, server, lock_wait, rates}}``, medians over the runs."""
    out = {}
    for name in FUNDING_RUNS:
        measured = [run[name] for run in runs]
        out[name] = {k: statistics.median(m[k] for m in measured)
                     for k in ("rate", "client", "server", "lock_wait", "lock_held",
                           "pg_lock_wait")}
        out[name]["rates"] = [m["rate"] for m in measured]
    return out


def report(r: dict) -> None:
    f = funding_medians(r["funding"]) if r["funding"] else {}
    settle_big = statistics.median(r["settle_big"])
    bulk = statistics.median(r["bulk"])
    settle_cpu = statistics.median(r["settle_cpu"])
    bulk_cpu = statistics.median(r["bulk_cpu"])
    n_big, n_small = len(r["queries_big"]), len(r["queries_small"])
    big = Counter(normalize(q["sql"]) for q in r["queries_big"])
    small = Counter(normalize(q["sql"]) for q in r["queries_small"])
    sql_time = sum(float(q["time"]) for q in r["queries_big"])
    slowest = sorted(r["queries_big"], key=lambda q: float(q["time"]), reverse=True)[:3]
    growing = sorted(
        ((big[k] - small.get(k, 0), k) for k in big if big[k] != small.get(k, 0)), reverse=True
    )
    rate = {name: f[name]["rate"] for name in f}
    checks = [] if not f else [
        (
            "16 clients on one hot invoice >= 1/2 of 1 client (threads)",
            rate["hot_16"] >= rate["hot_1"] / 2,
        ),
        (
            "16 clients spread >= 3x 16 clients on one invoice (threads)",
            rate["spread_16"] >= 3 * rate["hot_16"],
        ),
        (
            "16 clients on one hot invoice >= 1/2 of 1 client (processes)",
            rate["p_hot_16"] >= rate["p_hot_1"] / 2,
        ),
        (
            "16 clients spread >= 3x 16 clients on one invoice (processes)",
            rate["p_spread_16"] >= 3 * rate["p_hot_16"],
        ),
    ]
    checks += [
        (
            f"settling {BIG} investors <= 2x bulk insert of {r['postings']} postings",
            settle_big <= 2 * bulk,
        ),
        (f"same query count for {SMALL} and {BIG} investors", n_big == n_small),
    ]
    relative = {"hot_16": ("hot_1", "1 client"), "spread_16": ("hot_16", "hot"),
                "p_hot_16": ("p_hot_1", "1 process"), "p_spread_16": ("p_hot_16", "hot")}
    rows = []
    for name, label in FUNDING_RUNS.items() if f else ():
        m = f[name]
        text = f"{m['rate']:.0f} investments/s"
        if name in relative:
            base, base_label = relative[name]
            text += f" ({m['rate'] / rate[base]:.2f}x {base_label})"
        spread = ", ".join(f"{x:.0f}" for x in m["rates"])
        text += (f"; per investment: CPU {(m['client'] + m['server']) * 1000:.1f} ms (app "
                 f"{m['client'] * 1000:.1f} + database {m['server'] * 1000:.1f}), lock wait "
                 f"{m['pg_lock_wait'] * 1000:.1f} ms (in the listing's locking statement "
                 f"{m['lock_wait'] * 1000:.1f} ms), listing locked {m['lock_held'] * 1000:.1f} "
                 f"ms; runs: {spread}")
        section = "(b)" if "spread" in name else "(a)"
        rows.append((f"{section} funding, {label}", text))
    rows += [
        (
            f"(c) settlement_execute, {BIG} investors",
            f"{settle_big * 1000:.0f} ms, {n_big} queries (median of {len(r['settle_big'])}); "
            f"CPU {settle_cpu * 1000:.0f} ms (app + database)",
        ),
        (
            f"(c) bulk insert of {r['postings']} postings",
            f"{bulk * 1000:.0f} ms (settlement = {settle_big / bulk:.1f}x); CPU "
            f"{bulk_cpu * 1000:.0f} ms (settlement = {settle_cpu / bulk_cpu:.1f}x)",
        ),
        (
            f"(c) settlement_execute, {SMALL} investors",
            f"{r['settle_small'] * 1000:.0f} ms, {n_small} queries",
        ),
    ]
    width = max(len(a) for a, _ in rows)
    lines = [f"| {'measure'.ljust(width)} | result |", f"|{'-' * (width + 2)}|--------|"]
    lines += [f"| {a.ljust(width)} | {b} |" for a, b in rows]
    lines += ["", "| target | result |", "|--------|--------|"]
    lines += [f"| {name} | {'PASS' if ok else 'FAIL'} |" for name, ok in checks]
    lines += [
        "",
        f"Where the {BIG}-investor settlement spends its time (last round): SQL "
        f"{sql_time * 1000:.0f} ms in {n_big} queries, Python "
        f"{(r['settle_big'][-1] - sql_time) * 1000:.0f} ms. "
        "Slowest queries:",
        "",
    ]
    lines += [
        f"- {float(q['time']) * 1000:.0f} ms, {len(q['sql']) // 1024} KiB of SQL: "
        f"`{normalize(q['sql'])[:100]}`"
        for q in slowest
    ]
    if growing:
        lines += [
            "",
            f"Queries that grow from {SMALL} to {BIG} investors (extra count, normalized SQL):",
            "",
        ]
        lines += [f"- +{extra}: `{sql}`" for extra, sql in growing[:8]]
    lines += ["", *funding_ceiling(f)] if f else []
    table = "\n".join(lines)
    print()
    print(table)
    if "--no-readme" not in sys.argv and not SETTLEMENT_ONLY:
        write_readme(table, r["load"])


def funding_ceiling(f: dict[str, dict]) -> list[str]:
    """Target (b) against what the machine can do: with every core busy, funding cannot go
    faster than cores / CPU per investment, however the investments spread over invoices."""
    cores = os.cpu_count() or 1
    lines = [f"Target (b) on this machine ({cores} CPUs, application, clients and PostgreSQL "
             "sharing them): CPU per investment (app thread + its database backend) bounds "
             "the rate whatever the spread; listing-lock wait is what spreading removes.", ""]
    for hot, spread, kind in (("hot_16", "spread_16", "threads"),
                              ("p_hot_16", "p_spread_16", "processes")):
        h, s = f[hot], f[spread]
        cpu = (h["client"] + h["server"]) or float("nan")
        ceiling = cores / cpu
        serial = 1 / h["lock_held"] if h["lock_held"] else float("inf")
        lines.append(
            f"- {kind}: hot {h['rate']:.0f}/s at {cpu * 1000:.1f} ms CPU per investment = "
            f"{h['rate'] * cpu / cores:.0%} of {cores} cores (CPU ceiling {ceiling:.0f}/s); "
            f"the listing is locked {h['lock_held'] * 1000:.1f} ms per investment (one "
            f"invoice: at most {serial:.0f}/s); clients waited {h['pg_lock_wait'] * 1000:.0f} "
            f"ms per investment for the lock on one invoice, {s['pg_lock_wait'] * 1000:.0f} ms "
            f"spread; spread reached {s['rate']:.0f}/s at {(s['client'] + s['server']) * 1000:.1f}"
            f" ms CPU per investment; 3x hot = {3 * h['rate']:.0f}/s "
            f"{'is above' if 3 * h['rate'] > ceiling else 'is within'} the CPU ceiling."
        )
    if not f["hot_1"]["server"]:
        lines.append("- (database CPU not measured: the server is not on this machine)")
    return lines


def write_readme(table: str, load: list[float]) -> None:
    import platform

    body = (
        f"{SECTION}\n\n"
        "`.venv/bin/python benchmarks/money_benchmark.py` - a scratch PostgreSQL database "
        f"(`{BENCH_DB}`) is created, migrated and dropped. Funding: minimum-ticket (0.10 EUR) "
        f"investments, {HOT_TOTAL} per run, threads (or processes) with their own connections, "
        f"business clock frozen on the listing day, medians of {RUNS} run(s) with fresh "
        "clients and listings each; AML monitoring runs after each commit in the client "
        "(Celery eager), so its CPU is counted; CPU is the client thread's plus its database "
        "backend's; lock wait is the mean number of backends waiting for a lock in "
        "`pg_stat_activity` (sampled every 20 ms) times the run's time, and in brackets the "
        "time clients spent in the listing's locking statement (lock wait plus any CPU "
        "queueing). "
        "Settlement: one full repayment of an invoice "
        f"funded by {BIG} (or {SMALL}) investors, through `settlement_execute`, queries "
        "counted with `CaptureQueriesContext`; baseline a bare `Posting.objects.bulk_create` "
        "of the same postings in one transaction; a full garbage collection before each timed "
        "settlement and insert (one of ~0.1 s would otherwise land in either at random).\n\n"
        f"Last run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
        f"{' (--quick)' if QUICK else ''}; 1-minute load average {load[0]:.1f} at the start, "
        f"{load[-1]:.1f} at the end (anything else running shares the same CPUs)."
        f"\n\n{table}\n"
    )
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    if SECTION in text:
        start = text.index(SECTION)
        nxt = text.find("\n## ", start + len(SECTION))
        text = text[:start] + body + (text[nxt + 1 :] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    README.write_text(text)
    print(f"\nwritten to {README.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
