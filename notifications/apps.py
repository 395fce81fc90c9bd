from django.apps import AppConfig

from paymint.core.registries import register_event_handler, register_personal_data_eraser


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Every domain event (paymint.core.events) becomes one notification per recipient.
        register_event_handler("notifications.services.notifications_from_event")
        # Erasing a user's personal data erases their notification texts and push tokens.
        register_personal_data_eraser("notifications.services.notifications_personal_data_erase")
