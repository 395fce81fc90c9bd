"""Writes for the ledger's business events: bank events, withdrawals, distribution of
payments through the waterfall, and collections (overdue, default, recourse, write-off)."""

from .bank import DuplicateEvent, bank_event_apply
from .collections import invoice_age
from .distribution import accrue_late_interest, investor_claims, settlement_execute
from .withdrawals import withdrawal_needs_otp, withdrawal_request

__all__ = [
    "DuplicateEvent",
    "accrue_late_interest",
    "bank_event_apply",
    "invoice_age",
    "investor_claims",
    "settlement_execute",
    "withdrawal_needs_otp",
    "withdrawal_request",
]
