"""The fault suite's own services: each fault test starts its own PostgreSQL (``initdb`` into a
temporary folder, another port), Redis and PayMint server processes on 127.0.0.1, stops and
starts them, and stops everything at the end, also when an assertion fails. The services the
rest of the suite uses (PostgreSQL on 5432, Redis on 6379) are never touched.

Marked ``faults`` (and ``slow``): ``make test`` runs them; ``-m "not faults"`` leaves them out.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, *, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class LocalPostgres:
    """A throw-away PostgreSQL cluster on its own port (trust authentication, no fsync)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="paymint-faults-pg-"))
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        subprocess.run(
            _as_postgres_user(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def url(self, name: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        subprocess.run(
            _as_postgres_user(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.dir / "log"),
                    "-w",
                    "-o",
                    f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c max_connections=30",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            _as_postgres_user(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]
            ),
            capture_output=True,
            timeout=60,
        )

    def psql(self, sql: str, db: str = "postgres") -> str:
        return subprocess.run(
            ["psql", self.url(db), "-XAtq", "-c", sql],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class LocalRedis:
    """A throw-away Redis on its own port, no persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: socket.create_connection(("127.0.0.1", self.port), 0.2).close() or True,
            what="redis",
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def local_postgres() -> Iterator[LocalPostgres]:
    pg = LocalPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.cleanup()


@pytest.fixture
def local_redis() -> Iterator[LocalRedis]:
    server = LocalRedis()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def load_schema(source_url: str, pg: LocalPostgres, name: str = "paymint") -> str:
    """Create database ``name`` in ``pg`` with the schema of ``source_url`` (the migrated test
    database: tables, constraints, triggers, the migrations table); returns its URL."""
    pg.psql(f'CREATE DATABASE "{name}"')
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", source_url],
        check=True,
        capture_output=True,
        timeout=120,
    ).stdout
    subprocess.run(
        ["psql", pg.url(name), "-Xq", "-v", "ON_ERROR_STOP=1"],
        input=dump,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return pg.url(name)


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    """``manage.py *args`` in a subprocess; fails with the command's own error output."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {args[0]} failed:\n{result.stderr[-3000:]}"
    return result


class Server:
    """PayMint under gunicorn (one sync worker) with the given environment."""

    def __init__(self, env: dict, *, workers: int = 1) -> None:
        self.port = free_port()
        self.env = env
        # A file, not a pipe: a pipe nobody reads fills up and blocks gunicorn's master.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "paymint.wsgi",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "10",
                "--timeout",
                "60",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        wait_until(lambda: self.get("/healthz")[0] == 200, timeout=60, what="gunicorn")

    def request(
        self, method: str, path: str, body: dict | None = None, headers: dict | None = None
    ) -> tuple[int, dict, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                status, raw, head = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            status, raw, head = exc.code, exc.read(), dict(exc.headers)
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = {"_html": raw.decode(errors="replace")[:500]}
        return status, payload, head

    def get(self, path: str) -> tuple[int, dict, dict]:
        return self.request("GET", path)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def server_env(database_url: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "paymint.settings.test",
            "DATABASE_URL": database_url,
            "PYTHONDONTWRITEBYTECODE": "1",
            **extra,
        }
    )
    return env
