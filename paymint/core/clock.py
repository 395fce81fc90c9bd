"""The business clock.

Services ask ``clock.today()`` / ``clock.now()`` for the business date (due dates, days past due,
discount-fee days) instead of calling ``timezone.now()`` directly, so that the demo can replay a
historical invoice at its own dates and tests can move time. Audit timestamps (``created_at``)
always use the real time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator

from django.utils import timezone

_state = threading.local()
_global_override: dt.datetime | None = None


def now() -> dt.datetime:
    """Current business time (aware, UTC)."""
    override = getattr(_state, "override", None) or _global_override
    return override if override is not None else timezone.now()


def today() -> dt.date:
    """Current business date in UTC."""
    return now().date()


@contextlib.contextmanager
def frozen_at(moment: dt.datetime | dt.date, *, all_threads: bool = False) -> Iterator[None]:
    """Freeze the business clock at ``moment`` (a date means midnight UTC) inside the block.

    ``all_threads=True`` sets a process-wide override (used by the demo, where eager Celery
    tasks and services run in the same process).
    """
    global _global_override
    if isinstance(moment, dt.date) and not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time(12, 0), tzinfo=dt.UTC)
    previous_local = getattr(_state, "override", None)
    previous_global = _global_override
    if all_threads:
        _global_override = moment
    else:
        _state.override = moment
    try:
        yield
    finally:
        _state.override = previous_local
        _global_override = previous_global
