"""Error codes: every ``code`` an error answer can carry is a member of an :class:`ErrorCode`
enum - this module's :class:`CoreError` for the codes shared by every app, and one
``error_codes.py`` per app for its own - and each member carries its HTTP status.

``ApplicationError(message, code=InvoicesError.INVOICE_NOT_FOUND)`` answers with the code's
status unless ``http_status`` says otherwise. The API documents the codes of each operation
(``error_codes`` on the API class, rendered by :mod:`paymint.core.schema`), and
``tests/test_error_codes.py`` checks that every code raised is declared here or in an app's
enum and listed on the operations that can raise it.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """A stable UPPER_SNAKE error code (the member's value) and its HTTP status.

    Declare members as ``NAME = "NAME", 409``."""

    http_status: int

    def __new__(cls, value: str, http_status: int = 400):
        member = str.__new__(cls, value)
        member._value_ = value
        member.http_status = http_status
        return member


class CoreError(ErrorCode):
    """Codes every app and the API framework answer with."""

    APPLICATION_ERROR = "APPLICATION_ERROR", 400
    VALIDATION_ERROR = "VALIDATION_ERROR", 400
    MALFORMED_REQUEST = "MALFORMED_REQUEST", 400
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED", 401
    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED", 401
    PERMISSION_DENIED = "PERMISSION_DENIED", 403
    NOT_FOUND = "NOT_FOUND", 404
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED", 405
    CONFLICT = "CONFLICT", 409
    INVALID_STATUS_TRANSITION = "INVALID_STATUS_TRANSITION", 409
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE", 415
    RATE_LIMITED = "RATE_LIMITED", 429
    # Uncaught errors (paymint.core.api.server_error) and outages (paymint.core.outage)
    INTERNAL_ERROR = "INTERNAL_ERROR", 500
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE", 503
    # Idempotency-Key (paymint.core.idempotency)
    INVALID_IDEMPOTENCY_KEY = "INVALID_IDEMPOTENCY_KEY", 400
    IDEMPOTENCY_REQUEST_IN_PROGRESS = "IDEMPOTENCY_REQUEST_IN_PROGRESS", 409
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED", 422
    # Money and uploads (paymint.core.money, paymint.core.uploads)
    INVALID_AMOUNT = "INVALID_AMOUNT", 400
    UNSUPPORTED_CURRENCY = "UNSUPPORTED_CURRENCY", 400
    UPLOAD_QUOTA_EXCEEDED = "UPLOAD_QUOTA_EXCEEDED", 429
    # A staff action that needs a written reason.
    REASON_REQUIRED = "REASON_REQUIRED", 400
