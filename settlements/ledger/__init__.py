"""The ledger: PayMint's books, the low layer every money movement goes through.

It imports only :mod:`paymint.core` and :mod:`accounts` (an import-linter contract,
``docs/architecture.md``). Modules:

- :mod:`.models` - accounts, balanced journal entries and postings, bank events, withdrawals
  (models of the ``settlements`` app);
- :mod:`.posting` - the posting engine: :func:`~.posting.ledger_post`, accounts by key, the
  lock order and :func:`~.posting.lock_accounts`. Only the ledger and the settlement
  workflows (``settlements.services``) use it (a protected contract): no other app builds
  legs, account keys or locks;
- :mod:`.movements` - the narrow API the marketplace calls (this package's exports);
- :mod:`.selectors` - reads: wallets, an investor's cash flows, the accounts table;
- :mod:`.totals` - the books' totals per day, entry kind and account kind, kept by PostgreSQL
  with the postings (balances by account kind, funded volume) and their compaction.
"""

from .enums import AccountKind, EntryKind
from .movements import (
    CASH_TRANSFER_KINDS,
    FundingAccounts,
    cash_transfer_post,
    disbursement_post,
    funding_accounts,
    funding_accounts_lock,
    funding_cash_balance_sql,
    funding_post,
    investment_refunds_post,
    invoice_escrow_open,
    refund_post,
)
from .posting import (
    IdempotencyConflict,
    InsufficientFunds,
    UnbalancedEntry,
    exact_sum,
    trial_balance,
    unbalanced_entries,
)
from .selectors import (
    account_balances_table,
    cash_account_kind,
    investor_invoice_cashflows,
    investor_invoice_postings,
    wallet_balances,
    wallet_entries,
    wallet_entries_values,
    withdrawal_list_for_user,
)
from .totals import (
    ledger_balances_by_kind,
    ledger_credits_by_month,
    ledger_day_totals_compact,
    ledger_day_totals_differences,
)

__all__ = [
    "CASH_TRANSFER_KINDS",
    "AccountKind",
    "EntryKind",
    "FundingAccounts",
    "IdempotencyConflict",
    "InsufficientFunds",
    "UnbalancedEntry",
    "account_balances_table",
    "cash_account_kind",
    "cash_transfer_post",
    "disbursement_post",
    "exact_sum",
    "funding_accounts",
    "ledger_balances_by_kind",
    "ledger_credits_by_month",
    "ledger_day_totals_compact",
    "ledger_day_totals_differences",
    "funding_accounts_lock",
    "funding_cash_balance_sql",
    "funding_post",
    "investment_refunds_post",
    "invoice_escrow_open",
    "investor_invoice_cashflows",
    "investor_invoice_postings",
    "refund_post",
    "trial_balance",
    "unbalanced_entries",
    "wallet_balances",
    "wallet_entries",
    "wallet_entries_values",
    "withdrawal_list_for_user",
]
