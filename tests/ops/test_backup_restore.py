"""The restore drill: books built by the real services (funded, disbursed, repaid, settled)
are dumped with scripts/backup.sh, restored with scripts/restore.sh into a new database, and
verify_books is green there; the restored database still enforces the ledger's triggers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from paymint.core import clock
from settlements import tasks
from tests.helpers import MUSTANG_DUE
from tests.settlements.test_distribution import funded_and_repaid

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def database_url(name: str | None = None) -> str:
    s = connection.settings_dict
    user = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{user}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name or s['NAME']}"


def run(*args, url: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PYTHON": sys.executable,
        "DJANGO_SETTINGS_MODULE": "paymint.settings.test",
    }
    return subprocess.run(
        [str(a) for a in args], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT
    )


def drop(name: str) -> None:
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def restored_name():
    name = f"{connection.settings_dict['NAME']}_restored"
    drop(name)
    yield name
    drop(name)


@pytest.fixture
def settled_books(seller, make_investor, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(tasks.settlement_execute_task, "delay", queued.append)
    settlement = funded_and_repaid(
        seller, [make_investor(), make_investor()], number=11, queued=queued
    )
    with clock.frozen_at(MUSTANG_DUE):
        tasks.settlement_execute_task(settlement.pk)


def counts(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as conn:
        return tuple(
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "settlements_journalentry",
                "settlements_posting",
                "marketplace_investment",
                "settlements_settlement",
            )
        )


def test_backup_restore_into_a_new_database_and_verify_books_green(
    settled_books, restored_name, tmp_path
):
    dump = tmp_path / "paymint.dump"
    backup = run(ROOT / "scripts/backup.sh", dump, url=database_url())
    assert backup.returncode == 0, backup.stderr
    assert dump.stat().st_size > 0 and f"wrote {dump}" in backup.stdout

    target = database_url(restored_name)
    restore = run(ROOT / "scripts/restore.sh", dump, target, url=database_url())
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert "Books OK." in restore.stdout
    assert counts(target) == counts(database_url())
    assert counts(target)[1] >= 10

    # The restored database enforces the books too: its triggers came with the dump.
    with psycopg.connect(target) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM settlements_posting")

    # A restore never overwrites a database: the same target again is refused.
    again = run(ROOT / "scripts/restore.sh", dump, target, url=database_url())
    assert again.returncode == 2 and "already exists" in again.stderr


def test_restore_reports_broken_books_with_a_non_zero_exit(settled_books, restored_name, tmp_path):
    """A dump of broken books restores, and verify_books says so (exit 1)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE marketplace_listing SET funded_amount = funded_amount - 1")
    dump = tmp_path / "broken.dump"
    assert run(ROOT / "scripts/backup.sh", dump, url=database_url()).returncode == 0
    restore = run(
        ROOT / "scripts/restore.sh", dump, database_url(restored_name), url=database_url()
    )
    assert restore.returncode == 1
    assert "DIFFERENCE listing_funded" in restore.stdout
