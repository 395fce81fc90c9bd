"""Back office: each user's notifications (read-only: what the user was told)."""

from __future__ import annotations

from django.contrib import admin

from paymint.core.admin import ReadOnlyAdmin

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "recipient", "name", "title", "read_at")
    list_filter = ("name", "category")
    search_fields = ("recipient__email", "title", "event__key")
    list_select_related = ("recipient",)
    raw_id_fields = ("recipient", "event")
    date_hierarchy = "created_at"
