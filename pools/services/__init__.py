"""Writes of passive investing: auto-invest rules and their runs (:mod:`.auto_invest`), the
liquidity pools (:mod:`.pool`)."""

from .auto_invest import AUTO_INVEST_KEY, auto_invest_listing, auto_invest_rule_set
from .pool import (
    pool_allocation_pause,
    pool_create,
    pool_deposit,
    pool_nav_snapshot,
    pool_redemptions_pay,
    pool_repayment_received,
    pool_settings_update,
    redemption_cancel,
    redemption_request,
)

__all__ = [
    "AUTO_INVEST_KEY",
    "auto_invest_listing",
    "auto_invest_rule_set",
    "pool_allocation_pause",
    "pool_create",
    "pool_deposit",
    "pool_nav_snapshot",
    "pool_redemptions_pay",
    "pool_repayment_received",
    "pool_settings_update",
    "redemption_cancel",
    "redemption_request",
]
