from django.apps import AppConfig


class SettlementsConfig(AppConfig):
    name = "settlements"
    verbose_name = "Ledger and settlements"

    def ready(self) -> None:
        from . import receivers  # why: receivers import models, loaded only by now

        receivers.connect()
