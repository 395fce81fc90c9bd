"""API read throughput against gunicorn on PostgreSQL, as ratios to the bare probe.

    .venv/bin/python benchmarks/api_benchmark.py [--seconds S] [--rounds N]
        [--modes pool,fresh,persistent] [--no-readme]

Creates a scratch database (``paymint_bench_api``; ``BENCH_DB`` / ``BENCH_SERVER`` override),
migrates it and seeds it through the real services: one KYC-approved investor with a funded
wallet, one seller with ``LISTINGS`` (30) open listings, an investment by the investor in each
(so the investor's investment list and wallet have full pages). Then, for each connection
``mode``, it starts ``gunicorn paymint.wsgi`` with 2 sync workers on production settings
(``paymint.settings.production``: Redis cache and JWT denylist on local Redis DB 14, no TLS
redirect) and measures, with 4 keep-alive HTTP/1.1 clients (one process each, the investor's
bearer token), the requests per second of:

``/healthz`` (the bare probe: no I/O), ``/api/v1/me``, ``/api/v1/marketplace`` (first page),
``/api/v1/investments`` (first page) and ``/api/v1/wallet``.

Paths are measured one after the other, ``--seconds`` each (default 5, after a 1 s warm-up), and
the whole sequence ``--rounds`` times (default 2); the table gives the median rate of each path,
its ratio to ``/healthz`` measured in the same round (the median of the rounds' ratios), and the
application CPU per request: user + system time of the two gunicorn workers
(``/proc/<pid>/stat``) over the requests they served; with a pool or persistent connections also
the database CPU per request (``/proc/<backend pid>/schedstat`` of the database's backends).
Other processes share the machine, so absolute rates are noisy; ratios within one round are not.

Modes: ``pool`` (production's default, ``DB_POOL=true``), ``fresh`` (``DB_POOL=false``,
``CONN_MAX_AGE=0``: a connection per request, the state before issue #19), ``persistent``
(``DB_POOL=false``, ``CONN_MAX_AGE=60``).

Writes its table into ``benchmarks/README.md`` (its own section, replaced on every run).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import multiprocessing
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import django_setup  # noqa: E402 - after sys.path

BENCH_DB = os.environ.get("BENCH_DB", "paymint_bench_api")
SERVER = os.environ.get("BENCH_SERVER", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14")
SECRET_KEY = "bench-only-secret-key-not-secret-0123456789abcdefghijklmnop"
FIELD_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"paymint-bench-field-key").digest()).decode()
os.environ["DATABASE_URL"] = f"{SERVER}/{BENCH_DB}"
os.environ["DJANGO_SECRET_KEY"] = SECRET_KEY
os.environ["FIELD_ENCRYPTION_KEYS"] = FIELD_KEY
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paymint.settings.test")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


SECONDS = float(arg("--seconds", "5"))
ROUNDS = int(arg("--rounds", "2"))
MODES = arg("--modes", "pool,fresh,persistent").split(",")
CLIENTS = 4
WORKERS = 2
LISTINGS = 30
PATHS = ["/healthz", "/api/v1/me", "/api/v1/marketplace", "/api/v1/investments", "/api/v1/wallet"]
MODE_ENV = {
    "pool": {"DB_POOL": "true"},
    "fresh": {"DB_POOL": "false", "CONN_MAX_AGE": "0"},
    "persistent": {"DB_POOL": "false", "CONN_MAX_AGE": "60"},
}
README = ROOT / "benchmarks" / "README.md"
SECTION = "## API reads (`api_benchmark.py`)"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- database and seed -----------------------------------------------------------------------


def admin_connection():
    import psycopg

    return psycopg.connect(f"{SERVER}/postgres", autocommit=True)


def create_database() -> None:
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def drop_database() -> None:
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def seed(media: str) -> str:
    """Migrate and seed through the services; returns the investor's access token."""
    django_setup.setup_django(media)
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from accounts.services import staff_user_create
    from marketplace.models import Listing
    from marketplace.services import investment_create
    from paymint.core import clock
    from tests.helpers import (
        LISTING_DAY,
        STRONG_PASSWORD,
        deposit,
        listed_invoice,
        make_user,
    )

    staff = staff_user_create(
        email="ops@bench.example", password=STRONG_PASSWORD, roles=("operations", "compliance")
    )
    seller = make_user(
        "SELLER",
        "seller@bench.example",
        kyc={"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"},
        approve_by=staff,
    )
    investor = make_user(
        "INVESTOR",
        "investor@bench.example",
        kyc={"legal_name": "Bench Investor", "country": "FR", "tax_id": "FR40303265045"},
        approve_by=staff,
    )
    deposit(investor, Decimal("100000"))
    for n in range(LISTINGS):
        listing = listed_invoice(seller, variant=f"api-bench-{n}", invoice_number=f"AB-{n}")
        with clock.frozen_at(LISTING_DAY):
            investment_create(investor=investor, listing=listing, amount=Decimal("50"))
    # Listed on the Mustang invoice's day; open them until after the run (real clock).
    Listing.objects.update(expires_at=timezone.now() + timezone.timedelta(days=1))
    from accounts.auth_tokens import token_pair_issue

    access = token_pair_issue(user=investor)["access"]
    connections.close_all()
    return access


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(mode: str, port: int, media: str) -> subprocess.Popen:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_POOL", "CONN_", "DJANGO_SETTINGS"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "paymint.settings.production",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "BANK_WEBHOOK_SECRET": "whsec_bench",
            "CELERY_BROKER_URL": REDIS,
            "REDIS_URL": REDIS,
            "MEDIA_ROOT": media,
            "LOG_LEVEL": "WARNING",
            **MODE_ENV[mode],
        }
    )
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "paymint.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "sync",
            "--keep-alive",
            "75",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200 and len(worker_pids(proc.pid)) == WORKERS:
                return proc
        except OSError:
            time.sleep(0.2)
    stop_gunicorn(proc)
    raise RuntimeError("gunicorn did not start")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def worker_pids(master: int) -> list[int]:
    try:
        with open(f"/proc/{master}/task/{master}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def process_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` (``/proc/<pid>/stat``)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def backend_cpu() -> dict[int, float] | None:
    """CPU seconds of each backend connected to the bench database (``schedstat``)."""
    import psycopg

    with psycopg.connect(f"{SERVER}/{BENCH_DB}", autocommit=True) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ]
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/schedstat") as handle:
                out[pid] = int(handle.read().split()[0]) / 1e9
        except OSError:
            return None  # the server runs elsewhere
    return out


# --- the clients -----------------------------------------------------------------------------


def client(port: int, path: str, token: str, warmup: float, seconds: float, out) -> None:
    headers = {"Authorization": f"Bearer {token}", "Host": "127.0.0.1", "Connection": "keep-alive"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter() + warmup
    end = start + seconds
    count = 0
    bad = 0
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        if now >= start:
            count += 1
            bad += response.status != 200
    conn.close()
    out.put((count, bad))


def measure(port: int, path: str, token: str, master: int) -> dict:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    warmup = 1.0
    procs = [
        ctx.Process(target=client, args=(port, path, token, warmup, SECONDS, queue))
        for _ in range(CLIENTS)
    ]
    for p in procs:
        p.start()
    time.sleep(warmup)
    workers = worker_pids(master)
    cpu0 = process_cpu(workers)
    db0 = backend_cpu()
    results = [queue.get() for _ in procs]
    cpu1 = process_cpu(workers)
    db1 = backend_cpu()
    for p in procs:
        p.join()
    count = sum(r[0] for r in results)
    bad = sum(r[1] for r in results)
    if bad:
        raise RuntimeError(f"{path}: {bad} answers were not 200")
    db = None
    if db0 is not None and db1 is not None and set(db0) == set(db1) and db0:
        db = sum(db1.values()) - sum(db0.values())
    return {"rate": count / SECONDS, "requests": count, "app_cpu": cpu1 - cpu0, "db_cpu": db}


def check_answers(port: int, token: str) -> dict[str, int]:
    """Sizes of what each path answers (sanity: full pages)."""
    sizes = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for path in PATHS:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        body = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {body}")
        rows = body.get("results") or body.get("entries")
        sizes[path] = len(rows) if rows is not None else 1
    conn.close()
    return sizes


def run_mode(mode: str, token: str, media: str) -> dict:
    port = free_port()
    proc = start_gunicorn(mode, port, media)
    try:
        sizes = check_answers(port, token)
        rounds = []
        for _ in range(ROUNDS):
            rounds.append({path: measure(port, path, token, proc.pid) for path in PATHS})
    finally:
        stop_gunicorn(proc)
    table = {}
    for path in PATHS:
        rates = [r[path]["rate"] for r in rounds]
        ratios = [r[path]["rate"] / r["/healthz"]["rate"] for r in rounds]
        app = sum(r[path]["app_cpu"] for r in rounds) / sum(r[path]["requests"] for r in rounds)
        dbs = [r[path]["db_cpu"] for r in rounds]
        db = (
            sum(dbs) / sum(r[path]["requests"] for r in rounds)
            if all(d is not None for d in dbs)
            else None
        )
        table[path] = {
            "rate": statistics.median(rates),
            "ratio": statistics.median(ratios),
            "ratios": ratios,
            "app_ms": app * 1000,
            "db_ms": db * 1000 if db is not None else None,
            "rows": sizes[path],
        }
    return table


TARGETS = {
    "/api/v1/me": 0.35,
    "/api/v1/marketplace": 0.25,
    "/api/v1/investments": 0.25,
    "/api/v1/wallet": 0.25,
}


def report(results: dict[str, dict], started: str, load: tuple) -> str:
    lines = [
        SECTION,
        "",
        "`.venv/bin/python benchmarks/api_benchmark.py` - gunicorn, 2 sync workers, production "
        f"settings, PostgreSQL; {CLIENTS} keep-alive clients (one process each) per path, "
        f"{SECONDS:g} s per path after a 1 s warm-up, {ROUNDS} round(s); ratio = the path's "
        "rate / `/healthz`'s in the same round (median of the rounds); CPU = the gunicorn "
        "workers' user+system time (and the database backends' where connections persist) per "
        "request. Seed: one investor, 30 open listings, 30 investments (pages of 25; the "
        "wallet lists every entry up to 100).",
        "",
        f"Last run: {started}, {platform.node()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; load average {load[0]:.1f} at the start, {load[1]:.1f} "
        "at the end (other helpers' tests share the CPUs).",
        "",
    ]
    for mode, table in results.items():
        lines += [
            f"Connections: **{mode}** ({', '.join(f'{k}={v}' for k, v in MODE_ENV[mode].items())})",
            "",
            "| path | rows | req/s | ratio to /healthz (rounds) | target | app CPU ms/req "
            "| db CPU ms/req |",
            "|---|---|---|---|---|---|---|",
        ]
        for path in PATHS:
            row = table[path]
            target = TARGETS.get(path)
            verdict = (
                f">= {target:.2f}x {'PASS' if row['ratio'] >= target else 'FAIL'}" if target else ""
            )
            db = f"{row['db_ms']:.2f}" if row["db_ms"] is not None else "n/a"
            rounds = ", ".join(f"{r:.2f}" for r in row["ratios"])
            lines.append(
                f"| `{path}` | {row['rows']} | {row['rate']:.0f} | {row['ratio']:.2f}x "
                f"({rounds}) | {verdict} | {row['app_ms']:.2f} | {db} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_readme(section: str) -> None:
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    start = text.find(SECTION)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("\n" + text[end + 1 :] if end != -1 else "\n")
    README.write_text(text)


def main() -> None:
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = os.getloadavg()[0]
    keep = "--keep-db" in sys.argv  # leave the seeded database (and token) for profiling
    create_database()
    try:
        with tempfile.TemporaryDirectory() as media:
            print("seeding...", flush=True)
            token = seed(media)
            if keep:
                (ROOT / "benchmarks" / ".api-bench-token").write_text(token)
            results = {}
            for mode in MODES:
                print(f"mode {mode}...", flush=True)
                results[mode] = run_mode(mode, token, media)
    finally:
        if not keep:
            drop_database()
    section = report(results, started, (load0, os.getloadavg()[0]))
    print(section)
    if "--no-readme" not in sys.argv:
        write_readme(section)


if __name__ == "__main__":
    main()
