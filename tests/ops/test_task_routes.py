"""Every Celery task lands on a queue that a worker in ``docker-compose.yml`` consumes, by the
``CELERY_TASK_ROUTES`` setting alone (the per-task ``queue`` attribute is deprecated in
Celery 5 and ignored by routers in 6)."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from paymint.celery import app


def _compose_queues() -> set[str]:
    compose = (Path(settings.BASE_DIR) / "docker-compose.yml").read_text()
    queues = set()
    for match in re.finditer(r"celery -A paymint worker -Q (\S+)", compose):
        queues.update(match.group(1).split(","))
    return queues


def test_every_task_is_routed_to_a_queue_a_worker_consumes():
    app.loader.import_default_modules()
    ours = sorted(
        name
        for name in app.tasks
        if name.split(".")[0] in {"accounts", "invoices", "marketplace", "settlements",
                                  "compliance", "notifications", "paymint"}
    )
    assert len(ours) >= 10, ours
    consumed = _compose_queues()
    assert {"extraction", "risk", "settlement", "default"} <= consumed
    routed = {name: app.amqp.router.route({}, name, (), {})["queue"].name for name in ours}
    assert {name: q for name, q in routed.items() if q not in consumed} == {}
    # Money and chain tasks run on the settlement worker (concurrency 1 in compose).
    assert routed["settlements.stellar.tasks.chain_submit_task"] == "settlement"
    assert all(q == "settlement" for n, q in routed.items() if n.startswith("settlements."))


def test_no_task_sets_the_deprecated_queue_attribute():
    app.loader.import_default_modules()
    for name, task in app.tasks.items():
        if name.split(".")[0] in {"accounts", "invoices", "marketplace", "settlements",
                                  "compliance", "notifications", "paymint"}:
            assert "queue" not in type(task).__dict__, name
