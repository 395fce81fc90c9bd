from django.apps import AppConfig


class PoolsConfig(AppConfig):
    name = "pools"
    verbose_name = "Passive investing (liquidity pools, auto-invest)"
