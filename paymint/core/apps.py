from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "paymint.core"
    label = "core"
    verbose_name = "Core"
