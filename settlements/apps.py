from django.apps import AppConfig

from paymint.core.tallies import tally_register


class SettlementsConfig(AppConfig):
    name = "settlements"
    verbose_name = "Ledger and settlements"

    def ready(self) -> None:
        from . import receivers  # why: receivers import models, loaded only by now

        receivers.connect()
        from .ledger.totals import LEDGER_DAY_TOTALS  # why: imports models

        tally_register(LEDGER_DAY_TOTALS)
