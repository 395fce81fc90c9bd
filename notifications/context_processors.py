"""The header's bell: the signed-in user's unread count on every page (one query, only when a
template reads it)."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from .selectors import notification_unread_count


def notifications(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"notifications_unread": SimpleLazyObject(lambda: notification_unread_count(user=user))}
