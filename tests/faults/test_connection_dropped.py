"""The database connection of a running server dropped (``pg_terminate_backend``: what a
failover, a proxy or an operator does), PostgreSQL itself staying up:

* an idle persistent connection dropped between two requests: the next request gets a new
  connection and succeeds (``CONN_HEALTH_CHECKS``);
* the connection dropped in the middle of a deposit (the bank event and the journal entry
  written, the postings waiting to be): the client gets 503 ``SERVICE_UNAVAILABLE`` in JSON
  with ``Retry-After``, PostgreSQL rolled the transaction back - no bank event, no entry -,
  and the bank's retry of the same event is posted once; the books are green.

The deposit is held in the middle deterministically: another session holds ``settlements_posting``
in EXCLUSIVE mode, so the request's INSERT of the postings waits; its backend is terminated
while it waits.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest
from django.db import connection

from settlements.webhooks import sign
from tests.faults.conftest import Server, load_schema, manage, server_env, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.django_db]

SECRET = "whsec_faults_dropped"  # noqa: S105 - the test's webhook secret
EMAIL = "faults-dropped@example.com"
PASSWORD = "Correct-Horse-Battery-9"
SEED = f"""
from accounts.services import user_register
user = user_register(email="{EMAIL}", password="{PASSWORD}", role="INVESTOR")
print(user.deposit_reference)
"""


def app_backends(url: str, *, waiting: bool = False) -> list[int]:
    """The server's sessions on the test database (not this test's own); ``waiting``: only
    those waiting for a lock on the postings."""
    with psycopg.connect(url, autocommit=True) as conn:
        sql = (
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        if waiting:
            sql += " AND wait_event_type = 'Lock' AND query LIKE '%%settlements_posting%%'"
        return [pid for (pid,) in conn.execute(sql).fetchall()]


def terminate(url: str, pids: list[int]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", [pid])


def deposit_event(reference: str, event_id: str, amount: str) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "deposit.received",
            "created": int(time.time()),
            "data": {"reference": reference, "amount": amount, "currency": "EUR"},
        }
    ).encode()


def post_webhook(server: Server, raw: bytes) -> tuple[int, dict, dict]:
    """The signed webhook, sent as the bank sends it (the body exactly as signed)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/api/v1/webhooks/bank",
        data=raw,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-PayMint-Signature": sign(raw, SECRET, int(time.time())),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def test_a_connection_dropped_idle_or_mid_deposit(local_postgres, tmp_path):
    s = connection.settings_dict
    source = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    url = load_schema(source, local_postgres)
    env = server_env(
        url,
        CONN_MAX_AGE="600",
        REDIS_URL="",
        MEDIA_ROOT=str(tmp_path),
        BANK_WEBHOOK_SECRET=SECRET,
    )
    reference = manage("shell", "-c", SEED, env=env).stdout.split()[-1]
    count = (
        "SELECT (SELECT count(*) FROM settlements_bankevent) || '|' || "
        "(SELECT count(*) FROM settlements_journalentry WHERE kind = 'DEPOSIT')"
    )
    server = Server(env)
    try:
        sign_in = {"email": EMAIL, "password": PASSWORD}
        assert server.request("POST", "/api/v1/auth/token", sign_in)[0] == 200
        assert post_webhook(server, deposit_event(reference, "evt_dropped_1", "100.00"))[0] == 200

        # 1. The idle persistent connection dropped between requests.
        idle = app_backends(url)
        assert idle, "the server keeps its connection (CONN_MAX_AGE)"
        terminate(url, idle)
        status, body, _ = server.request("POST", "/api/v1/auth/token", sign_in)
        assert status == 200 and "access" in body, body

        # 2. Dropped mid-deposit: the postings' INSERT waits on the table lock, then its
        #    backend is terminated.
        raw = deposit_event(reference, "evt_dropped_2", "250.00")
        blocker = psycopg.connect(url)
        try:
            blocker.execute("LOCK TABLE settlements_posting IN EXCLUSIVE MODE")
            answer: list = []
            request = threading.Thread(target=lambda: answer.append(post_webhook(server, raw)))
            request.start()
            wait_until(
                lambda: len(app_backends(url, waiting=True)) == 1,
                timeout=60,
                what="the deposit waiting to write its postings",
            )
            terminate(url, app_backends(url, waiting=True))
            request.join(timeout=60)
        finally:
            blocker.close()
        ((status, body, headers),) = answer
        assert status == 503, body
        assert body["code"] == "SERVICE_UNAVAILABLE" and body["dependency"] == "database"
        assert headers["Retry-After"] == "5"
        # Nothing half-written: the bank event and the entry went with the transaction.
        assert local_postgres.psql(count, db="paymint").strip() == "1|1"

        # The bank retries the same event: posted once.
        assert post_webhook(server, raw)[0] == 200
        status, body, _ = post_webhook(server, raw)  # once more: a replay, nothing new
        assert (status, body["code"]) == (409, "DUPLICATE_EVENT")
    finally:
        server.stop()
    assert local_postgres.psql(count, db="paymint").strip() == "2|2"
    balance = local_postgres.psql(
        "SELECT sum(p.amount) FROM settlements_posting p JOIN settlements_ledgeraccount a "
        "ON a.id = p.account_id WHERE a.kind = 'INVESTOR_CASH'",
        db="paymint",
    )
    assert balance.strip() == "350.0000000"
    assert '"ok": true' in manage("verify_books", "--json", env=env).stdout
