from django.apps import AppConfig

from paymint.core.metrics import register_scrape_source


class SettlementsConfig(AppConfig):
    name = "settlements"
    verbose_name = "Ledger and settlements"

    def ready(self) -> None:
        from .metrics import ledger_metric_families  # why: reads models (loaded only by now)

        register_scrape_source("database", ledger_metric_families)
