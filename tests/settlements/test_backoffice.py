"""The back-office index (issue #13): queues, KPIs and the trial balance checked against a
known ledger, a constant number of queries, and the monthly platform report."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from accounts.services import staff_user_create
from marketplace.models import Investment
from paymint.core import clock
from settlements import backoffice
from settlements.backoffice import (
    dashboard_build,
    investor_annual_statement,
    platform_report_rows,
)
from settlements.services import bank_event_apply, withdrawal_request
from settlements.tasks import invoices_age_task
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    STRONG_PASSWORD,
    admin_sign_in,
    assert_books_balanced,
    bank_event,
    deposit,
)
from tests.settlements.test_collections import disbursed  # noqa: F401 - fixture

D = Decimal
NOVEMBER = dt.date(2020, 11, 30)


@pytest.fixture
def finance(db):
    return staff_user_create(email="finance@example.com", password=STRONG_PASSWORD,
                             roles=("finance",))


def test_the_figures_match_a_known_ledger(disbursed):  # noqa: F811 - fixture
    listing, a, b = disbursed()  # 300.00 + 213.94 funded 2020-11-22, both deposited 300.00
    bank_event_apply(payload=bank_event("evt_typo", "deposit.received", "PM-NOBODY1", "7.00"))
    withdrawal_request(user=b, amount="50.00", currency="EUR")
    board = dashboard_build(today=NOVEMBER)
    assert board.books_balance and board.trial_balance == {"EUR": 0}
    assert board.funded_this_month == {"EUR": D("513.94")}
    assert board.outstanding_principal == {"EUR": D("513.94")}
    assert board.fee_revenue == {"EUR": D("5.14")}  # 1 % of the advance
    assert board.investor_cash == {"EUR": D("600.00") - D("513.94") - D("50.00")}
    assert board.balances["EUR"]["SUSPENSE"] == D("7.00")
    assert board.balances["EUR"]["SELLER_CASH"] == D("508.80")
    assert board.balances["EUR"]["WITHDRAWAL_HOLD"] == D("50.00")
    assert board.default_rates["A"] == (D("0.01"), D("0"), 1)
    queues = {q.label: q.count for q in board.queues}
    assert queues["Unmatched credits (suspense)"] == 1
    assert queues["Withdrawals awaiting payout"] == 1
    assert board.volume_chart["labels"][-1] == "2020-11"
    assert board.volume_chart["datasets"] == [
        {"label": "EUR", "data": [0.0] * 11 + [513.94]}]
    # On the due date + 40 days the invoice is overdue (status set by the aging job); the
    # aging table reads the days past due as of today.
    assert board.overdue == {}


def test_the_dashboard_reads_in_a_constant_number_of_queries(disbursed, make_investor):  # noqa: F811
    disbursed()
    with CaptureQueriesContext(connection) as few:
        dashboard_build(today=NOVEMBER)
    for n in range(5):
        investor = make_investor()
        deposit(investor, f"{10 + n}.00")
        bank_event_apply(payload=bank_event(f"evt_u{n}", "repayment.received", f"X-{n}", "1"))
    with CaptureQueriesContext(connection) as many:
        dashboard_build(today=NOVEMBER)
    # 15: the aging history reads its three parts (open, settled, written off) grouped by due
    # date in the database (issue #19); the figures come from the tallies and day totals.
    assert len(few) == len(many) == 15, [q["sql"][:80] for q in many]


def _history(board, currency: str = "EUR") -> dict[str, dict[str, float]]:
    """``{bucket: {month label: face value}}`` of the 12-month aging chart, non-zero only."""
    labels = board.aging_history_chart["labels"]
    return {ds["label"].split(" ", 1)[1]: {m: v for m, v in zip(labels, ds["data"],
                                                                strict=True) if v}
            for ds in board.aging_history_chart["datasets"]
            if ds["stack"] == currency and any(ds["data"])}


@pytest.mark.parametrize("repaid", [False, True])
def test_the_12_month_aging_chart_follows_each_month_end(disbursed, repaid):  # noqa: F811
    listing, _, _ = disbursed()
    invoice = listing.invoice  # 571.04 EUR due 2020-12-12
    with clock.frozen_at(dt.date(2020, 12, 20)):  # 8 days past due: overdue after the grace
        invoices_age_task()
    if repaid:  # paid in full on 2021-01-10, through the waterfall
        with clock.frozen_at(dt.date(2021, 1, 10)), \
                TestCase.captureOnCommitCallbacks(execute=True):
            bank_event_apply(payload=bank_event("evt_late", "repayment.received",
                                                invoice.repayment_reference, "571.04"))
    board = dashboard_build(today=dt.date(2021, 2, 15))
    labels = board.aging_history_chart["labels"]
    assert (labels[0], labels[-1], len(labels)) == ("2020-03", "2021-02", 12)
    if repaid:
        # Open at the end of December (19 days late), settled before the end of January.
        assert _history(board) == {"1-30": {"2020-12": 571.04}}
    else:
        # 19 days late at 2020-12-31, 50 at 2021-01-31, 65 today (2021-02-15).
        assert _history(board) == {"1-30": {"2020-12": 571.04}, "31-60": {"2021-01": 571.04},
                                   "61-90": {"2021-02": 571.04}}
        # Today's column is the aging table's figure.
        assert board.overdue == {"EUR": {"61-90": (1, D("571.04"))}}
    assert all(ds["stack"] == "EUR" for ds in board.aging_history_chart["datasets"])


def test_the_index_shows_the_dashboard_to_finance_and_a_red_banner_when_off(
        finance, disbursed, monkeypatch):  # noqa: F811 - fixture
    disbursed()
    client = admin_sign_in(Client(), finance)
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "PayMint back office" in html and "Today's queues" in html
    assert 'id="kpis"' in html and "513.94" in html and 'id="books-alert"' not in html
    assert 'data-chart="volume-data"' in html
    assert 'data-chart="aging-history-data"' in html and 'id="aging-history-data"' in html

    # Books that do not balance (the database refuses to commit them since #18, so the read
    # is stood in for) turn the banner on.
    real = backoffice.balances_by_kind()
    monkeypatch.setattr(backoffice, "balances_by_kind", lambda **kw: {
        "EUR": {**real["EUR"], "SUSPENSE": D("0.01")}})
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="books-alert"' in html and "EUR (0.01" in html


def test_staff_who_may_not_read_the_ledger_see_only_the_queues(db):
    board = staff_user_create(email="board@example.com", password=STRONG_PASSWORD,
                              roles=("senior_management",))
    html = admin_sign_in(Client(), board).get(reverse("admin:index")).content.decode()
    assert "Today's queues" in html and 'id="kpis"' not in html


def test_the_monthly_platform_report(disbursed, finance, tmp_path):  # noqa: F811 - fixture
    disbursed()
    rows = {(s, c, i): a for s, c, i, a in platform_report_rows(month=LISTING_DAY)}
    assert rows[("activity", "EUR", "funded")] == D("513.94")
    assert rows[("activity", "EUR", "advances")] == D("508.80")
    assert rows[("activity", "EUR", "fees")] == D("5.14")
    sheet = [a for (s, c, i), a in rows.items() if s == "balance_sheet" and c == "EUR"]
    assert sum(sheet) == 0
    assert_books_balanced()

    out = tmp_path / "report.csv"
    call_command("platform_report", "--month", "2020-11", "--output", str(out),
                 stdout=io.StringIO())
    assert out.read_text().splitlines()[0] == "section,currency,item,amount"
    assert "activity,EUR,funded,513.9400000" in out.read_text()
    download = admin_sign_in(Client(), finance).get(
        reverse("admin:settlements_platform_report"), {"month": "2020-11"})
    assert download.status_code == 200 and download.content == out.read_bytes()


def test_the_investors_annual_statement_as_csv_and_pdf(disbursed, finance, tmp_path):  # noqa: F811
    listing, a, b = disbursed()  # a: 300.00, b: 213.94; discount fee 2.25
    with clock.frozen_at(MUSTANG_DUE), TestCase.captureOnCommitCallbacks(execute=True):
        bank_event_apply(payload=bank_event("evt_paid", "repayment.received",
                                            listing.invoice.repayment_reference, "571.04"))
    # What the waterfall paid a: its principal and its share of the discount fee.
    investment = Investment.objects.get(investor=a)
    earned = investment.fee_repaid + investment.late_interest_repaid
    assert D("1.2") < earned < D("1.4")  # about 300.00 / 513.94 of the 2.25 fee
    [line] = investor_annual_statement(investor=a, year=2020)
    assert (line.currency, line.principal, line.interest, line.fees, line.losses) == (
        "EUR", D("300.00"), earned, D("0.00"), D("0"))
    assert investor_annual_statement(investor=a, year=2021) == []

    csv_out, pdf_out = tmp_path / "a.csv", tmp_path / "a.pdf"
    for fmt, out in (("csv", csv_out), ("pdf", pdf_out)):
        call_command("investor_statement", "--investor", a.email, "--year", "2020",
                     "--format", fmt, "--output", str(out), stdout=io.StringIO())
    assert csv_out.read_text().splitlines() == [
        "year,currency,interest_earned,fees_paid,realised_losses,principal_returned",
        f"2020,EUR,{earned:.2f},0.00,0.00,300.00"]
    # The PDF read back as text: what a person would print.
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(
        pdf_out.read_bytes())).pages)
    assert "annual statement 2020" in text and a.email in text
    assert f"Interest earned (discount fee and late interest): {earned:.2f} EUR" in text
    assert "Principal returned: 300.00 EUR" in text
    download = admin_sign_in(Client(), finance).get(
        reverse("admin:settlements_investor_statement"),
        {"investor": a.email, "year": "2020", "format": "pdf"})
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert download.content == pdf_out.read_bytes()  # invariant PDF: the same bytes
