"""Soak under injected faults (issue #18): PayMint served by gunicorn on its own PostgreSQL and
Redis (the fault suite's throw-away services, tests/faults/conftest.py), a Celery worker, and
a request mix driven by threads for ``--minutes``, with a fault every ``--fault-every`` seconds
in turn: Redis stopped (``--fault-for`` seconds) then started, the Celery worker killed with -9
and restarted, PostgreSQL stopped and started, a gunicorn worker killed with -9.

The mix, per virtual user: sign in once, then read ``me``, the wallet and the marketplace, and
credit a deposit through the signed bank webhook (a money movement: one journal entry). A
deposit that does not get its 200 is retried with the SAME event id until it does (as a bank
would), so every deposit must end up posted exactly once.

At the end it prints, per fault window, requests, errors and the error rate, and checks: the
number of DEPOSIT entries equals the number of distinct acknowledged deposits (nothing lost,
nothing doubled), each investor's balance equals what was deposited for them, and
``manage.py verify_books`` exits 0. Not run in CI (it takes minutes); the figures are in
benchmarks/README.md.

    .venv/bin/python benchmarks/soak.py --minutes 20 --fault-every 180 --users 4
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from settlements.webhooks import sign  # noqa: E402
from tests.faults.conftest import (  # noqa: E402
    LocalPostgres,
    LocalRedis,
    Server,
    manage,
    server_env,
    wait_until,
)

SECRET = "whsec_soak"
PASSWORD = "Correct-Horse-Battery-9"
SEED = """
import json
from accounts.services import user_register
users = [user_register(email=f"soak{i}@example.com", password="{password}", role="INVESTOR")
         for i in range({n})]
print(json.dumps([[u.email, u.deposit_reference] for u in users]))
"""


class Recorder:
    """Every request's (time, operation, status, error code); status 0 is a connection error.
    The error code (the JSON body's ``code``) is kept for 401s, so the report says why."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, str, int, str]] = []
        self.lock = threading.Lock()

    def add(self, op: str, status: int, code: str = "") -> None:
        with self.lock:
            self.rows.append((time.monotonic(), op, status, code if status == 401 else ""))


def call(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=body,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


#: Refresh the access token this long after it was issued: before its 15-minute lifetime
#: (SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]) ends, as a mobile client does. Without it every
#: user's first token expired 900 s after the start - inside the second Redis window of a
#: 180 s fault schedule - and those 401s were counted against Redis (issue #18).
REFRESH_AFTER_SECONDS = 14 * 60


def virtual_user(port, email, reference, stop, rec, acked, rng) -> None:
    token = refresh = None
    issued = 0.0
    while not stop.is_set():
        if token is not None and time.monotonic() - issued > REFRESH_AFTER_SECONDS:
            status, body = call(
                port,
                "POST",
                "/api/v1/auth/token/refresh",
                json.dumps({"refresh": refresh}).encode(),
            )
            rec.add("refresh", status, body.get("code", ""))
            token, refresh = (
                (body.get("access"), body.get("refresh")) if status == 200 else (None, None)
            )
            issued = time.monotonic()
        if token is None:
            status, body = call(
                port,
                "POST",
                "/api/v1/auth/token",
                json.dumps({"email": email, "password": PASSWORD}).encode(),
            )
            rec.add("sign_in", status, body.get("code", ""))
            token, refresh = (
                (body.get("access"), body.get("refresh")) if status == 200 else (None, None)
            )
            issued = time.monotonic()
            if token is None:
                time.sleep(0.5)
                continue
        auth = {"Authorization": f"Bearer {token}"}
        for path in ("/api/v1/me", "/api/v1/wallet", "/api/v1/marketplace"):
            status, body = call(port, "GET", path, headers=auth)
            rec.add("read", status, body.get("code", "") if isinstance(body, dict) else "")
            if status == 401:  # sign in again; no more reads with the refused token
                token = None
                break
        amount = Decimal(rng.randint(1, 500))
        event = {
            "id": f"evt_soak_{uuid.uuid4().hex}",
            "type": "deposit.received",
            "created": int(time.time()),
            "data": {"reference": reference, "amount": f"{amount}.00", "currency": "EUR"},
        }
        raw = json.dumps(event).encode()
        while not stop.is_set():  # the bank retries the same event until it gets a 200
            header = sign(raw, SECRET, int(time.time()))
            status, _ = call(
                port, "POST", "/api/v1/webhooks/bank", raw, {"X-PayMint-Signature": header}
            )
            rec.add("deposit", status)
            if status == 200:
                acked.append((email, event["id"], amount))
                break
            time.sleep(0.5)
        time.sleep(rng.uniform(0.05, 0.3))


class Worker:
    def __init__(self, env: dict) -> None:
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "paymint",
                "worker",
                "-c",
                "1",
                "-Q",
                "default,settlement,risk",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
            ],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def gunicorn_worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--fault-every", type=float, default=180.0)
    parser.add_argument("--fault-for", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=4)
    args = parser.parse_args()

    pg, redis_server = LocalPostgres(), LocalRedis()
    media = tempfile.mkdtemp(prefix="paymint-soak-media-")
    server = worker = None
    try:
        pg.start()
        redis_server.start()
        pg.psql('CREATE DATABASE "paymint"')
        env = server_env(
            pg.url("paymint"),
            CONN_MAX_AGE="600",
            MEDIA_ROOT=media,
            REDIS_URL=f"{redis_server.url}/1",
            THROTTLE_CACHE_URL=f"{redis_server.url}/2",
            # The default cache (access-token denylist) and live updates on this Redis too, as
            # in production: not per-process memory, and never the shared Redis on 6379.
            CACHE_URL=f"{redis_server.url}/3",
            LIVE_UPDATES_REDIS_URL=f"{redis_server.url}/4",
            CELERY_BROKER_URL=f"{redis_server.url}/0",
            CELERY_TASK_ALWAYS_EAGER="false",
            BANK_WEBHOOK_SECRET=SECRET,
        )
        print("migrating the soak database ...", flush=True)
        manage("migrate", "-v", "0", env=env)
        users = json.loads(
            manage(
                "shell",
                "-c",
                SEED.replace("{n}", str(args.users)).replace("{password}", PASSWORD),
                env=env,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        server = Server(env, workers=2)
        worker = Worker(env)
        worker.start()

        stop, rec, acked = threading.Event(), Recorder(), []
        threads = [
            threading.Thread(
                target=virtual_user,
                daemon=True,
                args=(server.port, email, ref, stop, rec, acked, random.Random(i)),
            )
            for i, (email, ref) in enumerate(users)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()

        faults = [
            ("redis stopped", redis_server.stop, redis_server.start),
            ("celery worker killed -9", worker.kill, worker.start),
            ("postgresql stopped", lambda: pg.stop("fast"), pg.start),
            (
                "gunicorn worker killed -9",
                lambda: [
                    os.kill(pid, signal.SIGKILL)
                    for pid in gunicorn_worker_pids(server.process.pid)[:1]
                ],
                lambda: None,
            ),
        ]
        windows: list[tuple[str, float, float]] = []
        end = started + args.minutes * 60
        n = 0
        while time.monotonic() + args.fault_every < end:
            time.sleep(args.fault_every - args.fault_for)
            name, inject, heal = faults[n % len(faults)]
            n += 1
            t0 = time.monotonic()
            print(f"[{t0 - started:7.1f}s] fault: {name}", flush=True)
            inject()
            time.sleep(args.fault_for)
            heal()
            windows.append((name, t0, time.monotonic() + 5))  # +5 s of recovery
        time.sleep(max(0.0, end - time.monotonic()))
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        try:
            wait_until(lambda: server.get("/readyz")[0] == 200, timeout=30, what="ready")
        except TimeoutError:
            print(f"/readyz after the run: {server.get('/readyz')}", flush=True)
        report(rec, windows, started, time.monotonic())

        # Nothing lost, nothing doubled.
        deposits = int(
            pg.psql(
                "SELECT count(*) FROM settlements_journalentry WHERE kind = 'DEPOSIT'", db="paymint"
            )
        )
        distinct = {event_id for _, event_id, _ in acked}
        expected: dict[str, Decimal] = defaultdict(Decimal)
        for email, _, amount in acked:
            expected[email] += amount
        balances = dict(
            line.split("|")
            for line in pg.psql(
                "SELECT u.email, coalesce(sum(p.amount), 0) FROM accounts_user u "
                "JOIN settlements_ledgeraccount a ON a.owner_id = u.id "
                "AND a.kind = 'INVESTOR_CASH' LEFT JOIN settlements_posting p "
                "ON p.account_id = a.id GROUP BY u.email",
                db="paymint",
            ).split()
        )
        mismatched = [e for e, total in expected.items() if Decimal(balances.get(e, 0)) != total]
        books = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "verify_books"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        print(
            f"deposits acknowledged: {len(acked)} (distinct event ids {len(distinct)}); "
            f"DEPOSIT entries: {deposits}; lost or doubled: {deposits - len(distinct)}; "
            f"balances not equal to deposits: {len(mismatched)}"
        )
        print(books.stdout.strip().splitlines()[-1] if books.stdout else books.stderr[-500:])
        print(f"verify_books exit status: {books.returncode}")
        ok = deposits == len(distinct) == len(acked) and not mismatched and not books.returncode
        print("SOAK OK" if ok else "SOAK FAILED")
        return 0 if ok else 1
    finally:
        if worker:
            worker.stop()
        if server:
            server.stop()
        redis_server.stop()
        pg.cleanup()
        shutil.rmtree(media, ignore_errors=True)


def report(rec: Recorder, windows, started: float, ended: float) -> None:
    def label(t: float) -> str:
        for name, t0, t1 in windows:
            if t0 <= t <= t1:
                return name
        return "no fault"

    totals: dict[str, Counter] = defaultdict(Counter)
    for t, _, status, code in rec.rows:
        bucket = totals[label(t)]
        bucket["requests"] += 1
        bucket["errors"] += status == 0 or status >= 500
        bucket[f"status {status}{f' {code}' if code else ''}"] += 1
    print(
        f"\n{len(rec.rows)} requests in {ended - started:.0f} s "
        f"({len(rec.rows) / (ended - started):.1f}/s)"
    )
    print(f"{'window':28} {'requests':>9} {'errors':>7} {'error rate':>10}  statuses")
    for name, counts in sorted(totals.items()):
        statuses = ", ".join(
            f"{k[7:]}: {v}" for k, v in sorted(counts.items()) if k.startswith("status ")
        )
        rate = counts["errors"] / counts["requests"] if counts["requests"] else 0
        print(f"{name:28} {counts['requests']:9d} {counts['errors']:7d} {rate:10.1%}  {statuses}")


if __name__ == "__main__":
    raise SystemExit(main())
