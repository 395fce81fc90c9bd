"""Permission checks shared by services."""

from __future__ import annotations

from .errors import PermissionDenied


def require_staff(actor, message: str = "Only operations staff can do this.",
                  code: str = "PERMISSION_DENIED") -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` is active operations staff."""
    if not (actor.is_staff and actor.is_active):
        raise PermissionDenied(message, code=code)
