"""Enqueue Celery tasks by name, after the current transaction commits.

Services never import task modules: a task module imports the service it runs, so a service
importing its task would close a cycle (and a lower layer importing a higher layer's task would
break the layering, see ``docs/architecture.md``). A service names the task instead::

    enqueue_on_commit("invoices.tasks.invoice_extract_task", invoice.pk)

The name is the task's registered name (its module path and function name, as in
``CELERY_BEAT_SCHEDULE``). The task is looked up in the Celery app's registry, so eager mode
(``CELERY_TASK_ALWAYS_EAGER``: tests, the demo) runs it in-process like ``.delay()`` does, and
a test that replaces a task's ``delay`` sees the call.

**Broker down.** A task is published after the business change committed, so a broker outage
must not lose it nor fail the request that committed: when publishing raises kombu's
``OperationalError`` (Redis refused or timed out), the task is written to
:class:`~paymint.core.models.DeferredTask` and :func:`deferred_tasks_publish` (beat, every
minute) publishes it once the broker answers again. Tasks are idempotent (the project's rule),
so "at least once" is the guarantee.
"""

from __future__ import annotations

import functools
import logging

import kombu.exceptions
from celery import current_app
from django.db import DatabaseError, transaction

from .models import DeferredTask

logger = logging.getLogger(__name__)


class UnknownTask(LookupError):
    """No task is registered under that name (a typo, or an app's ``tasks`` module is gone)."""


def task_by_name(name: str):
    """The registered Celery task ``name``. The first lookup of a task whose module has not
    been imported yet imports every app's ``tasks`` module (Celery's autodiscovery, which a
    worker runs at start).

    Raises:
        UnknownTask: no task has that name.
    """
    tasks = current_app.tasks
    if name not in tasks:
        current_app.loader.import_default_modules()
    try:
        return tasks[name]
    except KeyError:
        raise UnknownTask(f"No Celery task is registered as {name!r}.") from None


def enqueue_on_commit(name: str, *args, **kwargs) -> None:
    """``task.delay(*args, **kwargs)`` for the task registered as ``name``, once the current
    transaction commits (at once outside a transaction); nothing is sent when it rolls back.

    The name is checked now, so a wrong name fails the service that uses it, not a callback."""
    task = task_by_name(name)
    # A partial, not a lambda: tests (and a debugger) can read which task a callback publishes.
    transaction.on_commit(functools.partial(publish, task, args, kwargs))


def enqueue(name: str, *args, **kwargs) -> None:
    """``task.delay(*args, **kwargs)`` now, for callers outside any transaction (commands)."""
    publish(task_by_name(name), args, kwargs)


def publish(task, args, kwargs) -> bool:
    """``task.delay(*args, **kwargs)``; when the broker is down, the task is written to the
    deferred tasks instead (published later by :func:`deferred_tasks_publish`). Returns whether
    it was published now. A failure of the task itself (eager mode) is not caught."""
    try:
        task.delay(*args, **kwargs)
        return True
    except kombu.exceptions.OperationalError as exc:
        logger.warning("broker down: task %s deferred", task.name, extra={"error": str(exc)})
        try:
            DeferredTask.objects.create(name=task.name, args=list(args), kwargs=kwargs,
                                        attempts=1, last_error=str(exc)[:300])
        except DatabaseError:
            logger.exception("broker and database down: task %s%r lost", task.name, args)
            raise exc from None
        return False


def deferred_tasks_publish(*, limit: int = 500) -> int:
    """Publish the deferred tasks, oldest first (the beat sweep's body); returns how many were
    published. Rows are locked (``SKIP LOCKED``: two sweeps never publish one row twice at
    once) and deleted once published; while the broker is still down the first failure stops
    the sweep and counts an attempt."""
    published = 0
    with transaction.atomic():
        rows = list(DeferredTask.objects.select_for_update(skip_locked=True).order_by("id")
                    [:limit])
        for row in rows:
            try:
                task_by_name(row.name).delay(*row.args, **row.kwargs)
            except kombu.exceptions.OperationalError as exc:
                DeferredTask.objects.filter(pk=row.pk).update(
                    attempts=row.attempts + 1, last_error=str(exc)[:300])
                break
            row.delete()
            published += 1
    return published
