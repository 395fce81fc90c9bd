"""/metrics: bearer token, request latency, task outcomes, queue lengths, money moved."""

from __future__ import annotations

import redis
from prometheus_client.parser import text_string_to_metric_families

from paymint.core.metrics import TASK_OUTCOMES_KEY, record_task_outcome
from tests.helpers import deposit

TOKEN = "scrape-token-0123456789"
BROKER_URL = "redis://127.0.0.1:6379/12"


def scrape(client) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_metrics_needs_the_bearer_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 403  # closed while no token is configured
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic abc").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403


def test_request_latency_histogram_by_view_and_status(client, settings, db):
    settings.METRICS_TOKEN = TOKEN
    before = scrape(client).get("paymint_http_request_duration_seconds_count", {})
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page")
    after = scrape(client)["paymint_http_request_duration_seconds_count"]
    ok = (("method", "GET"), ("status", "200"), ("view", "healthz"))
    missing = (("method", "GET"), ("status", "404"), ("view", "<unresolved>"))
    assert after[ok] - before.get(ok, 0) == 2
    assert after[missing] - before.get(missing, 0) == 1


def test_task_outcomes_are_counted_in_redis_across_processes(client, settings, db, monkeypatch):
    from collections import Counter

    from paymint.core import metrics

    monkeypatch.setattr(metrics, "_local_outcomes", Counter())  # eager tasks of other tests
    settings.METRICS_TOKEN = TOKEN
    settings.REDIS_URL = BROKER_URL
    connection = redis.Redis.from_url(BROKER_URL)
    connection.delete(TASK_OUTCOMES_KEY)
    # Another process (a worker) recorded these: they are read back from Redis at scrape time.
    connection.hincrby(TASK_OUTCOMES_KEY, "invoices.tasks.invoice_extract_task|failure", 2)
    record_task_outcome("invoices.tasks.invoice_extract_task", "success")
    samples = scrape(client)["paymint_celery_tasks_total"]
    key = (("outcome", "failure"), ("task", "invoices.tasks.invoice_extract_task"))
    assert samples[key] == 2
    assert samples[(("outcome", "success"), ("task", "invoices.tasks.invoice_extract_task"))] == 1
    connection.delete(TASK_OUTCOMES_KEY)


def test_celery_signals_count_outcomes_of_real_tasks(client, settings, db):
    """Eager tasks send task_success/task_failure like worker tasks do."""
    from celery import shared_task

    settings.METRICS_TOKEN = TOKEN
    settings.REDIS_URL = ""

    @shared_task(name="tests.ops.metrics_probe")
    def probe(fail: bool):
        if fail:
            raise ValueError("boom")
        return "ok"

    probe.apply(args=(False,))
    probe.apply(args=(True,), throw=False)
    samples = scrape(client)["paymint_celery_tasks_total"]
    assert samples[(("outcome", "success"), ("task", "tests.ops.metrics_probe"))] >= 1
    assert samples[(("outcome", "failure"), ("task", "tests.ops.metrics_probe"))] >= 1


def test_queue_lengths_read_from_the_redis_broker(client, settings, db):
    settings.METRICS_TOKEN = TOKEN
    settings.CELERY_BROKER_URL = BROKER_URL
    connection = redis.Redis.from_url(BROKER_URL)
    queues = ["extraction", "risk", "settlement", "default"]
    connection.delete(*queues, "risk\x06\x163")
    connection.rpush("extraction", "m1", "m2", "m3")
    connection.rpush("risk", "m1")
    connection.rpush("risk\x06\x163", "m2")  # a priority-3 message on the risk queue
    try:
        samples = scrape(client)
    finally:
        connection.delete(*queues, "risk\x06\x163")
    lengths = {dict(k)["queue"]: v for k, v in samples["paymint_celery_queue_length"].items()}
    assert lengths == {"extraction": 3, "risk": 2, "settlement": 0, "default": 0}
    assert samples["paymint_metrics_source_up"][(("source", "broker"),)] == 1


def test_broker_down_is_reported_not_raised(client, settings, db):
    from tests.ops.test_health import closed_port

    settings.METRICS_TOKEN = TOKEN
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    samples = scrape(client)
    assert samples["paymint_metrics_source_up"][(("source", "broker"),)] == 0
    assert samples["paymint_metrics_source_up"][(("source", "database"),)] == 1


def test_money_moved_is_computed_from_the_ledger(client, settings, make_investor):
    settings.METRICS_TOKEN = TOKEN
    investor = make_investor()
    deposit(investor, "1500.00")
    deposit(investor, "250.50")
    deposit(investor, "99", currency="USD")
    samples = scrape(client)
    moved = samples["paymint_money_moved_total"]
    assert moved[(("currency", "EUR"), ("kind", "DEPOSIT"))] == 1750.5
    assert moved[(("currency", "USD"), ("kind", "DEPOSIT"))] == 99
    entries = samples["paymint_journal_entries_total"]
    assert entries[(("currency", "EUR"), ("kind", "DEPOSIT"))] == 2
