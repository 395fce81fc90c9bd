"""``verify_books``: PayMint's books checked end to end, for a whole database or since a date.

Run by ``manage.py verify_books`` (exit status 1 on any difference), daily by beat
(``settlements.tasks.books_verify_task``), after every restore (``scripts/restore.sh``) and as
the demo's last step. Each difference is also raised once as a ``RECONCILIATION`` compliance
alert (severity HIGH, deduplicated by check and key).

Checks (amounts in each row's currency, storage precision):

- ``trial_balance``: the sum of all postings is zero in every currency (always the whole
  ledger: a partial trial balance means nothing);
- ``entry_unbalanced``: each journal entry's legs sum to zero per currency, there are at least
  two, each in its entry's currency;
- ``cached_balance``: the one figure kept beside the postings, the ledger's day totals
  (:class:`settlements.ledger.models.LedgerDayTotal`, kept by PostgreSQL), equals the postings
  summed per (effective date, entry kind, account kind, currency) - always the whole ledger;
- ``listing_funded``: each listing's ``funded_amount`` equals the sum of its investments
  (refunded ones included: a refund does not change what was funded);
- ``investment_funding``: each investment's funding entry moved exactly its amount;
- ``settlement``: each settlement is ``COMPLETED`` exactly when it has a distribution entry,
  that entry is in its currency and debits exactly ``repaid_amount`` (the escrow leg);
- ``chain``: the on-chain mirror matches (:func:`settlements.stellar.reconciliation.
  chain_reconcile`, which raises its own alerts), only where ``STELLAR_ENABLED``.

``since`` (a date) limits the per-row checks to entries of that effective date or later and
to listings and settlements changed since then.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, F, Q, Sum

from compliance.public import AlertKind, AlertSeverity, alert_raise
from marketplace.models import Investment, Listing

from ..enums import SettlementStatus
from ..ledger.posting import exact_sum, trial_balance
from ..ledger.totals import ledger_day_totals_differences
from ..models import JournalEntry, LedgerDayTotal, Posting, Settlement
from ..stellar.reconciliation import chain_reconcile


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference: ``check`` (see the module docstring), ``key`` (what it is about, stable
    across runs: the alert's dedupe key) and ``detail`` (JSON-able evidence)."""

    check: str
    key: str
    detail: dict


@dataclass(slots=True)
class BooksReport:
    """What :func:`books_verify` looked at (``counts``: rows per check) and found."""

    since: dt.date | None
    counts: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _trial_balance(report: BooksReport) -> None:
    totals = trial_balance()
    report.counts["currencies"] = len(totals)
    for currency, total in totals.items():
        if total != 0:
            report.findings.append(Finding("trial_balance", currency, {"total": str(total)}))


def _cached_balances(report: BooksReport) -> None:
    differences = ledger_day_totals_differences()
    report.counts["cached_balances"] = LedgerDayTotal.objects.count()
    for difference in differences:
        report.findings.append(Finding("cached_balance", difference["key"], difference))


def _entries(report: BooksReport) -> None:
    entries = JournalEntry.objects.all()
    if report.since:
        entries = entries.filter(effective_date__gte=report.since)
    report.counts["entries"] = entries.count()
    per_currency = (
        Posting.objects.filter(entry__in=entries)
        .values("entry_id", "entry__idempotency_key", "currency")
        .annotate(total=Sum("amount"))
        .order_by("entry_id", "currency")
    )
    for row in per_currency.iterator(chunk_size=5000):
        if exact_sum(row["total"]) == 0:  # exact: SQLite sums in doubles
            continue
        report.findings.append(
            Finding(
                "entry_unbalanced",
                row["entry__idempotency_key"],
                {"currency": row["currency"], "off_by": str(exact_sum(row["total"]))},
            )
        )
    short = entries.annotate(legs=Count("postings")).filter(legs__lt=2)
    for key, legs in short.values_list("idempotency_key", "legs"):
        report.findings.append(Finding("entry_unbalanced", key, {"legs": legs}))
    foreign = (
        Posting.objects.filter(entry__in=entries)
        .exclude(currency=F("entry__currency"))
        .values_list("entry__idempotency_key", "leg", "currency")
    )
    for key, leg, currency in foreign:
        report.findings.append(
            Finding("entry_unbalanced", f"{key}:leg={leg}", {"leg_currency": currency})
        )


def _listings(report: BooksReport) -> None:
    listings = Listing.objects.all()
    if report.since:
        listings = listings.filter(updated_at__date__gte=report.since)
    report.counts["listings"] = listings.count()
    rows = listings.annotate(invested=Sum("investments__amount")).values_list(
        "public_id", "funded_amount", "invested", "currency"
    )
    for public_id, funded, invested, currency in rows:
        if exact_sum(funded) != exact_sum(invested):
            report.findings.append(
                Finding(
                    "listing_funded",
                    str(public_id),
                    {
                        "funded_amount": str(funded),
                        "investments": str(exact_sum(invested)),
                        "currency": currency,
                    },
                )
            )
    investments = Investment.objects.filter(listing__in=listings).annotate(
        moved=Sum(
            "funding_entry__postings__amount", filter=Q(funding_entry__postings__amount__lt=0)
        )
    )
    report.counts["investments"] = investments.count()
    for public_id, amount, moved in investments.values_list("public_id", "amount", "moved"):
        if -exact_sum(moved) != exact_sum(amount):
            report.findings.append(
                Finding(
                    "investment_funding",
                    str(public_id),
                    {"amount": str(amount), "funding_entry_moved": str(-exact_sum(moved))},
                )
            )


def _settlements(report: BooksReport) -> None:
    settlements = Settlement.objects.all()
    if report.since:
        settlements = settlements.filter(updated_at__date__gte=report.since)
    report.counts["settlements"] = settlements.count()
    rows = settlements.annotate(
        debited=Sum("entry__postings__amount", filter=Q(entry__postings__amount__lt=0))
    ).values_list(
        "public_id", "status", "repaid_amount", "currency", "entry_id", "entry__currency", "debited"
    )
    for public_id, status, repaid, currency, entry_id, entry_currency, debited in rows:
        completed = status == SettlementStatus.COMPLETED
        detail = {"status": status, "repaid_amount": str(repaid), "currency": currency}
        if completed != (entry_id is not None):
            report.findings.append(
                Finding("settlement", str(public_id), {**detail, "has_entry": entry_id is not None})
            )
        elif entry_id is not None and (
            entry_currency != currency or -exact_sum(debited) != exact_sum(repaid)
        ):
            report.findings.append(
                Finding(
                    "settlement",
                    str(public_id),
                    {
                        **detail,
                        "entry_currency": entry_currency,
                        "entry_debit": str(-exact_sum(debited)),
                    },
                )
            )


def _chain(report: BooksReport) -> None:
    if not settings.STELLAR_ENABLED:
        report.counts["chain_checked"] = 0
        return
    report.counts["chain_checked"] = 1
    for finding in chain_reconcile():
        report.findings.append(
            Finding(
                "chain",
                f"{finding['check']}:{finding['key']}",
                {k: str(v) for k, v in finding.items()},
            )
        )


def books_verify(*, since: dt.date | None = None, alert: bool = True) -> BooksReport:
    """Run every check of the module docstring; returns the report.

    With ``alert`` (the default), each finding is raised as a ``RECONCILIATION`` compliance
    alert (once per check and key: a daily run does not repeat an open finding). Reads only,
    apart from the alerts; no transaction is held across the checks.
    """
    report = BooksReport(since=since)
    _trial_balance(report)
    _entries(report)
    _cached_balances(report)
    _listings(report)
    _settlements(report)
    _chain(report)
    if alert:
        for finding in report.findings:
            if finding.check == "chain":
                continue  # chain_reconcile raised its own alert
            alert_raise(
                kind=AlertKind.RECONCILIATION,
                severity=AlertSeverity.HIGH,
                dedupe_key=f"books:{finding.check}:{finding.key}",
                title=f"verify_books: {finding.check} differs for {finding.key}",
                evidence={"check": finding.check, "key": finding.key, **finding.detail},
            )
    return report
