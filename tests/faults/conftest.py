"""The fault suite's own services: each fault test starts its own PostgreSQL (``initdb`` into a
temporary folder, another port), Redis and PayMint server processes on 127.0.0.1, stops and
starts them, and stops everything at the end, also when an assertion fails. The services the
rest of the suite uses (PostgreSQL on 5432, Redis on 6379) are never touched.

Marked ``faults`` (and ``slow``): ``make test`` runs them; ``-m "not faults"`` leaves them out.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

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


class FakeSmtpServer:
    """A minimal SMTP server on 127.0.0.1 (the fault suite's mail server): answers EHLO/HELO,
    MAIL, RCPT, DATA, RSET, NOOP and QUIT, and keeps every accepted message's raw text in
    :attr:`messages`. ``stop()`` closes the port (clients get connection refused);
    ``start()`` listens again on the same port, keeping what it received."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[str] = []
        self._server: socketserver.ThreadingTCPServer | None = None

    def start(self) -> FakeSmtpServer:
        received = self.messages

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                def say(line: str) -> None:
                    self.wfile.write(f"{line}\r\n".encode())
                    self.wfile.flush()

                say("220 faults.local ESMTP")
                while line := self.rfile.readline():
                    verb = line.decode(errors="replace").strip().split(" ")[0].upper()
                    if verb == "EHLO":
                        say("250-faults.local")
                        say("250 8BITMIME")
                    elif verb == "DATA":
                        say("354 end with <CR><LF>.<CR><LF>")
                        lines = []
                        while (data := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                            lines.append(data.decode(errors="replace"))
                        received.append("".join(lines))
                        say("250 queued")
                    elif verb == "QUIT":
                        say("221 bye")
                        return
                    elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                        say("250 ok")
                    else:
                        say("502 not implemented")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class HorizonHttpServer:
    """Horizon's HTTP API on 127.0.0.1 in front of a local ledger (the in-process network of
    :mod:`devtools.stellar_local`, answered by its SDK client :class:`LocalHorizonClient`), so
    that Horizon can really be stopped: ``stop()`` closes the port, ``start()`` listens again
    on the same one. The ledger lives on in between (the network does not stop when the
    Horizon node in front of it does)."""

    def __init__(self, ledger) -> None:
        # Imported here: the fault suite's other tests need no Stellar stand-in.
        from devtools.stellar_local import LocalHorizonClient

        self.client = LocalHorizonClient(ledger)
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None
        # hold_submissions: a submission is applied, then its answer held back until
        # ``release`` is set (``submitted`` says one arrived) - the window in which a worker
        # that sent it can be killed before it learns the outcome.
        self.hold_submissions = False
        self.submitted = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HorizonHttpServer:
        horizon = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                return

            def _answer(self, response) -> None:
                data = response.text.encode()
                self.send_response(response.status_code)
                self.send_header("Content-Type", response.headers["Content-Type"])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self._answer(horizon.client.get(f"{horizon.url}{self.path}"))

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
                response = horizon.client.post(f"{horizon.url}{self.path}", data=form)
                if horizon.hold_submissions:
                    horizon.submitted.set()
                    horizon.release.wait(timeout=120)
                with contextlib.suppress(OSError):  # the client may be gone (killed)
                    self._answer(response)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtpServer]:
    server = FakeSmtpServer().start()
    try:
        yield server
    finally:
        server.stop()
