"""Liveness and readiness probes.

``/healthz`` answers as soon as the process can serve a request: no I/O, so a slow database
never gets a healthy web process restarted. ``/readyz`` checks every dependency a request
may need - the database (``SELECT 1``, through the connection pool when there is one, whose
sizes it reports), Redis (``PING`` on ``settings.REDIS_URL``, or on the
cache when the cache is Redis) and the default storage (write, read back, delete a tiny file) -
and answers 503 when any of them fails, so that a load balancer stops sending traffic.

The body names each check with its status and duration; a failure reports the exception's
class only (never connection strings or messages that could leak configuration).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

#: Seconds a Redis check may take before it counts as failed.
REDIS_TIMEOUT_SECONDS = 1.0

OK = "ok"
FAIL = "fail"
SKIPPED = "skipped"


class CheckSkipped(Exception):
    """The dependency is not configured in this environment (e.g. no Redis in the demo)."""


#: psycopg_pool statistics reported by the database check (``ConnectionPool.get_stats``).
POOL_STATS = ("pool_min", "pool_max", "pool_size", "pool_available", "requests_waiting")


def check_database() -> dict | None:
    """``SELECT 1`` on every database; when a database's connections are pooled (``DB_POOL``,
    ``OPTIONS["pool"]``) the query goes through its pool, and the pool's sizes are returned:
    ``{"pools": {alias: {"pool_min", "pool_max", "pool_size", "pool_available",
    "requests_waiting"}}}`` (connections, this process only). A pool that cannot hand out a
    connection within its ``timeout`` raises ``PoolTimeout``: the check fails."""
    pools = {}
    for alias in connections:
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        pool = getattr(connection, "pool", None)
        if pool is not None:
            stats = pool.get_stats()
            pools[alias] = {name: stats.get(name, 0) for name in POOL_STATS}
    return {"pools": pools} if pools else None


def redis_client(url: str):
    return redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
    )


def check_redis() -> None:
    url = getattr(settings, "REDIS_URL", "")
    if url:
        client = redis_client(url)
        try:
            if not client.ping():
                raise ConnectionError("PING did not answer PONG")
        finally:
            client.close()
        return
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if "redis" not in backend.lower():
        raise CheckSkipped
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise ConnectionError("cache round trip failed")
    cache.delete(key)


def check_storage() -> None:
    payload = uuid.uuid4().hex.encode()
    name = default_storage.save(f"readyz/{uuid.uuid4().hex}.txt", ContentFile(payload))
    try:
        with default_storage.open(name, "rb") as handle:
            if handle.read() != payload:
                raise OSError("storage read back different bytes")
    finally:
        default_storage.delete(name)


#: Readiness checks in the order they run: name -> callable raising on failure (it may return
#: a dict of details, added to its result).
READINESS_CHECKS: dict[str, Callable[[], dict | None]] = {
    "database": check_database,
    "redis": check_redis,
    "storage": check_storage,
}


def run_checks(checks: dict[str, Callable[[], dict | None]] | None = None) -> tuple[bool, dict]:
    """Run every check; returns ``(all ok, {name: {"status", "duration_ms"[, "error"]
    [, details...]}})``."""
    results: dict[str, dict] = {}
    healthy = True
    for name, check in (checks or READINESS_CHECKS).items():
        started = time.perf_counter()
        details = None
        try:
            details = check()
        except CheckSkipped:
            status, error = SKIPPED, None
        except Exception as exc:  # noqa: BLE001 - any failure makes the dependency unready
            status, error = FAIL, type(exc).__name__
            healthy = False
        else:
            status, error = OK, None
        result = {"status": status, "duration_ms": round((time.perf_counter() - started) * 1000, 1)}
        if error:
            result["error"] = error
        if details:
            result.update(details)
        results[name] = result
    return healthy, results


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process is up and serving (no I/O)."""
    return JsonResponse({"status": OK})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every dependency answers, 503 otherwise."""
    healthy, results = run_checks()
    return JsonResponse(
        {"status": OK if healthy else FAIL, "checks": results}, status=200 if healthy else 503
    )
