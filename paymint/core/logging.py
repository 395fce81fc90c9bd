"""Structured logs and the request id that ties them together.

- :data:`request_id_var` holds the id of the request (or of the task started by it) being
  handled; :class:`paymint.core.middleware.RequestIdMiddleware` sets it per request.
- :class:`RequestIdFilter` copies it onto every log record; :class:`JsonFormatter` writes one
  JSON object per line (timestamp, level, logger, message, request_id, extra fields, exception).
- Celery: ``before_task_publish`` puts the current id in the message headers and
  ``task_prerun``/``task_postrun`` restore it around the task, on the worker, so a task's log
  lines carry the id of the request that enqueued it. The handlers are connected when this
  module is imported: the Celery app imports it (``paymint/celery.py``), and Django imports it
  through ``LOGGING``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import uuid

from celery import signals

#: Id of the request (or task) being handled; ``None`` outside of one.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "paymint_request_id", default=None
)

#: Message header carrying the request id to Celery workers.
TASK_HEADER = "paymint_request_id"

#: Incoming ids are accepted only in this shape (they end up in logs and response headers).
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")

# Attributes every LogRecord has; anything else on a record was passed with ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}


def new_request_id() -> str:
    return uuid.uuid4().hex


def clean_request_id(value: str | None) -> str | None:
    """``value`` when it is a safe id (letters, digits, ``._:-``, at most 128), else ``None``."""
    if value and _VALID_REQUEST_ID.match(value):
        return value
    return None


def get_request_id() -> str | None:
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``"-"`` outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields passed with ``extra=`` are kept (non-JSON values are
    written with ``str``)."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        if request_id in (None, "-"):
            request_id = request_id_var.get()
        payload = {
            "timestamp": dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


# --- Celery propagation ----------------------------------------------------------------------


def _header_from(request) -> str | None:
    if request is None:
        return None
    value = getattr(request, TASK_HEADER, None)
    if value is None:
        headers = getattr(request, "headers", None) or {}
        value = headers.get(TASK_HEADER) if isinstance(headers, dict) else None
    return clean_request_id(value)


_task_tokens: dict[str, contextvars.Token] = {}


@signals.before_task_publish.connect(weak=False)
def _add_request_id_header(headers=None, **kwargs) -> None:
    request_id = request_id_var.get()
    if headers is not None and request_id and TASK_HEADER not in headers:
        headers[TASK_HEADER] = request_id


@signals.task_prerun.connect(weak=False)
def _restore_request_id(task_id=None, task=None, **kwargs) -> None:
    request_id = _header_from(getattr(task, "request", None))
    if request_id is None:
        # Eager tasks run inside the caller's context: keep the caller's id. A worker task
        # published without one (beat, another service) gets its own.
        request_id = request_id_var.get() or f"task-{task_id}"
    if task_id:
        _task_tokens[task_id] = request_id_var.set(request_id)


@signals.task_postrun.connect(weak=False)
def _clear_request_id(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        try:
            request_id_var.reset(token)
        except ValueError:  # set in another context (should not happen); just clear it
            request_id_var.set(None)
