"""Reads of the ledger: wallets (a user's cash), an investor's cash flows per invoice,
the accounts table, withdrawals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import F, QuerySet, Sum

from paymint.core.prepared import PreparedValues

from .enums import AccountKind
from .models import LedgerAccount, Posting, Withdrawal
from .posting import exact_sum

WALLET_KINDS = (AccountKind.INVESTOR_CASH, AccountKind.SELLER_CASH)


def cash_account_kind(user) -> AccountKind:
    """The kind of ``user``'s cash account: investors hold ``INVESTOR_CASH``, everyone else
    (sellers) ``SELLER_CASH``. The one place this rule lives."""
    return AccountKind.INVESTOR_CASH if user.is_investor else AccountKind.SELLER_CASH


def wallet_balances(*, user) -> list[dict]:
    """The user's cash balance per currency: ``[{"currency", "balance"}]`` (one query)."""
    rows = PreparedValues(  # compiled once per process: the wallet's API asks on every read
        "ledger.wallet_balances", LedgerAccount,
        lambda owner_id: (LedgerAccount.objects.filter(owner_id=owner_id, kind__in=WALLET_KINDS)
                          .annotate(balance=Sum("postings__amount"))
                          .values("currency", "balance")
                          .order_by("currency")),
        {"owner_id": user.pk})
    return [{"currency": r["currency"], "balance": exact_sum(r["balance"])} for r in rows]


def wallet_entries(*, user) -> QuerySet[Posting]:
    """Postings on the user's cash accounts, newest first, with their journal entry
    (``user``: the user or its id)."""
    return (
        Posting.objects.filter(account__owner=user, account__kind__in=WALLET_KINDS)
        .select_related("entry", "account")
        .order_by("-entry__created_at", "-id")
    )


def wallet_entries_values(*, user, fields: tuple[str, ...], limit: int):
    """The newest ``limit`` rows of :func:`wallet_entries` as ``.values(*fields)``, compiled
    once per process (:class:`~paymint.core.prepared.PreparedValues`; the same statement and
    rows as the queryset)."""
    return PreparedValues(
        f"ledger.wallet_entries:{','.join(fields)}", Posting,
        lambda owner_id: wallet_entries(user=owner_id).values(*fields),
        {"owner_id": user.pk})[:limit]


def account_balances_table() -> list[dict]:
    """Every account with its derived balance (for the demo and ops), one query."""
    rows = (
        LedgerAccount.objects.annotate(balance=Sum("postings__amount"))
        .select_related("owner", "invoice")
        .order_by("currency", "kind", "id")
    )
    return [
        {
            "key": a.key,
            "kind": a.kind,
            "currency": a.currency,
            "owner": a.owner.email if a.owner else "",
            "balance": exact_sum(a.balance),
        }
        for a in rows
    ]


def withdrawal_list_for_user(*, user) -> QuerySet[Withdrawal]:
    """The user's own withdrawals, newest first."""
    return Withdrawal.objects.filter(user=user)


def investor_invoice_postings(*, investor_id: int, invoice_id: int) -> QuerySet[Posting]:
    """The postings on the investor's cash accounts that belong to one invoice (funding,
    distributions, refunds), oldest first, with their journal entry."""
    return (
        Posting.objects.filter(
            account__owner_id=investor_id,
            account__kind=AccountKind.INVESTOR_CASH,
            entry__invoice_id=invoice_id,
        )
        .select_related("entry")
        .order_by("entry__created_at", "leg")
    )


def investor_invoice_cashflows(*, investor) -> dict[str, list[tuple[dt.date, Decimal]]]:
    """Realised investment cash flows per currency: every posting on the investor's cash
    accounts that belongs to an invoice (funding out, repayments and refunds in), summed per
    effective day, oldest first (one query)."""
    rows = (
        Posting.objects.filter(
            account__owner=investor,
            account__kind=AccountKind.INVESTOR_CASH,
            entry__invoice__isnull=False,
        )
        .values("currency", day=F("entry__effective_date"))
        .annotate(total=Sum("amount"))
        .order_by("currency", "day")
    )
    flows: dict[str, list[tuple[dt.date, Decimal]]] = {}
    for row in rows:
        flows.setdefault(row["currency"], []).append((row["day"], row["total"]))
    return flows
