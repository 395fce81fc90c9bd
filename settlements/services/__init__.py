"""Writes for the ledger's business events: bank events, withdrawals, distribution of
payments through the waterfall, and collections (overdue, default, recourse, write-off);
and the check of the whole books (:mod:`.books`, ``manage.py verify_books``)."""

from .bank import DuplicateEvent, bank_event_apply
from .books import BooksReport, Finding, books_verify
from .collections import invoice_age
from .distribution import accrue_late_interest, investor_claims, settlement_execute
from .withdrawals import withdrawal_needs_otp, withdrawal_request

__all__ = [
    "BooksReport",
    "DuplicateEvent",
    "Finding",
    "accrue_late_interest",
    "bank_event_apply",
    "books_verify",
    "invoice_age",
    "investor_claims",
    "settlement_execute",
    "withdrawal_needs_otp",
    "withdrawal_request",
]
