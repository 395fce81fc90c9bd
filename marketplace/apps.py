from django.apps import AppConfig

from paymint.core.tallies import tally_register


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        from .models import INVESTMENT_TOTALS  # why: models load only once apps are ready

        tally_register(INVESTMENT_TOTALS)
