"""Real concurrent clients for the tests that prove locking claims on PostgreSQL."""

from __future__ import annotations

import threading

from django.db import connection


def run_in_threads(count: int, work, *, timeout: float = 60.0) -> list:
    """Run ``work(i)`` in ``count`` real threads released together by a barrier; each thread
    uses (and closes) its own database connection. Returns each call's result or the exception
    it raised; fails if a thread is still running after ``timeout`` (a deadlock or a hang)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "threads still running: deadlock or hang"
    return results
