from django.apps import AppConfig

from paymint.core.registries import register_event_handler


class PoolsConfig(AppConfig):
    name = "pools"
    verbose_name = "Passive investing (liquidity pools, auto-invest)"

    def ready(self) -> None:
        # A repayment that reaches a pool pays its queued redemptions at once (after commit);
        # settlements, below pools, emits the event and names no pool.
        register_event_handler("pools.services.pool_repayment_received")
