"""A Celery worker's process killed -9 in the middle of a settlement: the task is delivered
again (acks_late, reject_on_worker_lost) and ends exactly as an uninterrupted run - one
distribution entry, the settlement COMPLETED once, the books green.

The task is held in the middle deterministically: another transaction holds the settlement's
row lock, so the task waits on it inside its transaction; the process running it is killed
while it waits, and the lock is released only then."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest
from django.db import connection

from tests.faults.conftest import ROOT, load_schema, manage, server_env, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.django_db]

SETUP = """
from accounts.services import staff_user_create
from settlements import tasks
from tests.helpers import STRONG_PASSWORD, make_user
from tests.settlements.test_distribution import funded_and_repaid
staff = staff_user_create(email="ops@example.com", password=STRONG_PASSWORD,
                          roles=("operations", "compliance"))
seller = make_user("SELLER", "seller@example.com", approve_by=staff,
                   kyc={"legal_name": "Bei Spiel GmbH", "country": "DE",
                        "tax_id": "DE136695976"})
investors = [make_user("INVESTOR", f"inv{i}@example.com", approve_by=staff,
                       kyc={"legal_name": f"Investor {i}", "country": "FR",
                            "tax_id": "FR40303265045"}) for i in range(2)]
queued = []
tasks.settlement_execute_task.delay = queued.append
settlement = funded_and_repaid(seller, investors, number=5, queued=queued)
print(settlement.pk)
"""


def waiting_on_lock(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
            "'Lock' AND query LIKE '%%settlements_settlement%%'"
        ).fetchone()[0]


def test_a_worker_killed_mid_settlement_runs_it_again_to_the_same_end(
    local_postgres, local_redis, tmp_path
):
    s = connection.settings_dict
    source = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    url = load_schema(source, local_postgres)
    env = server_env(
        url,
        REDIS_URL="",
        MEDIA_ROOT=str(tmp_path),
        CELERY_BROKER_URL=f"{local_redis.url}/0",
        CELERY_TASK_ALWAYS_EAGER="false",
    )
    setup_env = {**env, "CELERY_TASK_ALWAYS_EAGER": "true"}
    settlement_id = int(manage("shell", "-c", SETUP, env=setup_env).stdout.split()[-1])

    worker = subprocess.Popen(
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
            "settlement,default",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    blocker = psycopg.connect(url)
    try:
        blocker.execute(
            "SELECT 1 FROM settlements_settlement WHERE id = %s FOR UPDATE", [settlement_id]
        )
        manage(
            "shell",
            "-c",
            f"from settlements import tasks; tasks.settlement_execute_task.delay({settlement_id})",
            env=env,
        )
        wait_until(
            lambda: waiting_on_lock(url) == 1,
            timeout=60,
            what="the settlement task waiting on its lock",
        )
        children = subprocess.run(
            ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True
        ).stdout.split()
        assert children, "the worker's pool process"
        subprocess.run(["kill", "-9", *children], check=True)  # mid-task
        blocker.rollback()
        wait_until(
            lambda: (
                local_postgres.psql(
                    f"SELECT status FROM settlements_settlement WHERE id = {settlement_id}",
                    db="paymint",
                ).strip()
                == "COMPLETED"
            ),
            timeout=90,
            what="the settlement re-run",
        )
    finally:
        blocker.close()
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    entries = local_postgres.psql(
        "SELECT count(*) FROM settlements_journalentry WHERE kind = 'SETTLEMENT'", db="paymint"
    )
    assert entries.strip() == "1"
    assert '"ok": true' in manage("verify_books", "--json", env=env).stdout
