"""The ledger's metrics, computed when Prometheus scrapes ``/metrics`` (registered with
:func:`paymint.core.metrics.register_scrape_source` as the ``database`` source).

- ``paymint_money_moved_total{kind,currency}``: for each journal entry kind and currency, the
  sum of the positive postings (the amount that moved; each entry balances);
- ``paymint_journal_entries_total{kind,currency}``: the number of entries.
"""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from prometheus_client.core import CounterMetricFamily

from .models import Posting


def money_moved() -> list[dict]:
    """Per journal entry kind and currency: the amount moved (sum of positive postings) and
    the number of entries. One aggregate query on the ledger."""
    rows = (
        Posting.objects.values("entry__kind", "currency")
        .annotate(
            moved=Sum("amount", filter=Q(amount__gt=0)), entries=Count("entry_id", distinct=True)
        )
        .order_by("entry__kind", "currency")
    )
    return list(rows)


def ledger_metric_families() -> list[CounterMetricFamily]:
    """``paymint_money_moved`` and ``paymint_journal_entries`` from :func:`money_moved`."""
    moved = CounterMetricFamily(
        "paymint_money_moved",
        "Money moved through the ledger, by entry kind and currency (currency units).",
        labels=["kind", "currency"],
    )
    entries = CounterMetricFamily(
        "paymint_journal_entries",
        "Journal entries posted, by kind and currency.",
        labels=["kind", "currency"],
    )
    for row in money_moved():
        labels = [row["entry__kind"], row["currency"]]
        moved.add_metric(labels, float(row["moved"] or 0))
        entries.add_metric(labels, row["entries"])
    return [moved, entries]
