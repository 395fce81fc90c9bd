"""Typed application errors.

Every error the domain raises carries a stable machine ``code`` (never reworded), a human
``message`` and optional per-field messages. The API exception handler renders them as
``{"code", "message", "fields"}`` with ``http_status``; dashboards show ``message``.
"""

from __future__ import annotations

from .error_codes import CoreError, ErrorCode


class ApplicationError(Exception):
    """Base class of all domain errors.

    Attributes:
        code: stable UPPER_SNAKE identifier clients may switch on, a member of an
            :class:`~paymint.core.error_codes.ErrorCode` enum (:mod:`paymint.core.error_codes`,
            each app's ``error_codes.py``).
        message: human-readable explanation, safe to show to the user.
        fields: optional ``{field_name: [message, ...]}``.
        http_status: the 4xx status the API answers with: ``http_status`` if given, else the
            code's own, else the class's.
        extra: further top-level members of the API error body, for the few errors that
            hand the client something to continue with (e.g. ``mfa_token`` with
            ``OTP_REQUIRED``); never personal data.
    """

    code = CoreError.APPLICATION_ERROR
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        http_status: int | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if http_status:
            self.http_status = http_status
        elif isinstance(code, ErrorCode):
            self.http_status = code.http_status
        self.fields = fields or {}
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    code = CoreError.VALIDATION_ERROR
    http_status = 400


class PermissionDenied(ApplicationError):
    code = CoreError.PERMISSION_DENIED
    http_status = 403


class NotFound(ApplicationError):
    code = CoreError.NOT_FOUND
    http_status = 404


class Conflict(ApplicationError):
    """The request is valid but conflicts with the current state (e.g. an illegal transition)."""

    code = CoreError.CONFLICT
    http_status = 409


class InvalidTransition(Conflict):
    code = CoreError.INVALID_STATUS_TRANSITION
