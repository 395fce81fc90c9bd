"""The ledger's choices: account kinds, journal entry kinds, bank events, withdrawals."""

from django.db import models


class AccountKind(models.TextChoices):
    """Kinds of ledger accounts. Balances are ``sum(postings.amount)``; a positive balance on a
    cash account is money PayMint owes its owner. ``PLATFORM_BANK_CLEARING`` mirrors the
    platform's bank account and is the only kind that runs negative (money that came in from the
    outside world)."""

    INVESTOR_CASH = "INVESTOR_CASH", "Investor cash"
    SELLER_CASH = "SELLER_CASH", "Seller cash"
    INVOICE_ESCROW = "INVOICE_ESCROW", "Invoice escrow"
    PLATFORM_FEE_REVENUE = "PLATFORM_FEE_REVENUE", "Platform fee revenue"
    PLATFORM_BANK_CLEARING = "PLATFORM_BANK_CLEARING", "Platform bank clearing"
    WITHDRAWAL_HOLD = "WITHDRAWAL_HOLD", "Withdrawal on hold"
    SELLER_RECEIVABLE = "SELLER_RECEIVABLE", "Owed by seller (recourse)"
    SUSPENSE = "SUSPENSE", "Unmatched credits (suspense)"


#: Account kinds allowed to go below zero.
MAY_GO_NEGATIVE = frozenset({AccountKind.PLATFORM_BANK_CLEARING, AccountKind.SELLER_RECEIVABLE})


class EntryKind(models.TextChoices):
    DEPOSIT = "DEPOSIT", "Deposit"
    FUNDING = "FUNDING", "Funding"
    DISBURSEMENT = "DISBURSEMENT", "Disbursement"
    REPAYMENT = "REPAYMENT", "Repayment received"
    SETTLEMENT = "SETTLEMENT", "Settlement"
    RECOURSE = "RECOURSE", "Recourse on seller"
    REFUND = "REFUND", "Refund"
    WITHDRAWAL_HOLD = "WITHDRAWAL_HOLD", "Withdrawal requested"
    WITHDRAWAL_PAID = "WITHDRAWAL_PAID", "Withdrawal paid"
    WITHDRAWAL_RELEASE = "WITHDRAWAL_RELEASE", "Withdrawal failed, hold released"
    WITHDRAWAL_RETURNED = "WITHDRAWAL_RETURNED", "Payout returned by the bank after payment"
    SUSPENSE_IN = "SUSPENSE_IN", "Unmatched credit held in suspense"
    SUSPENSE_RELEASE = "SUSPENSE_RELEASE", "Suspense allocated (four eyes)"
    SUSPENSE_REFUND = "SUSPENSE_REFUND", "Suspense refunded to the sender"
    POOL_SUBSCRIPTION = "POOL_SUBSCRIPTION", "Pool shares bought"
    POOL_REDEMPTION = "POOL_REDEMPTION", "Pool shares redeemed"


class BankEventType(models.TextChoices):
    DEPOSIT_RECEIVED = "deposit.received", "Deposit received"
    REPAYMENT_RECEIVED = "repayment.received", "Repayment received"
    WITHDRAWAL_PAID = "withdrawal.paid", "Withdrawal paid out"
    WITHDRAWAL_FAILED = "withdrawal.failed", "Withdrawal failed"
    WITHDRAWAL_RETURNED = "withdrawal.returned", "Payout returned by the bank"


class BankEventStatus(models.TextChoices):
    """A stored bank event was applied, or - a deposit or repayment whose reference matched
    no one - credited to the suspense account (``UNMATCHED``) until finance allocates it
    (``ALLOCATED``). Other refused events are answered with their error and not stored, so
    that the bank's retry is applied once it can be. A suspense credit finance refunds to
    its sender is ``REFUNDED`` (back to ``UNMATCHED`` if the refund payout fails)."""

    APPLIED = "APPLIED", "Applied"
    UNMATCHED = "UNMATCHED", "Reference matched no one: in suspense"
    ALLOCATED = "ALLOCATED", "Was in suspense, allocated by finance"
    REFUNDED = "REFUNDED", "Was in suspense, refunded to the sender"


class WithdrawalStatus(models.TextChoices):
    REQUESTED = "REQUESTED", "Requested, amount on hold"
    PAID = "PAID", "Paid out"
    FAILED = "FAILED", "Failed, amount released"
    RETURNED = "RETURNED", "Returned by the bank after payment, back in the wallet"


#: A failed withdrawal goes back to ``REQUESTED`` when ops retry its payout (after the user
#: fixed their bank details): the amount is held again, in a new entry. A paid one the bank
#: returns later (an R-transaction: ``withdrawal.returned``, a camt.054 return) is
#: ``RETURNED``, its amount back in the wallet, and may be retried the same way.
WITHDRAWAL_TRANSITIONS: dict[str, frozenset[str]] = {
    WithdrawalStatus.REQUESTED: frozenset({WithdrawalStatus.PAID, WithdrawalStatus.FAILED}),
    WithdrawalStatus.PAID: frozenset({WithdrawalStatus.RETURNED}),
    WithdrawalStatus.FAILED: frozenset({WithdrawalStatus.REQUESTED}),
    WithdrawalStatus.RETURNED: frozenset({WithdrawalStatus.REQUESTED}),
}
