"""Structured JSON logs and the request id, through requests and Celery tasks."""

from __future__ import annotations

import io
import json
import logging
import time

import kombu.pools
import pytest
from celery.contrib.testing.worker import start_worker

from paymint.celery import app
from paymint.core.logging import (
    TASK_HEADER,
    JsonFormatter,
    RequestIdFilter,
    get_request_id,
    request_id_var,
)

BROKER_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def json_log():
    """Capture the root logger's output through the project's filter + JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_settings_wire_the_json_formatter_and_filter(settings):
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["request_id"]
    assert settings.LOGGING["formatters"]["json"]["()"] == "paymint.core.logging.JsonFormatter"
    assert settings.MIDDLEWARE[0] == "paymint.core.middleware.RequestIdMiddleware"


def test_json_formatter_writes_one_object_per_line_with_extras(json_log):
    token = request_id_var.set("req-123")
    try:
        logging.getLogger("paymint.test").warning(
            "paid %s", "INV-1", extra={"invoice_id": 7, "amount": object()}
        )
        try:
            raise ValueError("bad")
        except ValueError:
            logging.getLogger("paymint.test").exception("failed")
    finally:
        request_id_var.reset(token)
    first, second = json_log()
    assert first["message"] == "paid INV-1"
    assert first["level"] == "WARNING"
    assert first["logger"] == "paymint.test"
    assert first["request_id"] == "req-123"
    assert first["invoice_id"] == 7
    assert first["timestamp"].endswith("Z")
    assert isinstance(first["amount"], str)  # non-JSON values are written with str()
    assert "ValueError: bad" in second["exception"]


def test_request_id_is_taken_from_the_header_and_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="edge-7f3a:01")
    assert response["X-Request-ID"] == "edge-7f3a:01"


@pytest.mark.parametrize("incoming", [None, "", "bad id with spaces", "x" * 200, "a\nb"])
def test_request_id_is_generated_when_missing_or_unsafe(client, incoming):
    headers = {} if incoming is None else {"HTTP_X_REQUEST_ID": incoming}
    response = client.get("/healthz", **headers)
    generated = response["X-Request-ID"]
    assert generated != incoming and len(generated) == 32
    assert client.get("/healthz")["X-Request-ID"] != generated


@pytest.mark.django_db
def test_request_id_is_in_log_lines_written_during_and_after_the_view(client, json_log):
    client.get("/no-such-page", HTTP_X_REQUEST_ID="trace-404")
    lines = [line for line in json_log() if line["logger"] == "django.request"]
    assert lines and lines[0]["request_id"] == "trace-404"
    assert lines[0]["message"] == "Not Found: /no-such-page"
    assert get_request_id() is None  # cleared once the request is finished


def test_eager_task_keeps_the_callers_request_id():
    @app.task(name="tests.ops.eager_echo")
    def echo():
        return get_request_id()

    token = request_id_var.set("req-eager")
    try:
        # .result, not .get(): an eager result needs no wait, and .get() refuses to run when an
        # earlier test left Celery's task stack non-empty.
        assert echo.apply().result == "req-eager"
        assert get_request_id() == "req-eager"
    finally:
        request_id_var.reset(token)


@app.task(name="tests.ops.worker_echo_request_id")
def worker_echo_request_id():
    logging.getLogger("tests.ops").info("in the task")
    return get_request_id()


def _reset_connections():
    app._local.__dict__.pop("backend", None)
    app._pool = None
    app.amqp._producer_pool = None
    kombu.pools.reset()


@pytest.fixture
def redis_worker():
    previous = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    _reset_connections()
    app.conf.update(broker_url=BROKER_URL, result_backend=BROKER_URL, task_always_eager=False)
    app.control.purge()
    with start_worker(
        app, pool="solo", perform_ping_check=False, queues=["default"], shutdown_timeout=10
    ):
        yield app
    _reset_connections()
    app.conf.update(previous)
    app.set_current()
    app.set_default()


def test_request_id_travels_to_a_real_worker_through_redis(redis_worker):
    published = {}

    from celery import signals

    def capture(headers=None, **kwargs):
        published.update(headers or {})

    signals.before_task_publish.connect(capture, weak=False)
    token = request_id_var.set("req-from-web")
    try:
        result = worker_echo_request_id.delay()
    finally:
        request_id_var.reset(token)
        signals.before_task_publish.disconnect(capture)
    assert published[TASK_HEADER] == "req-from-web"
    assert result.get(timeout=20) == "req-from-web"

    # Published outside a request (beat): the task gets an id of its own.
    deadline = time.monotonic() + 20
    result = worker_echo_request_id.delay()
    own = result.get(timeout=max(1, deadline - time.monotonic()))
    assert own.startswith("task-")
