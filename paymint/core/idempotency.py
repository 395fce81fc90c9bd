"""``Idempotency-Key`` support for API writes that have no business key of their own.

The first request with a key stores its response; a replay with the same body gets the same
status and body back (with ``Idempotent-Replayed: true``); the same key with another body is
refused with 422 ``IDEMPOTENCY_KEY_REUSED``; a replay while the first is still running gets
409 ``IDEMPOTENCY_REQUEST_IN_PROGRESS``. Server errors are not stored, so they can be retried.
(The semantics of the IETF draft "The Idempotency-Key HTTP Header Field" and of Stripe's API.)
"""

from __future__ import annotations

import hashlib
import json

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from rest_framework.response import Response

from .error_codes import CoreError
from .errors import ApplicationError
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"


class IdempotencyKeyReused(ApplicationError):
    """The same ``Idempotency-Key`` came with a different request (422, everywhere)."""

    code = CoreError.IDEMPOTENCY_KEY_REUSED
    http_status = 422

    def __init__(self, message: str = "This Idempotency-Key was already used with a different "
                 "request.", **kwargs) -> None:
        super().__init__(message, **kwargs)


def idempotent_replay(previous, *, fingerprint: str):
    """The answer to a request whose ``Idempotency-Key`` was already used: ``previous`` (what
    the first request wrote, with its ``request_fingerprint``) when this is the same request.

    Raises:
        IdempotencyKeyReused: the key was used with a different request.
    """
    if previous.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    return previous


class _Replay(Exception):
    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(record.key)
        self.record = record


def request_fingerprint(request) -> str:
    """SHA-256 of the method, path and parsed body (uploaded files by their content)."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    data = request.data
    items = data.lists() if hasattr(data, "lists") else sorted(dict(data).items())
    for name, values in sorted(items, key=lambda kv: kv[0]):
        for value in values if isinstance(values, list) else [values]:
            digest.update(name.encode() + b"=")
            if isinstance(value, UploadedFile):
                for chunk in value.chunks():
                    digest.update(chunk)
                value.seek(0)
            else:
                digest.update(json.dumps(value, sort_keys=True, default=str).encode())
            digest.update(b"\n")
    return digest.hexdigest()


class IdempotentWriteMixin:
    """Mix into an ``APIView`` (before ``APIView`` in the bases): authenticated POST/PATCH
    requests carrying ``Idempotency-Key`` are deduplicated per user and path (a view adds
    methods with ``idempotent_methods``, e.g. ``("PUT", "DELETE")``)."""

    _idempotency_record: IdempotencyRecord | None = None
    idempotent_methods: tuple[str, ...] = ("POST", "PATCH")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency_record = None
        key = request.headers.get(HEADER, "").strip()
        if request.method not in self.idempotent_methods or not key:
            return
        if len(key) > 255:
            raise ApplicationError("Idempotency-Key is too long.",
                                   code=CoreError.INVALID_IDEMPOTENCY_KEY)
        fingerprint = request_fingerprint(request)
        path = request.path[:255]
        try:
            with transaction.atomic():
                self._idempotency_record = IdempotencyRecord.objects.create(
                    user=request.user, key=key, path=path, request_fingerprint=fingerprint)
        except IntegrityError:
            record = IdempotencyRecord.objects.get(user=request.user, key=key, path=path)
            try:
                idempotent_replay(record, fingerprint=fingerprint)
            except IdempotencyKeyReused as exc:
                raise exc from None
            if record.response_status is None:
                raise ApplicationError(
                    "The first request with this Idempotency-Key is still running.",
                    code=CoreError.IDEMPOTENCY_REQUEST_IN_PROGRESS, http_status=409) from None
            raise _Replay(record) from None

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            response = Response(exc.record.response_body, status=exc.record.response_status)
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record, self._idempotency_record = self._idempotency_record, None
        if record is not None:
            if response.status_code >= 500:
                record.delete()
            else:
                record.response_status = response.status_code
                record.response_body = getattr(response, "data", None)
                record.save(update_fields=["response_status", "response_body", "updated_at"])
        return response
