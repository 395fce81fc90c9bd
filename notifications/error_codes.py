"""The error codes of notifications."""

from paymint.core.error_codes import ErrorCode


class NotificationsError(ErrorCode):
    NOTIFICATION_NOT_FOUND = "NOTIFICATION_NOT_FOUND", 404
    DEVICE_NOT_FOUND = "DEVICE_NOT_FOUND", 404
    PREFERENCE_LOCKED = "PREFERENCE_LOCKED", 400
