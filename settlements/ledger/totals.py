"""The books' totals without reading every posting: :class:`~.models.LedgerDayTotal`, the
postings summed per (effective date, entry kind, account kind, currency), which PostgreSQL
appends to in the statement that writes the postings (``settlements`` migration 0012).

Reads sum the rows of their keys, so they are exact at any instant (a row commits with the
postings it sums); :func:`ledger_day_totals_compact` folds each key's rows into one (beat).
On SQLite (the embedded demo, no triggers) the same reads sum the postings. Amounts are
``Decimal`` in their currency, storage precision (:func:`~.posting.exact_sum`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, F, Sum
from django.db.models.functions import Greatest, TruncMonth

from paymint.core.tallies import Tally, tallies_kept, tally_compact

from .models import LedgerDayTotal, Posting
from .posting import exact_sum

#: :class:`LedgerDayTotal` as a tally (:mod:`paymint.core.tallies`; its triggers are the
#: ledger's own, settlements migration 0012), registered in ``SettlementsConfig.ready``.
LEDGER_DAY_TOTALS = Tally(
    table="settlements_ledgerdaytotal",
    keys=("effective_date", "entry_kind", "account_kind", "currency"),
    sums=("amount", "credits", "postings"),
    lock_key=0x1ED6E7_0012,
)


def ledger_balances_by_kind(*, through: dt.date | None = None) -> dict[str, dict[str, Decimal]]:
    """``{currency: {account kind: balance}}``: the sum of every posting (of entries effective on
    or before ``through`` when given), per currency and account kind. One query over the day
    totals (a few rows per business day), not over the postings."""
    if tallies_kept():
        rows = LedgerDayTotal.objects.all()
        if through is not None:
            rows = rows.filter(effective_date__lte=through)
        rows = rows.values("currency", "account_kind").annotate(total=Sum("amount"))
    else:
        rows = Posting.objects.all()
        if through is not None:
            rows = rows.filter(entry__effective_date__lte=through)
        rows = rows.values("currency", account_kind=F("account__kind")).annotate(
            total=Sum("amount"))
    out: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for row in sorted(rows, key=lambda r: (r["currency"], r["account_kind"])):
        out[row["currency"]][row["account_kind"]] = exact_sum(row["total"])
    return dict(out)


def ledger_credits_by_month(
    *, entry_kind: str, since: dt.date
) -> dict[str, dict[dt.date, Decimal]]:
    """``{currency: {month (first day): total}}``: the positive amounts posted by entries of
    ``entry_kind`` effective on or after ``since`` (for FUNDING: the funded volume), per
    calendar month of the effective date. One query over the day totals."""
    if tallies_kept():
        rows = (LedgerDayTotal.objects.filter(entry_kind=entry_kind, effective_date__gte=since)
                .annotate(month=TruncMonth("effective_date"))
                .values("currency", "month").annotate(total=Sum("credits")))
    else:
        rows = (Posting.objects.filter(entry__kind=entry_kind, amount__gt=0,
                                       entry__effective_date__gte=since)
                .annotate(month=TruncMonth("entry__effective_date"))
                .values("currency", "month").annotate(total=Sum("amount")))
    out: dict[str, dict[dt.date, Decimal]] = defaultdict(dict)
    for row in rows.order_by("month", "currency"):
        month = row["month"]
        month = month.date() if isinstance(month, dt.datetime) else month
        total = exact_sum(row["total"])
        if total:
            out[row["currency"]][month] = total
    return dict(out)


def ledger_day_totals_compact() -> int:
    """Fold each key's rows of :class:`LedgerDayTotal` into one row (the same sums); returns the
    rows removed (:func:`paymint.core.tallies.tally_compact`: one statement under an advisory
    lock; postings written meanwhile keep their own rows, so the totals stay exact throughout).
    Nothing to do on SQLite. Safe to run any number of times."""
    return tally_compact(LEDGER_DAY_TOTALS)


def ledger_day_totals_differences() -> list[dict]:
    """The keys whose day totals differ from the postings' sums (should always be empty): each
    ``{"key": "date:entry kind:account kind:currency", "kept": ..., "postings": ...}`` with
    ``(amount, credits, count)`` as strings. Reads every posting (the books check's job, not a
    page's). Empty on SQLite (nothing kept)."""
    if not tallies_kept():
        return []
    kept = {
        (r["effective_date"], r["entry_kind"], r["account_kind"], r["currency"]):
            (exact_sum(r["a"]), exact_sum(r["c"]), r["n"])
        for r in LedgerDayTotal.objects.values(
            "effective_date", "entry_kind", "account_kind", "currency")
        .annotate(a=Sum("amount"), c=Sum("credits"), n=Sum("postings"))
    }
    actual = {
        (r["entry__effective_date"], r["entry__kind"], r["account__kind"], r["currency"]):
            (exact_sum(r["a"]), exact_sum(r["c"]), r["n"])
        for r in Posting.objects.values(
            "entry__effective_date", "entry__kind", "account__kind", "currency")
        .annotate(a=Sum("amount"), c=Sum(Greatest("amount", Decimal(0))), n=Count("id"))
    }
    zero = (Decimal(0), Decimal(0), 0)
    out = []
    for key in sorted(set(kept) | set(actual), key=str):
        mine, theirs = kept.get(key, zero), actual.get(key, zero)
        if mine != theirs:
            out.append({"key": ":".join(str(part) for part in key),
                        "kept": [str(v) for v in mine], "postings": [str(v) for v in theirs]})
    return out
