"""The error codes of the ledger's posting engine."""

from paymint.core.error_codes import ErrorCode


class LedgerError(ErrorCode):
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS", 409
    UNBALANCED_ENTRY = "UNBALANCED_ENTRY", 500
