from django.apps import AppConfig


class SettlementsConfig(AppConfig):
    name = "settlements"
    verbose_name = "Ledger and settlements"
