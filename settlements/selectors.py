"""Reads for wallets and the ledger."""

from __future__ import annotations

from django.db.models import QuerySet, Sum

from .enums import AccountKind
from .ledger import exact_sum
from .models import LedgerAccount, Posting, Withdrawal

WALLET_KINDS = (AccountKind.INVESTOR_CASH, AccountKind.SELLER_CASH)


def wallet_balances(*, user) -> list[dict]:
    """The user's cash balance per currency: ``[{"currency", "balance"}]`` (one query)."""
    rows = (
        LedgerAccount.objects.filter(owner=user, kind__in=WALLET_KINDS)
        .annotate(balance=Sum("postings__amount"))
        .values("currency", "balance")
        .order_by("currency")
    )
    return [{"currency": r["currency"], "balance": exact_sum(r["balance"])} for r in rows]


def wallet_entries(*, user) -> QuerySet[Posting]:
    """Postings on the user's cash accounts, newest first, with their journal entry."""
    return (
        Posting.objects.filter(account__owner=user, account__kind__in=WALLET_KINDS)
        .select_related("entry", "account")
        .order_by("-entry__created_at", "-id")
    )


def account_balances_table() -> list[dict]:
    """Every account with its derived balance (for the demo and ops), one query."""
    rows = (
        LedgerAccount.objects.annotate(balance=Sum("postings__amount"))
        .select_related("owner", "invoice")
        .order_by("currency", "kind", "id")
    )
    return [
        {"key": a.key, "kind": a.kind, "currency": a.currency,
         "owner": a.owner.email if a.owner else "", "balance": exact_sum(a.balance)}
        for a in rows
    ]


def withdrawal_list_for_user(*, user) -> QuerySet[Withdrawal]:
    """The user's own withdrawals, newest first."""
    return Withdrawal.objects.filter(user=user)
