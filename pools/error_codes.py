"""The error codes of passive investing: auto-invest rules, the liquidity pools."""

from paymint.core.error_codes import ErrorCode


class PoolsError(ErrorCode):
    # Auto-invest rules
    AUTO_INVEST_RULE_NOT_FOUND = "AUTO_INVEST_RULE_NOT_FOUND", 404
    INVALID_AUTO_INVEST_RULE = "INVALID_AUTO_INVEST_RULE", 400
