"""Redis stopped and started (its own instance): sign-in keeps working (rate limits fail open),
/readyz names Redis, and a task enqueued while the broker is down is deferred, then published
once Redis is back - exactly one message, nothing lost."""

from __future__ import annotations

import pytest
import redis
from django.db import connection, transaction

from paymint.celery import app as celery_app
from paymint.core.models import DeferredTask
from paymint.core.queue import deferred_tasks_publish, enqueue_on_commit
from tests.faults.conftest import Server, load_schema, manage, server_env

pytestmark = [pytest.mark.faults, pytest.mark.slow]

EMAIL = "faults-redis@example.com"
PASSWORD = "Correct-Horse-Battery-9"


@pytest.mark.django_db
def test_redis_stopped_under_a_running_server_fails_open_and_readyz_says_so(
    local_postgres, local_redis, tmp_path
):
    s = connection.settings_dict
    source = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    env = server_env(
        load_schema(source, local_postgres),
        REDIS_URL=f"{local_redis.url}/0",
        THROTTLE_CACHE_URL=f"{local_redis.url}/11",
        MEDIA_ROOT=str(tmp_path),
    )
    manage(
        "shell",
        "-c",
        "from accounts.services import user_register; "
        f"user_register(email='{EMAIL}', password='{PASSWORD}', role='INVESTOR')",
        env=env,
    )
    server = Server(env)
    try:
        sign_in = {"email": EMAIL, "password": PASSWORD}
        assert server.request("POST", "/api/v1/auth/token", sign_in)[0] == 200
        assert server.get("/readyz")[0] == 200

        local_redis.stop()
        status, body, _ = server.request("POST", "/api/v1/auth/token", sign_in)
        assert status == 200 and "access" in body  # the rate limit failed open
        status, ready, _ = server.get("/readyz")
        assert status == 503 and ready["checks"]["redis"]["status"] == "fail"
        assert ready["checks"]["database"]["status"] == "ok"

        local_redis.start()
        assert server.get("/readyz")[0] == 200
    finally:
        server.stop()


@pytest.fixture
def real_broker(local_redis, monkeypatch):
    """The Celery app publishing to the local Redis (not eager) for this test only."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(celery_app.conf, "broker_url", f"{local_redis.url}/0")
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)
    yield local_redis
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()


@pytest.mark.django_db
def test_a_task_enqueued_while_the_broker_is_down_is_published_once_it_is_back(
    real_broker, django_capture_on_commit_callbacks
):
    queue = redis.Redis.from_url(f"{real_broker.url}/0")
    real_broker.stop()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        enqueue_on_commit("paymint.core.tasks.outbox_deliver_task", 7)
    assert DeferredTask.objects.count() == 1  # the commit stood, the task was kept

    real_broker.start()
    assert deferred_tasks_publish() == 1
    assert not DeferredTask.objects.exists()
    assert queue.llen("default") == 1  # exactly one message on the task's queue
    assert deferred_tasks_publish() == 0
    assert queue.llen("default") == 1
