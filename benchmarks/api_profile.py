"""Where an API read spends its CPU, in-process: application CPU per request and SQL queries of
each path of ``api_benchmark.py``, through the whole middleware stack on production settings.

    .venv/bin/python benchmarks/api_benchmark.py --keep-db --modes pool --seconds 1 --rounds 1
    .venv/bin/python benchmarks/api_profile.py [--requests N] [--profile PATH] [--drop-db]

Uses the database and token ``api_benchmark.py --keep-db`` left (``paymint_bench_api``).
``--profile PATH`` prints the top 25 functions of PATH by cumulative time (cProfile).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.argv_backup = list(sys.argv)
from benchmarks.api_benchmark import (  # noqa: E402
    BENCH_DB,
    PATHS,
    REDIS,
    SERVER,
    arg,
    drop_database,
)

os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "paymint.settings.production",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "BANK_WEBHOOK_SECRET": "whsec_bench",
        "CELERY_BROKER_URL": REDIS,
        "REDIS_URL": REDIS,
        "DATABASE_URL": f"{SERVER}/{BENCH_DB}",
        "LOG_LEVEL": "WARNING",
    }
)


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    token = (ROOT / "benchmarks" / ".api-bench-token").read_text().strip()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    requests = int(arg("--requests", "200"))
    profile_path = arg("--profile", "")
    print("| path | app CPU ms/req (in-process) | queries |")
    print("|---|---|---|")
    for path in PATHS:
        for _ in range(20):  # warm-up: imports, caches, the connection
            assert client.get(path).status_code == 200, path
        queries: list[str] = []

        def record(execute, sql, params, many, context, queries=queries):
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            client.get(path)
        started = time.thread_time()
        for _ in range(requests):
            client.get(path)
        cpu = (time.thread_time() - started) / requests
        print(f"| `{path}` | {cpu * 1000:.2f} | {len(queries)} |")
        if path == profile_path:
            profiler = cProfile.Profile(time.thread_time)
            profiler.enable()
            for _ in range(requests):
                client.get(path)
            profiler.disable()
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(int(arg("--top", "40")))
            stats.sort_stats("tottime").print_stats(int(arg("--top", "40")))
            for query in queries:
                print(query[:400])
    if "--drop-db" in sys.argv:
        connection.close()
        drop_database()


if __name__ == "__main__":
    main()
