"""A dependency is down: which one, and the answer a client gets (503 and ``Retry-After``).

:func:`dependency_down` names the dependency an exception says is unreachable - the database
(``django.db.OperationalError``/``InterfaceError``: connection refused or lost, the server
shutting down; also its transient refusals such as a deadlock or a serialization failure,
which a retry clears too), the cache or rate-limit store (Redis connection or timeout errors),
the Celery broker (kombu's ``OperationalError``) or the file storage (botocore connection and
timeout errors) - following ``__cause__``/``__context__``, as the exception may be wrapped.

The API's exception handler and ``handler500`` (:mod:`paymint.core.api`) answer such a failure
with 503, code ``SERVICE_UNAVAILABLE`` and ``Retry-After: SERVICE_UNAVAILABLE_RETRY_AFTER``
seconds (default 5): JSON under ``/api/``, the ``503.html`` page elsewhere. Every other
uncaught error is a 500 (``INTERNAL_ERROR`` under ``/api/``, ``500.html`` elsewhere).
"""

from __future__ import annotations

import botocore.exceptions
import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError

#: Exception classes that mean "this dependency cannot be reached now", by dependency name.
DEPENDENCY_ERRORS: dict[str, tuple[type[BaseException], ...]] = {
    "database": (DatabaseOperationalError, DatabaseInterfaceError),
    "cache": (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError),
    "broker": (kombu.exceptions.OperationalError,),
    "storage": (botocore.exceptions.ConnectionError, botocore.exceptions.ReadTimeoutError),
}


def dependency_down(exc: BaseException | None) -> str | None:
    """The name of the dependency ``exc`` (or an exception it was raised from or during) says
    is unreachable: ``"database"``, ``"cache"``, ``"broker"``, ``"storage"``; ``None`` for any
    other error."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        for name, classes in DEPENDENCY_ERRORS.items():
            if isinstance(exc, classes):
                return name
        exc = exc.__cause__ or exc.__context__
    return None


def retry_after_seconds() -> int:
    """Seconds a client should wait before retrying a 503 (``Retry-After``)."""
    return int(getattr(settings, "SERVICE_UNAVAILABLE_RETRY_AFTER", 5))
