"""Permission checks shared by services."""

from __future__ import annotations

from .error_codes import CoreError, ErrorCode
from .errors import PermissionDenied


def is_active_staff(actor) -> bool:
    """True for a signed-in, active operations staff account (anonymous users are not)."""
    return bool(getattr(actor, "is_staff", False) and getattr(actor, "is_active", False))


def require_staff(actor, message: str = "Only operations staff can do this.",
                  code: ErrorCode = CoreError.PERMISSION_DENIED, *,
                  permission: str = "") -> None:
    """Raise :class:`PermissionDenied` (``code``) unless ``actor`` is active operations staff
    and, when ``permission`` (``"app_label.codename"``) is given, holds it - through a
    back-office role (:mod:`accounts.roles`) or as the break-glass superuser. Services check
    it themselves, so that no entry point (admin, API, shell tooling) can skip the role."""
    if not is_active_staff(actor):
        raise PermissionDenied(message, code=code)
    if permission and not actor.has_perm(permission):
        raise PermissionDenied(f"{message} Your back-office role does not include "
                               f"{permission}.", code=code)
