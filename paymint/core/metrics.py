"""Prometheus metrics, served at ``/metrics`` to a scraper holding ``METRICS_TOKEN``.

Recorded as they happen:

- ``paymint_http_request_duration_seconds{view,method,status}`` - a histogram observed by
  :class:`paymint.core.middleware.MetricsMiddleware`. With several web processes (gunicorn),
  set ``PROMETHEUS_MULTIPROC_DIR`` to a shared empty directory so that every scrape sees
  all of them (prometheus_client's multiprocess mode).
- ``paymint_celery_tasks_total{task,outcome}`` - task outcomes (success, failure, retry) from
  Celery signals on the workers. Workers run in other processes or containers than the web, so
  the counts are kept in Redis (a hash, ``HINCRBY``) when ``REDIS_URL`` is set and read back at
  scrape time; without Redis (embedded demo, eager tests) they are counted in-process.

Computed at scrape time (no coupling with the code that moves money):

- ``paymint_celery_queue_length{queue}`` - ``LLEN`` of each Celery queue on a Redis broker.
- the apps' own metrics, registered with :func:`register_scrape_source` (core names no
  app): ``paymint_money_moved_total{kind,currency}`` and ``paymint_journal_entries_total``
  from the ledger (:mod:`settlements.metrics`, source ``database``).
- ``paymint_metrics_source_up{source}`` - 1 when the broker/a source could be read, else 0.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable

from celery import signals
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .health import redis_client

logger = logging.getLogger(__name__)

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_LATENCY = Histogram(
    "paymint_http_request_duration_seconds",
    "Time to answer an HTTP request, by view, method and status code.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

#: Redis hash holding task outcome counts: field ``"<task>|<outcome>"``.
TASK_OUTCOMES_KEY = "paymint:metrics:task_outcomes"
#: kombu's Redis transport stores priority levels 3, 6, 9 as ``<queue>\x06\x16<level>``.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_LEVELS = (3, 6, 9)

_local_outcomes: Counter[tuple[str, str]] = Counter()
_local_lock = threading.Lock()


def observe_request(*, view: str, method: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(
        view=view, method=method if method in HTTP_METHODS else "OTHER", status=str(status)
    ).observe(seconds)


def _redis(url: str):
    return redis_client(url)


# --- Task outcomes (Celery signals, on the workers) -----------------------------------------


_task_clients: dict[str, object] = {}


def _task_client(url: str):
    """One Redis client per URL for the per-task counter (redis-py pools are thread-safe and
    reset themselves after a fork, so prefork workers may share this)."""
    with _local_lock:
        client = _task_clients.get(url)
        if client is None:
            client = _task_clients[url] = _redis(url)
        return client


def record_task_outcome(task_name: str, outcome: str) -> None:
    """Count one task outcome (in Redis when ``REDIS_URL`` is set, else in-process)."""
    url = getattr(settings, "REDIS_URL", "")
    if url:
        try:
            _task_client(url).hincrby(TASK_OUTCOMES_KEY, f"{task_name}|{outcome}", 1)
            return
        except Exception:  # noqa: BLE001 - a metric must never fail a task
            logger.warning("task outcome not recorded in Redis", exc_info=True)
    with _local_lock:
        _local_outcomes[(task_name, outcome)] += 1


def _task_name(sender) -> str:
    return getattr(sender, "name", None) or str(sender)


@signals.task_success.connect(weak=False)
def _on_task_success(sender=None, **kwargs) -> None:
    record_task_outcome(_task_name(sender), "success")


@signals.task_failure.connect(weak=False)
def _on_task_failure(sender=None, **kwargs) -> None:
    record_task_outcome(_task_name(sender), "failure")


@signals.task_retry.connect(weak=False)
def _on_task_retry(sender=None, **kwargs) -> None:
    record_task_outcome(_task_name(sender), "retry")


def task_outcome_counts() -> dict[tuple[str, str], int]:
    """``{(task, outcome): count}`` from Redis (or in-process without Redis)."""
    url = getattr(settings, "REDIS_URL", "")
    counts: Counter[tuple[str, str]] = Counter()
    with _local_lock:
        counts.update(_local_outcomes)
    if url:
        client = _redis(url)
        try:
            for field, value in client.hgetall(TASK_OUTCOMES_KEY).items():
                task, _, outcome = field.decode().rpartition("|")
                counts[(task, outcome)] += int(value)
        finally:
            client.close()
    return dict(counts)


# --- Scrape-time collector ------------------------------------------------------------------


def celery_queue_names() -> list[str]:
    return list(getattr(settings, "METRICS_CELERY_QUEUES", ["default"]))


def celery_queue_lengths() -> dict[str, int] | None:
    """``{queue: waiting messages}`` on a Redis broker; ``None`` for other brokers."""
    url = settings.CELERY_BROKER_URL or ""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    client = _redis(url)
    try:
        pipe = client.pipeline(transaction=False)
        names = celery_queue_names()
        for name in names:
            pipe.llen(name)
            for level in _PRIORITY_LEVELS:
                pipe.llen(f"{name}{_PRIORITY_SEPARATOR}{level}")
        values = pipe.execute()
    finally:
        client.close()
    per_queue = len(_PRIORITY_LEVELS) + 1
    return {name: sum(values[i * per_queue : (i + 1) * per_queue]) for i, name in enumerate(names)}


#: Scrape-time metrics of the apps: ``(source, families)``, registered by the app that owns the
#: data (``AppConfig.ready``) through :func:`register_scrape_source`, so that core names no app.
_scrape_sources: list[tuple[str, Callable[[], Iterable[Metric]]]] = []


def register_scrape_source(source: str, families: Callable[[], Iterable[Metric]]) -> None:
    """Add ``families()`` (metric families computed at scrape time) to every scrape.

    ``source`` labels ``paymint_metrics_source_up``: 1 when ``families()`` answered, 0 when it
    raised (the scrape goes on without them). Registering a source twice keeps one."""
    if all(name != source or fn is not families for name, fn in _scrape_sources):
        _scrape_sources.append((source, families))


class PayMintCollector:
    """Business and queue metrics computed when Prometheus scrapes."""

    def collect(self):
        up = GaugeMetricFamily(
            "paymint_metrics_source_up",
            "1 when a metrics source could be read during this scrape.",
            labels=["source"],
        )
        queues = GaugeMetricFamily(
            "paymint_celery_queue_length",
            "Messages waiting in each Celery queue (Redis broker).",
            labels=["queue"],
        )
        try:
            lengths = celery_queue_lengths()
        except Exception:  # noqa: BLE001 - report the source as down, keep the scrape going
            logger.warning("celery queue lengths unavailable", exc_info=True)
            up.add_metric(["broker"], 0)
        else:
            if lengths is not None:
                up.add_metric(["broker"], 1)
                for name, length in lengths.items():
                    queues.add_metric([name], length)
        yield queues

        tasks = CounterMetricFamily(
            "paymint_celery_tasks",
            "Celery task outcomes (success, failure, retry).",
            labels=["task", "outcome"],
        )
        try:
            outcomes = task_outcome_counts()
        except Exception:  # noqa: BLE001
            logger.warning("task outcome counts unavailable", exc_info=True)
            up.add_metric(["task_outcomes"], 0)
        else:
            up.add_metric(["task_outcomes"], 1)
            for (task, outcome), count in sorted(outcomes.items()):
                tasks.add_metric([task, outcome], count)
        yield tasks

        for source, families in _scrape_sources:
            try:
                collected = list(families())
            except Exception:  # noqa: BLE001
                logger.warning("%s metrics unavailable", source, exc_info=True)
                up.add_metric([source], 0)
            else:
                up.add_metric([source], 1)
                yield from collected
        yield up


def render_metrics() -> bytes:
    """The exposition text: process/request metrics plus the scrape-time collector."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)
    else:
        base = REGISTRY
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(PayMintCollector())
    return generate_latest(base) + generate_latest(scraped)


def _authorized(request: HttpRequest) -> int | None:
    """``None`` when the bearer token matches ``METRICS_TOKEN``; else the status to answer."""
    expected = getattr(settings, "METRICS_TOKEN", "")
    if not expected:
        return 403  # no token configured: the endpoint is closed
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return 401
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return 403
    return None


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    denied = _authorized(request)
    if denied is not None:
        response = HttpResponse(status=denied)
        if denied == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
