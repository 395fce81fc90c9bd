"""Database connections: production pools them (psycopg_pool through Django's
``OPTIONS["pool"]``), a pooled connection is reused across requests and checked before it is
handed out again, and ``/readyz`` reports the pool."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper

from paymint.core import health

SHOW_DATABASE = (
    "import json; from django.conf import settings; "
    "d = settings.DATABASES['default']; "
    "print(json.dumps({'pool': d.get('OPTIONS', {}).get('pool'), "
    "'conn_max_age': d['CONN_MAX_AGE'], 'health_checks': d['CONN_HEALTH_CHECKS']}))"
)


def production_database(overrides: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_POOL", "CONN_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "paymint.settings.production",
            "DJANGO_SECRET_KEY": "x" * 50,
            "BANK_WEBHOOK_SECRET": "whsec_x",
            "FIELD_ENCRYPTION_KEYS": "hGq3C3tH0y7m1xq5Ue2bWkDq8vXz0f0C8nqJx9m2s7A=",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/paymint",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
            "REDIS_URL": "redis://127.0.0.1:6379/1",
            **overrides,
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", SHOW_DATABASE],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_production_pools_connections_by_default():
    pooled = production_database({})
    assert pooled["pool"] == {
        "min_size": 1,
        "max_size": 2,
        "timeout": 10.0,
        "max_idle": 300.0,
        "max_lifetime": 1800.0,
    }
    assert pooled["conn_max_age"] == 0  # Django refuses a pool with persistent connections
    assert pooled["health_checks"] is True

    sized = production_database({"DB_POOL_MAX_SIZE": "8", "DB_POOL_MIN_SIZE": "4"})
    assert (sized["pool"]["min_size"], sized["pool"]["max_size"]) == (4, 8)

    persistent = production_database({"DB_POOL": "false"})
    assert persistent["pool"] is None
    assert persistent["conn_max_age"] == 60  # without the pool: persistent connections
    assert persistent["health_checks"] is True


@pytest.fixture
def pooled_wrapper(db):
    """A second connection to the test database, through a psycopg pool of one connection
    (health checks on), as production's settings make it."""
    settings_dict = {
        **connection.settings_dict,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            **connection.settings_dict["OPTIONS"],
            "pool": {"min_size": 1, "max_size": 1, "timeout": 5},
        },
    }
    wrapper = DatabaseWrapper(settings_dict, alias="pool-test")
    try:
        yield wrapper
    finally:
        wrapper.close()
        wrapper.close_pool()


def backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_pooled_connection_is_reused_and_replaced_when_broken(pooled_wrapper):
    first = backend_pid(pooled_wrapper)
    pooled_wrapper.close()  # end of a request: back to the pool, not closed
    assert pooled_wrapper.connection is None
    assert backend_pid(pooled_wrapper) == first  # the next request reuses it
    pooled_wrapper.close()
    assert pooled_wrapper.pool.get_stats()["pool_available"] == 1

    # PostgreSQL ends that backend (restart, failover, idle timeout): the pool's check finds
    # it dead when it is handed out and opens a new one; the request does not fail.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
    second = backend_pid(pooled_wrapper)
    assert second != first


def test_readyz_database_check_goes_through_the_pool_and_reports_it(pooled_wrapper, monkeypatch):
    monkeypatch.setattr(health, "connections", {"pool-test": pooled_wrapper})
    healthy, results = health.run_checks({"database": health.check_database})
    assert healthy
    pool = results["database"]["pools"]["pool-test"]
    assert (pool["pool_min"], pool["pool_max"], pool["pool_size"]) == (1, 1, 1)
    assert pool["requests_waiting"] == 0


def test_readyz_database_check_fails_when_the_pool_has_no_connection_to_give(
    pooled_wrapper, monkeypatch
):
    backend_pid(pooled_wrapper)  # opens the pool
    pooled_wrapper.close()
    held = pooled_wrapper.pool.getconn()  # the only connection, busy elsewhere
    try:
        pooled_wrapper.pool.timeout = 0.2
        monkeypatch.setattr(health, "connections", {"pool-test": pooled_wrapper})
        healthy, results = health.run_checks({"database": health.check_database})
    finally:
        pooled_wrapper.pool.putconn(held)
    assert not healthy
    assert results["database"]["status"] == "fail"
    assert results["database"]["error"] == "OperationalError"  # PoolTimeout, wrapped
