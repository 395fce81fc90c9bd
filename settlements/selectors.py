"""Reads of settlements for the people they concern, and of a wallet's entries.

A settlement is one payment on an invoice distributed through the waterfall. Its seller sees
the whole payment with what came back to them (reserve, and what cleared a recourse debt); an
investor sees the payment and only their own share (the sum of their investments' payouts).
Another user's settlement answers exactly like a missing one (404).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q, QuerySet

from marketplace.models import Investment
from paymint.core.error_codes import CoreError
from paymint.core.errors import NotFound, ValidationFailed
from paymint.core.money import MINOR_UNITS

from .error_codes import SettlementsError
from .filters import WalletEntryFilter
from .ledger import wallet_entries
from .models import ChainTransaction, Posting, Settlement
from .stellar.enums import ChainTxStatus

ZERO = Decimal(0)


def settlement_list_for_user(*, user) -> QuerySet[Settlement]:
    """Settlements on the user's invoices (seller) or on invoices the user invested in
    (investor), newest first, with the invoice joined (one query; no duplicates)."""
    invested = Investment.objects.filter(
        listing__invoice_id=OuterRef("invoice_id"), investor_id=user.pk
    )
    return (
        Settlement.objects.filter(Q(invoice__seller_id=user.pk) | Q(Exists(invested)))
        .select_related("invoice", "entry")
        .order_by("-created_at", "-id")
    )


def settlement_get_for_user(*, user, settlement_id) -> Settlement:
    """One settlement the user may see (see :func:`settlement_list_for_user`).

    Raises:
        NotFound: ``SETTLEMENT_NOT_FOUND`` for a malformed or unknown id, or one that is not
            the user's.
    """
    try:
        public_id = uuid.UUID(str(settlement_id))
    except (TypeError, ValueError):
        raise NotFound(
            "Settlement not found.", code=SettlementsError.SETTLEMENT_NOT_FOUND
        ) from None
    found = settlement_list_for_user(user=user).filter(public_id=public_id).first()
    if found is None:
        raise NotFound("Settlement not found.", code=SettlementsError.SETTLEMENT_NOT_FOUND)
    return found


@dataclass
class SettlementView:
    """One settlement as the user sees it. Amounts in ``currency``; ``investor_share`` is the
    user's payout over all their investments in the invoice (``None`` for the seller);
    ``seller_reserve`` / ``seller_receivable`` / ``platform_late_fee`` are shown to the seller
    only (``None`` for an investor), and so is ``invoice_id`` (the seller's invoice; an investor
    follows their investments). ``chain_tx_hashes``: the confirmed Stellar transactions
    that mirror this settlement (for an investor, those of their own investments)."""

    settlement: Settlement
    role: str
    investor_share: Decimal | None
    invoice_id: uuid.UUID | None = None
    investor_shares: list[dict] = field(default_factory=list)
    seller_reserve: Decimal | None = None
    seller_receivable: Decimal | None = None
    platform_late_fee: Decimal | None = None
    chain_tx_hashes: list[str] = field(default_factory=list)


def settlement_views(*, user, settlements: list[Settlement]) -> list[SettlementView]:
    """:class:`SettlementView` of each settlement (two queries, whatever their number)."""
    invoice_ids = {s.invoice_id for s in settlements}
    mine: dict[int, list[tuple[int, uuid.UUID]]] = defaultdict(list)
    for pk, invoice_id, public_id in Investment.objects.filter(
        investor_id=user.pk, listing__invoice_id__in=invoice_ids
    ).values_list("pk", "listing__invoice_id", "public_id"):
        mine[invoice_id].append((pk, public_id))
    hashes: dict[int, list[tuple[int | None, str]]] = defaultdict(list)
    for settlement_id, investment_id, tx_hash in (
        ChainTransaction.objects.filter(
            settlement__in=[s.pk for s in settlements], status=ChainTxStatus.CONFIRMED
        )
        .exclude(tx_hash="")
        .order_by("id")
        .values_list("settlement_id", "investment_id", "tx_hash")
    ):
        hashes[settlement_id].append((investment_id, tx_hash))
    views = []
    for s in settlements:
        breakdown = s.breakdown or {}
        if s.invoice.seller_id == user.pk:
            views.append(
                SettlementView(
                    settlement=s,
                    role="SELLER",
                    investor_share=None,
                    invoice_id=s.invoice.public_id,
                    seller_reserve=Decimal(breakdown.get("seller_reserve", "0")),
                    seller_receivable=Decimal(breakdown.get("seller_receivable", "0")),
                    platform_late_fee=Decimal(breakdown.get("platform_late_fee", "0")),
                    chain_tx_hashes=[h for _, h in hashes[s.pk]],
                )
            )
            continue
        payouts = breakdown.get("investors", {})
        own = mine[s.invoice_id]
        shares = [
            {"investment_id": public_id, "amount": Decimal(payouts.get(str(pk), "0"))}
            for pk, public_id in own
        ]
        own_ids = {pk for pk, _ in own}
        views.append(
            SettlementView(
                settlement=s,
                role="INVESTOR",
                investor_share=sum((x["amount"] for x in shares), ZERO),
                investor_shares=shares,
                chain_tx_hashes=[h for inv, h in hashes[s.pk] if inv in own_ids],
            )
        )
    return views


def wallet_entry_search(*, user, filters=None) -> QuerySet[Posting]:
    """The user's wallet entries (postings on their cash accounts, with the journal entry)
    matching ``filters`` (:class:`~settlements.filters.WalletEntryFilter`: ``kind``,
    ``date_from``, ``date_to``, ``currency``).

    Raises:
        ValidationFailed: ``VALIDATION_ERROR`` with the invalid filters in ``fields``.
    """
    filterset = WalletEntryFilter(filters or {}, queryset=wallet_entries(user=user))
    if not filterset.is_valid():
        raise ValidationFailed(
            "Please correct the highlighted fields.",
            code=CoreError.VALIDATION_ERROR,
            fields={k: list(v) for k, v in filterset.errors.items()},
        )
    return filterset.qs


#: Columns of the wallet statement (CSV, the page's download and the API's).
STATEMENT_HEADER = [
    "date",
    "booked_at",
    "entry_id",
    "kind",
    "description",
    "memo",
    "currency",
    "amount",
    "balance",
]


def text_cell(value: str) -> str:
    """Neutralise spreadsheet formulas in free-text cells (CSV injection)."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def wallet_statement_rows(*, user) -> Iterator[list[str]]:
    """The user's full wallet statement, header first, oldest entry first, with the running
    balance per currency (amounts in each currency's minor unit). Streams in chunks of 500."""
    yield STATEMENT_HEADER
    running: dict[str, Decimal] = {}
    postings = wallet_entries(user=user).order_by("entry__created_at", "id")
    for posting in postings.iterator(chunk_size=500):
        currency = posting.currency
        running[currency] = running.get(currency, ZERO) + posting.amount
        places = MINOR_UNITS.get(currency, 2)
        entry = posting.entry
        yield [
            entry.effective_date.isoformat(),
            entry.created_at.isoformat(timespec="seconds"),
            str(entry.public_id),
            entry.kind,
            text_cell(entry.description),
            text_cell(posting.memo),
            currency,
            f"{posting.amount:.{places}f}",
            f"{running[currency]:.{places}f}",
        ]
