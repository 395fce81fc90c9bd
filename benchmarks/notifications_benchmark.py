"""Notification latency with many open event streams, on PostgreSQL and a real Redis.

    .venv/bin/python benchmarks/notifications_benchmark.py [--streams 200] [--events 60]

Creates a scratch database (``paymint_bench_notify``; ``BENCH_DB`` / ``BENCH_SERVER``
override), migrates it, starts uvicorn (``paymint.asgi``) in a second process on it, opens
``--streams`` SSE connections (``GET /api/v1/events``, one user each, JWT) from an asyncio
client in this process, then emits ``--events`` ``deposit.received`` events one after the
other, each to a random streaming user, the way a service does (inside a transaction).
Celery is eager, so the dispatch runs in this process right after the commit (in production a
worker picks it up: add the queue's latency).

Measures, at p50 and p95:

* commit -> notification rows: from the commit of the change (an ``on_commit`` callback
  registered before the event) to the moment the dispatch's transaction with the
  notification row has committed (the notification is readable by other connections);
* commit -> SSE message at the client: to the moment the client read the ``notification``
  frame off its socket;

and the memory per open stream: the uvicorn process's resident set size with the streams open
minus before, divided by the streams. Drops the database at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH_DB = os.environ.get("BENCH_DB", "paymint_bench_notify")
SERVER = os.environ.get("BENCH_SERVER", "postgres://postgres@127.0.0.1:5432")
os.environ["DATABASE_URL"] = f"{SERVER}/{BENCH_DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paymint.settings.test")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["LIVE_UPDATES_CHANNEL_PREFIX"] = f"paymint-bench-{os.getpid()}"
# Notification emails go through the outbox into memory (no SMTP server here).
os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Streams:
    """``n`` SSE connections on one asyncio loop in a thread; records when each notification
    frame arrives (by the notification's id)."""

    def __init__(self, port: int, tokens: list[str]) -> None:
        self.port, self.tokens = port, tokens
        self.arrivals: dict[str, float] = {}
        self.open = 0
        self.futures = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _one(self, token: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**20)
        writer.write(
            (
                f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                f"Authorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        event = None
        while True:
            line = await reader.readline()
            if not line:
                return
            text = line.decode().rstrip("\r\n")
            if text.startswith("event: "):
                event = text[7:]
                if event == "unread":
                    self.open += 1
            elif text.startswith("data: ") and event == "notification":
                self.arrivals.setdefault(json.loads(text[6:])["id"], time.monotonic())

    def start(self, *, batch: int = 10, timeout: float = 120) -> None:
        """Open the streams ``batch`` at a time (each batch answered before the next: a burst
        of 200 sign-ins at once would open 200 database connections on a shared server)."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        for start in range(0, len(self.tokens), batch):
            for token in self.tokens[start : start + batch]:
                self.futures.append(
                    asyncio.run_coroutine_threadsafe(self._one(token), self.loop)
                )
            target = min(start + batch, len(self.tokens))
            while self.open < target and time.monotonic() < deadline:
                time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--events", type=int, default=60)
    args = parser.parse_args()

    _admin(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{BENCH_DB}"')
    import django

    django.setup()
    import logging

    logging.getLogger("celery").setLevel(logging.WARNING)
    logging.getLogger("kombu").setLevel(logging.ERROR)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections, transaction
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.models import User
    from notifications.models import Notification
    from paymint.core.events import EventName, event_emit

    call_command("migrate", verbosity=0)
    users = User.objects.bulk_create(
        User(
            email=f"stream{i}@example.com",
            username=f"stream{i}@example.com",
            role="INVESTOR",
            deposit_reference=f"BNCH{i:08d}",
        )
        for i in range(args.streams)
    )
    users = list(User.objects.order_by("pk"))
    tokens = [str(RefreshToken.for_user(u).access_token) for u in users]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LIVE_UPDATES_HEARTBEAT_SECONDS": "15"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "paymint.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        import requests

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        time.sleep(1)
        rss_before = _rss_kib(server.pid)
        streams = Streams(port, tokens)
        opened_at = time.monotonic()
        streams.start()
        open_seconds = time.monotonic() - opened_at
        time.sleep(2)
        rss_after = _rss_kib(server.pid)
        import psycopg

        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            held = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (BENCH_DB,)
            ).fetchone()[0]

        rows_ms, sse_ms = [], []
        rng = random.Random(12)
        for n in range(args.events):
            user = rng.choice(users)
            marks: dict[str, float] = {}
            with transaction.atomic():
                transaction.on_commit(lambda m=marks: m.setdefault("commit", time.monotonic()))
                event_emit(
                    name=EventName.DEPOSIT_RECEIVED,
                    key=f"deposit.received:bench:{n}",
                    recipients={user: {"amount": "10.00", "currency": "EUR"}},
                )
            # Eager: the dispatch (its own transaction, committed) ran in the callbacks above.
            marks["rows"] = time.monotonic()
            note = Notification.objects.get(event__key=f"deposit.received:bench:{n}")
            rows_ms.append((marks["rows"] - marks["commit"]) * 1000)
            wait_until = time.monotonic() + 10
            while str(note.public_id) not in streams.arrivals and time.monotonic() < wait_until:
                time.sleep(0.002)
            if str(note.public_id) in streams.arrivals:
                sse_ms.append((streams.arrivals[str(note.public_id)] - marks["commit"]) * 1000)
            time.sleep(0.05)

        print(
            f"streams open: {streams.open}/{args.streams} in {open_seconds:.1f} s "
            f"(opened 10 at a time); database connections on the benchmark database with "
            f"them open: {held} (this process's included)"
        )
        print(f"events: {args.events}, delivered over SSE: {len(sse_ms)}")
        print(
            f"commit -> notification rows: p50 {statistics.median(rows_ms):.1f} ms, "
            f"p95 {_pct(rows_ms, 95):.1f} ms"
        )
        if sse_ms:
            print(
                f"commit -> SSE message at the client: p50 {statistics.median(sse_ms):.1f} ms, "
                f"p95 {_pct(sse_ms, 95):.1f} ms"
            )
        ended = [f for f in streams.futures if f.done()]
        errors = {repr(f.exception()) for f in ended if f.exception() is not None}
        print(f"streams that ended early: {len(ended)} {sorted(errors)[:3]}")
        per_stream = (rss_after - rss_before) / max(streams.open, 1)
        print(
            f"uvicorn RSS: {rss_before / 1024:.1f} MiB before, {rss_after / 1024:.1f} MiB with "
            f"{streams.open} streams: {per_stream:.1f} KiB per open stream"
        )
        print(
            f"(settings: heartbeat {settings.LIVE_UPDATES_HEARTBEAT_SECONDS} s, "
            f"Redis {settings.LIVE_UPDATES_REDIS_URL}, Celery eager)"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:  # streams still open: uvicorn waits for them
            server.kill()
        connections.close_all()
        _admin(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


if __name__ == "__main__":
    main()
