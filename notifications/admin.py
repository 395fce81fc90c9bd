"""Back office: each user's notifications with their delivery status (sent, failed with the
reason), push devices and preferences. Read-only: what the user was told and how."""

from __future__ import annotations

from django.contrib import admin

from paymint.core.admin import ReadOnlyAdmin, ReadOnlyInline

from .models import Notification, NotificationDelivery, NotificationPreference, PushDevice


class DeliveryInline(ReadOnlyInline):
    model = NotificationDelivery
    fields = ("channel", "target", "status", "attempts", "last_error", "sent_at", "message")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "recipient", "name", "title", "read_at")
    list_filter = ("name", "category")
    search_fields = ("recipient__email", "title", "event__key")
    list_select_related = ("recipient",)
    raw_id_fields = ("recipient", "event")
    date_hierarchy = "created_at"
    inlines = [DeliveryInline]


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "recipient",
        "event_name",
        "channel",
        "status",
        "attempts",
        "last_error",
    )
    list_filter = ("status", "channel")
    search_fields = ("notification__recipient__email", "last_error")
    list_select_related = ("notification__recipient",)

    @admin.display(description="recipient")
    def recipient(self, obj) -> str:
        return obj.notification.recipient.email

    @admin.display(description="event")
    def event_name(self, obj) -> str:
        return obj.notification.name


@admin.register(PushDevice)
class PushDeviceAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "platform", "disabled_at", "disabled_reason")
    list_filter = ("platform",)
    search_fields = ("user__email",)
    exclude = ("token",)

    def get_readonly_fields(self, request, obj=None):
        return [f for f in super().get_readonly_fields(request, obj) if f != "token"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyAdmin):
    list_display = ("user", "category", "channel", "enabled")
    list_filter = ("category", "channel", "enabled")
    search_fields = ("user__email",)
