"""Permission checks shared by services."""

from __future__ import annotations

from .errors import PermissionDenied


def is_active_staff(actor) -> bool:
    """True for a signed-in, active operations staff account (anonymous users are not)."""
    return bool(getattr(actor, "is_staff", False) and getattr(actor, "is_active", False))


def require_staff(actor, message: str = "Only operations staff can do this.",
                  code: str = "PERMISSION_DENIED") -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` is active operations staff."""
    if not is_active_staff(actor):
        raise PermissionDenied(message, code=code)
