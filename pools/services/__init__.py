"""Writes of passive investing: auto-invest rules and their runs (:mod:`.auto_invest`)."""

from .auto_invest import AUTO_INVEST_KEY, auto_invest_listing, auto_invest_rule_set

__all__ = ["AUTO_INVEST_KEY", "auto_invest_listing", "auto_invest_rule_set"]
