"""The broker down at publish time (paymint.core.queue): the business change stays committed,
the request does not fail, the task is kept in DeferredTask and published by the sweep once
the broker answers - never lost. The same against a real Redis that is stopped and started:
tests/faults/test_redis_down.py."""

from __future__ import annotations

import kombu.exceptions
import pytest
from django.db import transaction

from paymint.core import tasks as core_tasks
from paymint.core.models import DeferredTask
from paymint.core.queue import deferred_tasks_publish, enqueue, enqueue_on_commit, task_by_name

pytestmark = pytest.mark.django_db

TASK = "paymint.core.tasks.outbox_deliver_task"


class Broker:
    """Stands in for ``delay`` of one task: down (raises kombu's OperationalError) or up
    (records the call)."""

    def __init__(self) -> None:
        self.up = False
        self.sent: list[tuple] = []

    def delay(self, *args, **kwargs):
        if not self.up:
            raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:6379.")
        self.sent.append((args, kwargs))


@pytest.fixture
def broker(monkeypatch):
    fake = Broker()
    monkeypatch.setattr(task_by_name(TASK), "delay", fake.delay)
    return fake


def test_a_task_enqueued_while_the_broker_is_down_runs_once_it_is_back(
    broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        enqueue_on_commit(TASK, 42)  # the commit succeeds, the publish fails
    row = DeferredTask.objects.get()
    assert (row.name, row.args, row.kwargs, row.attempts) == (TASK, [42], {}, 1)
    assert "Error 111" in row.last_error

    assert deferred_tasks_publish() == 0  # still down: kept, one more attempt
    assert DeferredTask.objects.get().attempts == 2

    broker.up = True
    assert core_tasks.deferred_tasks_publish_task() == 1
    assert broker.sent == [((42,), {})]
    assert not DeferredTask.objects.exists()
    assert deferred_tasks_publish() == 0  # published once, not twice
    assert broker.sent == [((42,), {})]


def test_tasks_are_published_in_order_and_a_rolled_back_change_defers_nothing(
    broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            enqueue_on_commit(TASK, 1)
        with transaction.atomic():
            enqueue_on_commit(TASK, 99)
            transaction.set_rollback(True)
    enqueue(TASK, 2, retry=True)
    assert list(DeferredTask.objects.values_list("args", flat=True)) == [[1], [2]]
    broker.up = True
    assert deferred_tasks_publish() == 2
    assert broker.sent == [((1,), {}), ((2,), {"retry": True})]


def test_a_failing_task_is_not_mistaken_for_a_broker_outage(monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("a bug in the task")

    monkeypatch.setattr(task_by_name(TASK), "delay", broken)
    with pytest.raises(ValueError):
        enqueue(TASK, 1)
    assert not DeferredTask.objects.exists()
