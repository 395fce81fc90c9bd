"""SIGTERM to gunicorn while a money request is in flight: the request finishes (graceful
timeout), the client gets its answer, the movement is whole, and the server then exits.

The request is held in the middle deterministically: another transaction holds the bank
event's unique key, so the webhook's INSERT waits on it; SIGTERM is sent while it waits, and
the other transaction is rolled back only then."""

from __future__ import annotations

import json
import signal
import threading
import time

import psycopg
import pytest
from django.db import connection

from settlements.webhooks import sign
from tests.faults.conftest import Server, load_schema, manage, server_env, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.django_db]

SECRET = "whsec_faults"


def test_sigterm_during_a_deposit_lets_it_finish_whole(local_postgres, tmp_path):
    s = connection.settings_dict
    source = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    url = load_schema(source, local_postgres)
    env = server_env(url, REDIS_URL="", MEDIA_ROOT=str(tmp_path), BANK_WEBHOOK_SECRET=SECRET)
    reference = manage(
        "shell",
        "-c",
        "from accounts.services import user_register; print(user_register("
        "email='graceful@example.com', password='Correct-Horse-Battery-9', "
        "role='INVESTOR').deposit_reference)",
        env=env,
    ).stdout.split()[-1]
    event = {
        "id": "evt_graceful_1",
        "type": "deposit.received",
        "created": int(time.time()),
        "data": {"reference": reference, "amount": "250.00", "currency": "EUR"},
    }
    raw = json.dumps(event).encode()

    server = Server(env)
    blocker = psycopg.connect(url)
    answer: dict = {}
    try:
        blocker.execute(
            "INSERT INTO settlements_bankevent (created_at, updated_at, event_id, event_type,"
            " reference, amount, currency, payload, status, error_code) VALUES (now(), now(),"
            " %s, 'deposit.received', %s, 1, 'EUR', '{}', 'APPLIED', '')",
            [event["id"], reference],
        )

        def post() -> None:
            answer["status"], answer["body"], _ = server.request(
                "POST",
                "/api/v1/webhooks/bank",
                json.loads(raw),
                {"X-PayMint-Signature": sign(raw, SECRET, int(time.time()))},
            )

        client = threading.Thread(target=post)
        client.start()
        with psycopg.connect(url, autocommit=True) as watcher:
            wait_until(
                lambda: (
                    watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE 'INSERT INTO \"settlements_bankevent\"%%'"
                    ).fetchone()[0]
                    == 1
                ),
                timeout=30,
                what="the webhook waiting in its transaction",
            )
        server.process.send_signal(signal.SIGTERM)  # the request is mid-transaction
        time.sleep(1)
        assert server.process.poll() is None  # still finishing the request in flight
        blocker.rollback()
        client.join(timeout=30)
        assert answer["status"] == 200, answer
        assert server.process.wait(timeout=30) == 0  # then it stopped, cleanly
    finally:
        blocker.close()
        server.stop()
    rows = local_postgres.psql(
        "SELECT e.kind, count(p.id), sum(p.amount) FROM settlements_journalentry e"
        " JOIN settlements_posting p ON p.entry_id = e.id GROUP BY e.kind",
        db="paymint",
    )
    assert rows.split() == ["DEPOSIT|2|0.0000000"]
    assert (
        local_postgres.psql("SELECT count(*) FROM settlements_bankevent", db="paymint").strip()
        == "1"
    )
    assert '"ok": true' in manage("verify_books", "--json", env=env).stdout
