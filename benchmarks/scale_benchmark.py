"""Reads at scale: p95 of the API's lists and the ops invoice list with ``N`` invoices against
``10,000``.

    .venv/bin/python benchmarks/scale_benchmark.py [--sizes 10000,100000] [--requests 30]
        [--keep-db | --reuse-db]

For each size: a scratch database (``paymint_bench_scale``, ``BENCH_DB`` overrides), migrated,
seeded with
``manage.py seed_scale --invoices N`` (timed: rows/s), then a KYC-approved reader investor made
through the services takes over the first seeded investor's investments and wallet. Each read
runs ``--requests`` times in-process (Django's test client, JWT / signed-in staff, test
settings) after ``VACUUM ANALYZE``; the table gives each read's p95 wall time per size and the
ratio to the smallest size (target: <= 1.5x).

``--reuse-db``: one database per size, ``<BENCH_DB>_<size>``, kept; seeded (and its reader made)
only when it holds no invoice, migrated every run - so a 1M database seeded once serves every
run after (and a database seeded before a migration shows what the migration does to existing
rows). Drop them with ``--drop-db`` (after the run). The sizes' databases stay open side by side
and the reads are timed request by request in turn across the sizes (one at 10,000, one at
1,000,000, ...), so that the machine's changing load falls on every size alike.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["BENCH_DB"] = os.environ.get("BENCH_DB", "paymint_bench_scale")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

from benchmarks import money_benchmark  # noqa: E402
from benchmarks.money_benchmark import (  # noqa: E402
    create_database,
    drop_database,
    setup_django,
)


def arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


SIZES = [int(s) for s in arg("--sizes", "10000,100000").split(",")]
REQUESTS = int(arg("--requests", "30"))
KEEP_DB = "--keep-db" in sys.argv  # leave the last size's database, for EXPLAIN
REUSE_DB = "--reuse-db" in sys.argv  # one kept database per size, seeded once
DROP_DB = "--drop-db" in sys.argv
BASE_DB = os.environ["BENCH_DB"]
READS = [
    ("marketplace", "/api/v1/marketplace"),
    ("marketplace grade=A", "/api/v1/marketplace?grade=A"),
    ("marketplace currency=USD", "/api/v1/marketplace?currency=USD"),
    ("marketplace tenor 30-90", "/api/v1/marketplace?min_tenor=30&max_tenor=90"),
    ("marketplace min_amount=20000", "/api/v1/marketplace?min_amount=20000"),
    ("marketplace min_yield=0.12", "/api/v1/marketplace?min_yield=0.12"),
    ("marketplace industry=F", "/api/v1/marketplace?industry=F"),
    ("investments", "/api/v1/investments"),
    ("wallet", "/api/v1/wallet"),
    ("ops invoice list (admin)", "/admin/invoices/invoice/"),
    ("ops invoice list, status filter", "/admin/invoices/invoice/?status__exact=LISTED"),
    ("ops index: balances, aging report", "/admin/"),
    ("seller dashboard", "/seller/"),
    # The other admin lists of large tables ("usable": no full count, no DISTINCT filter).
    ("admin listings", "/admin/marketplace/listing/"),
    ("admin investments", "/admin/marketplace/investment/"),
    ("admin journal entries", "/admin/settlements/journalentry/"),
    ("admin ledger accounts", "/admin/settlements/ledgeraccount/"),
]


if "--reads" in sys.argv:  # only the reads whose label contains one of these (comma-separated)
    _wanted = arg("--reads", "").split(",")
    READS = [(label, path) for label, path in READS if any(w in label for w in _wanted)]


def measure(size: int) -> dict:
    from django.core.management import call_command

    from accounts.models import User
    from accounts.services import kyc_approve, kyc_submit, staff_user_create
    from invoices.models import Invoice
    from tests.helpers import STRONG_PASSWORD, kyc_ready

    seeded = None
    if not (REUSE_DB and Invoice.objects.exists()):
        started = time.perf_counter()
        call_command("seed_scale", invoices=size)
        seeded = time.perf_counter() - started
    if User.objects.filter(email="ops@scale.example").exists():
        return measure_reads(seeded=seeded)
    staff = staff_user_create(
        email="ops@scale.example", password=STRONG_PASSWORD, roles=("operations", "compliance")
    )
    # The reader: the first seeded investor (its investments and wallet), onboarded through
    # the services (the ledger's rows are immutable: they cannot change owner).
    reader = User.objects.filter(role="INVESTOR", email__startswith="scale-").order_by("id")[0]
    kyc_ready(reader)
    profile = kyc_submit(
        user=reader, legal_name="Scale Reader", country="FR", tax_id="FR40303265045"
    )
    kyc_approve(profile=profile, reviewer=staff)
    User.objects.create_superuser(email="root@scale.example", password=STRONG_PASSWORD)
    return measure_reads(seeded=seeded)


def measure_reads(*, seeded: float | None) -> dict:
    """The database made ready (VACUUM ANALYZE) and its signed-in clients; with
    ``--reuse-db`` the reads are timed later, interleaved with the other sizes
    (:func:`time_interleaved`), else here."""
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from tests.helpers import admin_sign_in, api_client_for

    # VACUUM too: a table just written by COPY has no visibility map yet, which autovacuum
    # builds on a live database (index-only scans read it).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    reader = User.objects.filter(role="INVESTOR", email__startswith="scale-").order_by("id")[0]
    api = api_client_for(reader)
    ops = admin_sign_in(Client(), User.objects.get(email="root@scale.example"))
    # The seller of the most invoices (seed_scale spreads invoices evenly: the first one).
    seller = Client()
    seller.force_login(User.objects.filter(role="SELLER", email__startswith="scale-")
                       .order_by("id")[0])
    out = {"seed_seconds": seeded, "reads": {}, "clients": (api, ops, seller)}
    if REUSE_DB:
        return out
    for label, path in READS:
        client = _client(out["clients"], path)
        for _ in range(3):
            assert client.get(path).status_code == 200, (label, path)
        times = []
        for _ in range(REQUESTS):
            t0 = time.perf_counter()
            client.get(path)
            times.append(time.perf_counter() - t0)
        out["reads"][label] = _p95(times)
    return out


def _client(clients, path: str):
    api, ops, seller = clients
    return ops if path.startswith("/admin/") else seller if path == "/seller/" else api


def _p95(times: list[float]) -> float:
    return statistics.quantiles(sorted(times), n=20)[18] * 1000  # ms


#: With --reuse-db, each size's own database connection (Django's "default" swapped in per
#: request), so that the sizes are timed request by request in turn under the same load.
WRAPPERS: dict[int, object] = {}


def _activate(size: int) -> None:
    from django.db import connections

    connections._connections.default = WRAPPERS[size]


def time_interleaved(results: dict) -> None:
    """Each read timed ``REQUESTS`` times per size, the sizes in turn request by request (one
    request at 10,000, one at 1,000,000, ...): a change in the machine's load falls on every
    size alike, and the ratio compares like with like."""
    for label, path in READS:
        times: dict[int, list[float]] = {size: [] for size in SIZES}
        for size in SIZES:
            _activate(size)
            from django.db import connection

            assert connection.settings_dict["NAME"] == f"{BASE_DB}_{size}"
            client = _client(results[size]["clients"], path)
            for _ in range(3):
                assert client.get(path).status_code == 200, (size, label, path)
        for _ in range(REQUESTS):
            for size in SIZES:
                _activate(size)
                client = _client(results[size]["clients"], path)
                t0 = time.perf_counter()
                client.get(path)
                times[size].append(time.perf_counter() - t0)
        for size in SIZES:
            results[size]["reads"][label] = _p95(times[size])


def _use_database(name: str) -> None:
    """Point the benchmark (and Django, once set up) at database ``name``: a new "default"
    connection (the previous one is kept, in :data:`WRAPPERS`)."""
    money_benchmark.BENCH_DB = name
    os.environ["DATABASE_URL"] = f"{money_benchmark.SERVER}/{name}"
    from django.apps import apps

    if apps.ready:
        from django.db import connections

        connections.settings["default"] = {**connections.settings["default"], "NAME": name}
        if hasattr(connections._connections, "default"):
            delattr(connections._connections, "default")


def _database_exists(name: str) -> bool:
    with money_benchmark._admin_connection() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() \
            is not None


def main() -> None:
    results = {}
    print(f"load average at the start: {os.getloadavg()}", flush=True)
    media_dir = tempfile.TemporaryDirectory()
    for size in SIZES:
        if REUSE_DB:
            _use_database(f"{BASE_DB}_{size}")
            if not _database_exists(money_benchmark.BENCH_DB):
                create_database()
        else:
            create_database()
        try:
            setup_django(media_dir.name)
            print(f"{money_benchmark.BENCH_DB}: {size} invoices ...", flush=True)
            results[size] = measure(size)
            if REUSE_DB:
                from django.db import connections

                WRAPPERS[size] = connections["default"]
            if results[size]["seed_seconds"] is not None:
                print(f"  seeded in {results[size]['seed_seconds']:.0f} s", flush=True)
        finally:
            if not (REUSE_DB or (KEEP_DB and size == SIZES[-1])):
                drop_database()
    if REUSE_DB:
        print(f"timing, sizes interleaved; load average {os.getloadavg()}", flush=True)
        time_interleaved(results)
        if DROP_DB:
            for size in SIZES:
                WRAPPERS[size].close()
                _use_database(f"{BASE_DB}_{size}")
                drop_database()
    print(f"load average at the end: {os.getloadavg()}", flush=True)
    base = SIZES[0]
    print(
        "| read | "
        + " | ".join(f"p95 ms at {s:,}" for s in SIZES)
        + f" | ratio {SIZES[-1]:,} / {base:,} |"
    )
    print("|---|" + "---|" * (len(SIZES) + 1))
    for label, _ in READS:
        cells = [f"{results[s]['reads'][label]:.1f}" for s in SIZES]
        ratio = results[SIZES[-1]]["reads"][label] / results[base]["reads"][label]
        print(f"| {label} | " + " | ".join(cells) + f" | {ratio:.2f}x |")
    for size in SIZES:
        if results[size]["seed_seconds"] is not None:
            print(f"seed_scale --invoices {size}: {results[size]['seed_seconds']:.1f} s")


if __name__ == "__main__":
    main()
