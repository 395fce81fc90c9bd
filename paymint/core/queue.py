"""Enqueue Celery tasks by name, after the current transaction commits.

Services never import task modules: a task module imports the service it runs, so a service
importing its task would close a cycle (and a lower layer importing a higher layer's task would
break the layering, see ``docs/architecture.md``). A service names the task instead::

    enqueue_on_commit("invoices.tasks.invoice_extract_task", invoice.pk)

The name is the task's registered name (its module path and function name, as in
``CELERY_BEAT_SCHEDULE``). The task is looked up in the Celery app's registry, so eager mode
(``CELERY_TASK_ALWAYS_EAGER``: tests, the demo) runs it in-process like ``.delay()`` does, and
a test that replaces a task's ``delay`` sees the call.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction


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
    transaction.on_commit(lambda: task.delay(*args, **kwargs))


def enqueue(name: str, *args, **kwargs) -> None:
    """``task.delay(*args, **kwargs)`` now, for callers outside any transaction (commands)."""
    task_by_name(name).delay(*args, **kwargs)
