"""Reads for the back office: the admin index's queues and KPIs, the monthly platform
report for finance, and the investor's annual statement (CSV and PDF) for tax. Every figure
is read in a constant number of queries, whatever the number of rows (aggregates in the
database; the overdue invoices are the only rows read, one query).

Amounts are ``Decimal`` in their currency (never summed across currencies). Sign
conventions are the ledger's: a posting's amount is positive when it increases the account's
balance; bank clearing is the mirror of PayMint's bank account and runs negative (money that
came in), so the trial balance - the sum of every posting - is zero in each currency.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Max, OuterRef, Q, Subquery, Sum
from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from accounts.enums import KycStatus
from accounts.models import KycProfile
from compliance.public import alert_counts_open_by_severity
from invoices.enums import InvoiceStatus
from invoices.models import Invoice, InvoiceStatusEvent
from invoices.pricing import aging_bucket, days_past_due
from invoices.selectors import invoice_counts_by_grade_and_status, invoice_overdue_book
from marketplace.enums import InvestmentStatus
from marketplace.models import Investment
from marketplace.selectors import investment_outstanding_by_currency
from paymint.core import clock
from paymint.core.money import quantize_money

from .enums import (
    AccountKind,
    AllocationStatus,
    BankEventStatus,
    EntryKind,
    PayoutBatchStatus,
    WithdrawalStatus,
)
from .ledger import exact_sum, ledger_balances_by_kind, ledger_credits_by_month
from .models import (
    BankEvent,
    ChainTransaction,
    JournalEntry,
    PayoutBatch,
    Posting,
    SuspenseAllocation,
    Withdrawal,
)
from .stellar.enums import ChainTxStatus

#: A chain transaction not final this long after it was written is "stuck".
CHAIN_STUCK_AFTER = dt.timedelta(minutes=15)
#: Invoice statuses of financed invoices (the advance was paid out).
FINANCED = (InvoiceStatus.DISBURSED, InvoiceStatus.OVERDUE, InvoiceStatus.DEFAULTED,
            InvoiceStatus.WRITTEN_OFF, InvoiceStatus.SETTLED)
DEFAULTED = (InvoiceStatus.DEFAULTED, InvoiceStatus.WRITTEN_OFF)
AGING_ORDER = ("current", "1-30", "31-60", "61-90", "90+")


@dataclass
class Queue:
    """One work queue of the index: ``count`` items at ``admin_path`` (a changelist and
    its filter, relative to the admin root), which needs ``permission`` (the changelist's
    view permission, ``app_label.codename``) to open."""

    label: str
    count: int
    admin_path: str
    permission: str = ""


def queues_visible_to(user, queues: list[Queue]) -> list[Queue]:
    """The queues ``user``'s roles may open (their view permission): the index shows no
    queue, count or link, whose list the user would be refused (e.g. alerts to finance)."""
    return [queue for queue in queues
            if not queue.permission or user.has_perm(queue.permission)]


@dataclass
class Dashboard:
    """What the back office index shows. Money maps are ``{currency: Decimal}``.

    - ``balances``: ``{currency: {account kind: balance}}`` (the trial balance by account
      type); ``trial_balance``: ``{currency: sum of every posting}`` - zero when the books
      balance (``books_balance``);
    - ``funded_this_month``: investments (FUNDING entries) dated this calendar month;
    - ``outstanding_principal``: active investments' amount less principal repaid;
    - ``overdue``: ``{currency: {aging bucket: (invoices, face value)}}`` of overdue and
      defaulted invoices, days past due as of today (``invoices.pricing``);
    - ``default_rates``: ``{grade: (predicted PD, realised rate, financed invoices)}``:
      predicted is ``PAYMINT["GRADE_PD"]``, realised = defaulted or written-off invoices /
      financed invoices of the grade (an invoice recovered after default counts as settled);
    - ``fee_revenue``, ``investor_cash``: balances of the platform's fee revenue and of all
      investors' cash accounts;
    - ``volume_chart``: Chart.js data, funded volume per month over the last 12 months, one
      dataset per currency; ``aging_chart``: overdue face value per aging bucket today;
      ``aging_history_chart``: the overdue face value by bucket at each month's end over
      the last 12 months (:func:`aging_history`).
    """

    queues: list[Queue]
    balances: dict[str, dict[str, Decimal]]
    trial_balance: dict[str, Decimal]
    funded_this_month: dict[str, Decimal]
    outstanding_principal: dict[str, Decimal]
    overdue: dict[str, dict[str, tuple[int, Decimal]]]
    default_rates: dict[str, tuple[Decimal, Decimal | None, int]]
    fee_revenue: dict[str, Decimal] = field(default_factory=dict)
    investor_cash: dict[str, Decimal] = field(default_factory=dict)
    volume_chart: dict = field(default_factory=dict)
    aging_chart: dict = field(default_factory=dict)
    aging_history_chart: dict = field(default_factory=dict)

    @property
    def books_balance(self) -> bool:
        return all(total == 0 for total in self.trial_balance.values())


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _month_end(month: dt.date, today: dt.date) -> dt.date:
    """The last day of ``month`` (its first day), or ``today`` for the current month."""
    return min(_add_months(month, 1) - dt.timedelta(days=1), today)


def aging_history(*, months: list[dt.date], today: dt.date) -> dict:
    """Chart.js data of the overdue book over ``months`` (first days, oldest first): at each
    month's end (``today`` for the current month), the face value of the invoices then
    overdue, by aging bucket and currency (a dataset per currency and bucket, stacked per
    currency). Three queries, each grouped by due date in the database (the rows read are the
    overdue book tally's and the invoices settled or written off within the window).

    An invoice counts at a day ``E`` when its days past due at ``E`` exceed the grace period
    (``PAYMINT["GRACE_PERIOD_DAYS"]``: the daily aging had made it overdue) and it was still
    open at ``E``: a settled invoice until the business date of its last settlement entry,
    a written-off one until its write-off (the aging job writes off at
    ``DEFAULT_AFTER_DAYS_PAST_DUE``); overdue and defaulted invoices are open. Dates are the
    business dates of the ledger and the due dates, never the rows' real-time timestamps (the
    demo replays past invoices).
    """
    config = settings.PAYMINT
    grace, write_off = config["GRACE_PERIOD_DAYS"], config["DEFAULT_AFTER_DAYS_PAST_DUE"]
    window_start = months[0]
    cutoff = today - dt.timedelta(days=grace)
    # The book grouped by (currency, due date, closing date): a few rows per business day, not
    # one per invoice. Open: overdue and defaulted (the overdue book tally).
    book = [(currency, due, None, face)
            for currency, due, _count, face in invoice_overdue_book(due_before=cutoff)]
    # Settled within the window: the last settlement entry of the invoice is its closing date;
    # one is in the window exactly when an entry is (journal_entry_settlement_date).
    settled_on = (JournalEntry.objects.filter(kind=EntryKind.SETTLEMENT,
                                              effective_date__gte=window_start,
                                              invoice_id=OuterRef("pk"))
                  .order_by().values("invoice_id").annotate(last=Max("effective_date"))
                  .values("last"))
    book += list(
        Invoice.objects.filter(status=InvoiceStatus.SETTLED, due_date__lt=cutoff,
                               pk__in=JournalEntry.objects.filter(
                                   kind=EntryKind.SETTLEMENT, effective_date__gte=window_start)
                               .values("invoice_id"))
        .annotate(closed=Subquery(settled_on))
        .values("currency", "due_date", "closed").annotate(face=Sum("face_value")).order_by()
        .values_list("currency", "due_date", "closed", "face"))
    # Written off: open until DEFAULT_AFTER_DAYS_PAST_DUE past due (the aging job's write-off).
    book += [
        (currency, due, due + dt.timedelta(days=write_off + 1), face)
        for currency, due, face in Invoice.objects.filter(
            status=InvoiceStatus.WRITTEN_OFF, due_date__lt=cutoff,
            due_date__gte=window_start - dt.timedelta(days=write_off))
        .values("currency", "due_date").annotate(face=Sum("face_value")).order_by()
        .values_list("currency", "due_date", "face")]
    ends = [_month_end(month, today) for month in months]
    buckets = AGING_ORDER[1:]
    totals: dict[str, dict[str, list[Decimal]]] = defaultdict(
        lambda: {bucket: [Decimal(0)] * len(ends) for bucket in buckets})
    for currency, due, closed, face in book:
        for index, end in enumerate(ends):
            dpd = days_past_due(due, end)
            if dpd > grace and (closed is None or end < closed):
                totals[currency][aging_bucket(dpd)][index] += face or 0
    return {
        "labels": [month.strftime("%Y-%m") for month in months],
        "datasets": [{"label": f"{currency} {bucket}", "stack": currency,
                      "data": [float(value) for value in by_bucket[bucket]]}
                     for currency, by_bucket in sorted(totals.items())
                     for bucket in buckets],
    }


def dashboard_queues() -> list[Queue]:
    """Today's work queues with their counts (one query per source table)."""
    now = timezone.now()
    kyc = KycProfile.objects.filter(status=KycStatus.PENDING_REVIEW).count()
    alerts = alert_counts_open_by_severity()
    withdrawals = Withdrawal.objects.aggregate(
        requested=Count("id", filter=Q(status=WithdrawalStatus.REQUESTED)),
        failed=Count("id", filter=Q(status__in=(WithdrawalStatus.FAILED,
                                                WithdrawalStatus.RETURNED))))
    batches = PayoutBatch.objects.aggregate(
        draft=Count("id", filter=Q(status=PayoutBatchStatus.DRAFT)),
        approved=Count("id", filter=Q(status=PayoutBatchStatus.APPROVED)))
    unmatched = BankEvent.objects.filter(status=BankEventStatus.UNMATCHED).count()
    allocations = SuspenseAllocation.objects.filter(status=AllocationStatus.PROPOSED).count()
    stuck = ChainTransaction.objects.filter(
        Q(status=ChainTxStatus.FAILED)
        | Q(status__in=(ChainTxStatus.PENDING, ChainTxStatus.SUBMITTED, ChainTxStatus.EXPIRED),
            created_at__lt=now - CHAIN_STUCK_AFTER)).count()
    queues = [Queue("KYC/KYB to review", kyc,
                    "accounts/kycprofile/?status__exact=PENDING_REVIEW",
                    "accounts.view_kycprofile")]
    queues += [Queue(f"Alerts open: {severity.lower()}", count,
                     f"compliance/compliancealert/?severity__exact={severity}",
                     "compliance.view_compliancealert")
               for severity, count in alerts.items()]
    queues += [
        Queue("Withdrawals awaiting payout", withdrawals["requested"],
              "settlements/withdrawal/?status__exact=REQUESTED", "settlements.view_withdrawal"),
        Queue("Failed or returned payouts to retry", withdrawals["failed"],
              "settlements/withdrawal/?status__in=FAILED,RETURNED",
              "settlements.view_withdrawal"),
        Queue("Payout batches awaiting approval", batches["draft"],
              "settlements/payoutbatch/?status__exact=DRAFT", "settlements.view_payoutbatch"),
        Queue("Payout batches to export", batches["approved"],
              "settlements/payoutbatch/?status__exact=APPROVED",
              "settlements.view_payoutbatch"),
        Queue("Unmatched credits (suspense)", unmatched,
              "settlements/bankevent/?status__exact=UNMATCHED", "settlements.view_bankevent"),
        Queue("Allocations awaiting approval", allocations,
              "settlements/suspenseallocation/?status__exact=PROPOSED",
              "settlements.view_suspenseallocation"),
        Queue("Chain transactions stuck", stuck, "settlements/chaintransaction/",
              "settlements.view_chaintransaction"),
    ]
    return queues


def balances_by_kind(*, through: dt.date | None = None) -> dict[str, dict[str, Decimal]]:
    """``{currency: {account kind: balance}}`` of every posting (of entries effective on or
    before ``through`` when given). One query, over the ledger's day totals
    (:func:`settlements.ledger.ledger_balances_by_kind`), not the postings."""
    return ledger_balances_by_kind(through=through)


def _kind_totals(balances: dict[str, dict[str, Decimal]], kind: str) -> dict[str, Decimal]:
    return {currency: kinds[kind] for currency, kinds in balances.items() if kind in kinds}


def dashboard_build(*, today: dt.date | None = None) -> Dashboard:
    """Everything the index shows (see :class:`Dashboard`), as of ``today`` (the business
    clock's date by default). A constant number of queries."""
    today = today or clock.today()
    month = _month_start(today)
    balances = balances_by_kind()
    trial = {currency: sum(kinds.values(), Decimal(0)) + 0
             for currency, kinds in balances.items()}

    # The funded volume from the ledger's day totals (one query, not the FUNDING postings).
    volume = ledger_credits_by_month(entry_kind=EntryKind.FUNDING,
                                     since=_add_months(month, -11))
    months = [_add_months(month, -offset) for offset in range(11, -1, -1)]
    funded_this_month = {c: by_month[month] for c, by_month in volume.items()
                         if month in by_month}

    # From the investment tally (a few rows), not the investments.
    outstanding = investment_outstanding_by_currency()

    # The overdue book per due date (its tally: a few rows per business day), bucketed here.
    overdue: dict[str, dict[str, tuple[int, Decimal]]] = defaultdict(dict)
    for currency, due, invoices, face in invoice_overdue_book():
        bucket = aging_bucket(days_past_due(due, today))
        count, total = overdue[currency].get(bucket, (0, Decimal(0)))
        overdue[currency][bucket] = (count + invoices, total + (face or 0))

    # From the invoice tally (a few dozen rows), not the invoices.
    found: dict[str, dict[str, int]] = {}
    for (grade, status), count in invoice_counts_by_grade_and_status(statuses=FINANCED).items():
        row = found.setdefault(grade, {"financed": 0, "defaulted": 0})
        row["financed"] += count
        if status in DEFAULTED:
            row["defaulted"] += count
    default_rates = {}
    for grade, predicted in settings.PAYMINT["GRADE_PD"].items():
        row = found.get(grade)
        realised = (Decimal(row["defaulted"]) / row["financed"]).quantize(Decimal("0.0001")) \
            if row and row["financed"] else None
        default_rates[grade] = (predicted, realised, row["financed"] if row else 0)

    return Dashboard(
        queues=dashboard_queues(),
        balances=balances,
        trial_balance=trial,
        funded_this_month=funded_this_month,
        outstanding_principal=outstanding,
        overdue={c: dict(sorted(b.items(), key=lambda kv: AGING_ORDER.index(kv[0])))
                 for c, b in overdue.items()},
        default_rates=default_rates,
        fee_revenue=_kind_totals(balances, AccountKind.PLATFORM_FEE_REVENUE),
        investor_cash=_kind_totals(balances, AccountKind.INVESTOR_CASH),
        volume_chart={
            "labels": [m.strftime("%Y-%m") for m in months],
            "datasets": [{"label": currency,
                          "data": [float(by_month.get(m, 0)) for m in months]}
                         for currency, by_month in sorted(volume.items())],
        },
        aging_chart={
            "labels": list(AGING_ORDER[1:]),
            "datasets": [{"label": currency,
                          "data": [float(buckets.get(b, (0, 0))[1]) for b in AGING_ORDER[1:]]}
                         for currency, buckets in sorted(overdue.items())],
        },
        aging_history_chart=aging_history(months=months, today=today),
    )


# --- The monthly platform report -------------------------------------------------------------

#: Columns of the monthly report CSV.
REPORT_COLUMNS = ("section", "currency", "item", "amount")


def platform_report_rows(*, month: dt.date) -> list[tuple[str, str, str, Decimal | int]]:
    """The monthly platform report for ``month`` (any day of it), as rows
    ``(section, currency, item, amount)``:

    - ``activity``: funded (investments), advances paid out, platform fees earned (fee
      revenue credits), repayments received from debtors, deposits and payouts - sums of
      the month's journal entries by kind (entries effective in the month);
    - ``defaults``: invoices that defaulted in the month (count, face value) and the
      recoveries received on defaulted or written-off invoices;
    - ``balance_sheet``: every platform account type's balance at the month's end.

    A constant number of queries (four).
    """
    start = _month_start(month)
    end = _add_months(start, 1) - dt.timedelta(days=1)
    in_month = Q(entry__effective_date__gte=start, entry__effective_date__lte=end)
    rows: list[tuple[str, str, str, Decimal | int]] = []
    activity = (
        Posting.objects.filter(in_month).values("currency").annotate(
            funded=Sum("amount", filter=Q(entry__kind=EntryKind.FUNDING, amount__gt=0)),
            advances=Sum("amount", filter=Q(entry__kind=EntryKind.DISBURSEMENT,
                                            account__kind=AccountKind.SELLER_CASH)),
            fees=Sum("amount", filter=Q(account__kind=AccountKind.PLATFORM_FEE_REVENUE)),
            repayments=Sum("amount", filter=Q(entry__kind=EntryKind.REPAYMENT, amount__gt=0)),
            deposits=Sum("amount", filter=Q(entry__kind=EntryKind.DEPOSIT, amount__gt=0)),
            payouts=Sum("amount", filter=Q(entry__kind=EntryKind.WITHDRAWAL_PAID,
                                           amount__gt=0)),
            recoveries=Sum("amount", filter=Q(entry__kind=EntryKind.REPAYMENT, amount__gt=0,
                                              entry__invoice__status__in=DEFAULTED)),
        ).order_by("currency"))
    for row in activity:
        for item in ("funded", "advances", "fees", "repayments", "deposits", "payouts"):
            rows.append(("activity", row["currency"], item, exact_sum(row[item])))
        rows.append(("defaults", row["currency"], "recoveries", exact_sum(row["recoveries"])))
    defaults = (InvoiceStatusEvent.objects.filter(
        to_status=InvoiceStatus.DEFAULTED, created_at__date__gte=start,
        created_at__date__lte=end).values("invoice__currency")
        .annotate(n=Count("invoice", distinct=True), face=Sum("invoice__face_value"))
        .order_by("invoice__currency"))
    for row in defaults:
        rows.append(("defaults", row["invoice__currency"], "defaulted_invoices", row["n"]))
        rows.append(("defaults", row["invoice__currency"], "defaulted_face_value",
                     exact_sum(row["face"])))
    for currency, kinds in balances_by_kind(through=end).items():
        for kind, amount in kinds.items():
            rows.append(("balance_sheet", currency, kind, amount))
    return rows


def platform_report_csv(*, month: dt.date) -> bytes:
    """:func:`platform_report_rows` as CSV (UTF-8, a header row of
    :data:`REPORT_COLUMNS`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for section, currency, item, amount in platform_report_rows(month=month):
        writer.writerow([section, currency, item,
                         f"{amount:f}" if isinstance(amount, Decimal) else amount])
    return out.getvalue().encode()


# --- The investor's annual statement (tax) ---------------------------------------------------


@dataclass(frozen=True)
class AnnualStatementLine:
    """One currency of an investor's year: ``interest`` earned (discount fee and late
    interest received), ``fees`` they paid (PayMint charges investors none today: 0),
    ``losses`` realised (the unpaid claims of investments whose invoice was written off in
    the year), ``principal`` returned; all in ``currency`` units."""

    currency: str
    interest: Decimal
    fees: Decimal
    losses: Decimal
    principal: Decimal


def investor_annual_statement(*, investor, year: int) -> list[AnnualStatementLine]:
    """The investor's statement for ``year`` (entries effective in it), per currency.

    Each repayment the investor received is split by the waterfall's own order inside an
    investor's share (``settlements/waterfall.py``): principal first, then the discount fee,
    then late interest. So for each invoice, walking the investor's distributions in order,
    what falls below the amount they invested is principal and the rest is interest (cash
    basis: the year a payment was received). An investor with several investments in one
    invoice is treated as one position (their sum). A constant number of queries (three).
    """
    invested = defaultdict(Decimal)
    for invoice_id, amount in Investment.objects.filter(investor=investor).exclude(
            status=InvestmentStatus.REFUNDED).values_list("listing__invoice_id", "amount"):
        invested[invoice_id] += amount
    received = (Posting.objects.filter(account__owner=investor,
                                       account__kind=AccountKind.INVESTOR_CASH,
                                       entry__kind=EntryKind.SETTLEMENT, amount__gt=0)
                .order_by("entry__effective_date", "entry__created_at", "entry_id")
                .values_list("entry__invoice_id", "currency", "entry__effective_date",
                             "amount"))
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    paid_so_far: dict[int, Decimal] = defaultdict(Decimal)
    for invoice_id, currency, day, amount in received:
        before = paid_so_far[invoice_id]
        paid_so_far[invoice_id] = before + amount
        cap = invested.get(invoice_id, Decimal(0))
        principal = max(min(before + amount, cap) - min(before, cap), Decimal(0))
        if day.year == year:
            totals[currency]["principal"] += principal
            totals[currency]["interest"] += amount - principal
    written_off = InvoiceStatusEvent.objects.filter(
        to_status=InvoiceStatus.WRITTEN_OFF, created_at__year=year).values("invoice_id")
    for currency, loss in Investment.objects.filter(
            investor=investor, listing__invoice_id__in=written_off, loss__gt=0) \
            .values_list("currency", "loss"):
        totals[currency]["losses"] += loss
    return [AnnualStatementLine(currency=currency, interest=t["interest"] + 0,
                                fees=Decimal("0.00"), losses=t["losses"] + 0,
                                principal=t["principal"] + 0)
            for currency, t in sorted(totals.items())]


STATEMENT_COLUMNS = ("year", "currency", "interest_earned", "fees_paid", "realised_losses",
                     "principal_returned")


def investor_annual_statement_csv(*, investor, year: int) -> bytes:
    """:func:`investor_annual_statement` as CSV (a header row of :data:`STATEMENT_COLUMNS`,
    amounts rounded to the currency's minor unit)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    for line in investor_annual_statement(investor=investor, year=year):
        writer.writerow([year, line.currency, *(
            f"{quantize_money(v, line.currency):f}"
            for v in (line.interest, line.fees, line.losses, line.principal))])
    return out.getvalue().encode()


def investor_annual_statement_pdf(*, investor, year: int, legal_name: str) -> bytes:
    """The statement as a one-page A4 PDF a person would print (ReportLab): the investor,
    the year, one block per currency, and how the figures were computed."""
    lines = investor_annual_statement(investor=investor, year=year)
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle(f"PayMint annual statement {year}")
    width, height = A4
    y = height - 25 * mm

    def text(value: str, *, size: int = 10, bold: bool = False, step: float = 6) -> None:
        nonlocal y
        pdf.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        pdf.drawString(20 * mm, y, value)
        y -= step * mm

    text(f"PayMint - annual statement {year}", size=16, bold=True, step=10)
    text(f"Investor: {legal_name} ({investor.email})")
    text(f"Period: 1 January {year} to 31 December {year}", step=10)
    if not lines:
        text("No repayment received and no loss realised in this year.")
    for line in lines:
        q = partial_quantize(line.currency)
        text(f"Currency {line.currency}", size=12, bold=True, step=7)
        text(f"Interest earned (discount fee and late interest): {q(line.interest)} "
             f"{line.currency}")
        text(f"Fees paid: {q(line.fees)} {line.currency}")
        text(f"Realised losses (written-off invoices): {q(line.losses)} {line.currency}")
        text(f"Principal returned: {q(line.principal)} {line.currency}", step=10)
    text("Interest is counted when received (cash basis); each repayment is split principal",
         size=8, step=4)
    text("first, then discount fee, then late interest, as the waterfall pays them.", size=8)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def partial_quantize(currency: str):
    """``amount -> str`` rounded to ``currency``'s minor unit (one named rounding)."""
    return lambda amount: f"{quantize_money(amount, currency):f}"
