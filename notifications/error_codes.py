"""The error codes of notifications."""

from paymint.core.error_codes import ErrorCode


class NotificationsError(ErrorCode):
    NOTIFICATION_NOT_FOUND = "NOTIFICATION_NOT_FOUND", 404
