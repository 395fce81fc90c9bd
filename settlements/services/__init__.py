"""Writes for the ledger's business events: bank events, withdrawals, distribution of
payments through the waterfall, collections (overdue, default, recourse, write-off), and
payouts (batches, bank files, bank statements, retries); and the check of the whole books
(:mod:`.books`, ``manage.py verify_books``)."""

from .bank import DuplicateEvent, bank_event_apply
from .bank_statements import StatementOutcome, bank_statement_apply
from .books import BooksReport, Finding, books_verify
from .collections import invoice_age
from .distribution import accrue_late_interest, investor_claims, settlement_execute
from .payouts import (
    PayoutBatchResult,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_export,
    payout_retry,
)
from .suspense import allocation_approve, allocation_propose, allocation_reject, refund_propose
from .withdrawals import withdrawal_needs_otp, withdrawal_request

__all__ = [
    "BooksReport",
    "DuplicateEvent",
    "Finding",
    "PayoutBatchResult",
    "StatementOutcome",
    "accrue_late_interest",
    "allocation_approve",
    "allocation_propose",
    "allocation_reject",
    "bank_event_apply",
    "bank_statement_apply",
    "books_verify",
    "invoice_age",
    "investor_claims",
    "payout_batch_approve",
    "payout_batch_create",
    "payout_batch_export",
    "payout_retry",
    "refund_propose",
    "settlement_execute",
    "withdrawal_needs_otp",
    "withdrawal_request",
]
