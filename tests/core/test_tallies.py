"""Tallies (``paymint.core.tallies``): the investment and invoice tallies equal their tables
summed per key after random inserts, updates (one row, many rows in one statement, columns
outside the tally) and deletes, before and after compaction; the back office reads them."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce

from invoices.enums import InvoiceStatus
from invoices.models import INVOICE_TOTALS, Invoice, InvoiceTotal, OverdueBookTotal
from invoices.selectors import invoice_counts_by_grade_and_status, invoice_overdue_book
from marketplace.enums import InvestmentStatus
from marketplace.models import INVESTMENT_TOTALS, Investment, InvestmentTotal
from marketplace.selectors import investment_outstanding_by_currency
from marketplace.services import investment_create
from paymint.core import clock
from paymint.core.tallies import TALLIES, tallies_compact, tally_compact
from tests.helpers import LISTING_DAY, deposit, list_mustang_invoice

D = Decimal

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="kept by PostgreSQL triggers"),
]


def fund(investor, listing, amount):
    deposit(investor, amount)
    with clock.frozen_at(LISTING_DAY):
        return investment_create(investor=investor, listing=listing, amount=D(amount))[0]


def investment_tally() -> dict:
    rows = InvestmentTotal.objects.values("status", "currency").annotate(
        n=Sum("investments"), a=Sum("amount"), p=Sum("principal_repaid"))
    return {(r["status"], r["currency"]): (r["n"], r["a"], r["p"]) for r in rows if r["n"]}


def investment_truth() -> dict:
    rows = Investment.objects.values("status", "currency").annotate(
        n=Count("id"), a=Sum("amount"), p=Sum("principal_repaid")).order_by()
    return {(r["status"], r["currency"]): (r["n"], r["a"], r["p"]) for r in rows}


def invoice_tally() -> dict:
    rows = InvoiceTotal.objects.values("status", "risk_grade", "currency").annotate(
        n=Sum("invoices"), f=Sum("face_value"))
    return {(r["status"], r["risk_grade"], r["currency"]): (r["n"], r["f"])
            for r in rows if r["n"]}


def invoice_truth() -> dict:
    rows = Invoice.objects.values("status", "risk_grade", "currency").annotate(
        n=Count("id"), f=Coalesce(Sum("face_value"), D(0))).order_by()
    return {(r["status"], r["risk_grade"], r["currency"]): (r["n"], r["f"]) for r in rows}


def test_tallies_are_registered():
    assert TALLIES["invoices_invoicetotal"] == INVOICE_TOTALS
    assert TALLIES["marketplace_investmenttotal"] == INVESTMENT_TOTALS
    assert "settlements_ledgerdaytotal" in TALLIES


@pytest.mark.parametrize("seed", [1, 2])
def test_tallies_equal_their_tables_after_random_changes_and_compaction(seed, seller,
                                                                      make_investor):
    rng = random.Random(seed)
    listing = list_mustang_invoice(seller)
    investments = [fund(make_investor(), listing, "100.00") for _ in range(4)]
    assert investment_tally() == investment_truth()
    assert invoice_tally() == invoice_truth()
    ids = [inv.pk for inv in investments]
    statuses = [InvestmentStatus.ACTIVE, InvestmentStatus.REFUNDED, InvestmentStatus.SETTLED]
    for _ in range(25):
        pick = rng.sample(ids, rng.randint(1, len(ids)))
        what = rng.random()
        if what < 0.4:  # many rows, one statement
            Investment.objects.filter(pk__in=pick).update(
                principal_repaid=F("principal_repaid") + D(rng.randrange(1, 500)) / 100)
        elif what < 0.7:
            Investment.objects.filter(pk__in=pick).update(status=rng.choice(statuses))
        elif what < 0.85:  # a column outside the tally: appends nothing
            before = InvestmentTotal.objects.count()
            Investment.objects.filter(pk__in=pick).update(request_fingerprint="x")
            assert InvestmentTotal.objects.count() == before
        else:
            invoice = listing.invoice
            Invoice.objects.filter(pk=invoice.pk).update(
                risk_grade=rng.choice("ABCD"), face_value=D(rng.randrange(1000, 9000)))
        assert investment_tally() == investment_truth()
        assert invoice_tally() == invoice_truth()
    # The invoice's status writer moves the tally too (a row trigger, WHEN the key changed).
    Invoice.objects.filter(pk=listing.invoice_id).update(status=InvoiceStatus.SETTLED)
    assert invoice_tally() == invoice_truth()

    removed = tallies_compact()
    assert removed["marketplace_investmenttotal"] > 0
    assert InvestmentTotal.objects.count() == len(
        InvestmentTotal.objects.values("status", "currency").distinct())
    assert tally_compact(INVESTMENT_TOTALS) == 0  # safe to run twice
    assert investment_tally() == investment_truth()
    assert invoice_tally() == invoice_truth()

    # The back office's reads from the tallies equal the tables summed.
    expected = {}
    for inv in Investment.objects.filter(status=InvestmentStatus.ACTIVE):
        expected[inv.currency] = expected.get(inv.currency, D(0)) + inv.amount \
            - inv.principal_repaid
    assert investment_outstanding_by_currency() == {c: v for c, v in expected.items()}
    financed = (InvoiceStatus.DISBURSED, InvoiceStatus.SETTLED)
    counts = Invoice.objects.filter(status__in=financed).exclude(risk_grade="") \
        .values("risk_grade", "status").annotate(n=Count("id")).order_by()
    assert invoice_counts_by_grade_and_status(statuses=financed) == {
        (r["risk_grade"], r["status"]): r["n"] for r in counts}


def test_deletes_are_tallied(seller, make_investor):
    listing = list_mustang_invoice(seller)
    invoice_count = Invoice.objects.count()
    assert invoice_tally() == invoice_truth()
    assert sum(n for n, _ in invoice_tally().values()) == invoice_count
    fund(make_investor(), listing, "100.00")
    Investment.objects.all().delete()
    assert investment_tally() == investment_truth() == {}


def overdue_tally() -> dict:
    rows = OverdueBookTotal.objects.values("status", "currency", "due_date").annotate(
        n=Sum("invoices"), f=Sum("face_value"))
    return {(r["status"], r["currency"], r["due_date"]): (r["n"], r["f"])
            for r in rows if r["n"]}


def overdue_truth() -> dict:
    rows = Invoice.objects.filter(status__in=(InvoiceStatus.OVERDUE, InvoiceStatus.DEFAULTED),
                                  due_date__isnull=False) \
        .values("status", "currency", "due_date").annotate(
            n=Count("id"), f=Coalesce(Sum("face_value"), D(0))).order_by()
    return {(r["status"], r["currency"], r["due_date"]): (r["n"], r["f"]) for r in rows}


@pytest.mark.parametrize("seed", [3, 4])
def test_overdue_book_tally_follows_invoices_in_and_out_of_the_book(seed, seller):
    rng = random.Random(seed)
    invoices = [list_mustang_invoice(seller).invoice]
    ids = [invoices[0].pk]
    statuses = [InvoiceStatus.OVERDUE, InvoiceStatus.DEFAULTED, InvoiceStatus.SETTLED,
                InvoiceStatus.DISBURSED]
    for _ in range(30):
        what = rng.random()
        if what < 0.5:
            Invoice.objects.filter(pk__in=ids).update(status=rng.choice(statuses))
        elif what < 0.7:
            Invoice.objects.filter(pk__in=ids).update(
                due_date=dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(60)))
        elif what < 0.85:
            Invoice.objects.filter(pk__in=ids).update(face_value=D(rng.randrange(100, 900)))
        else:
            Invoice.objects.filter(pk__in=ids).update(due_date=None)
        assert overdue_tally() == overdue_truth()
    tallies_compact()
    assert overdue_tally() == overdue_truth()
    expected = sorted((c, d, n, f) for (_s, c, d), (n, f) in overdue_truth().items())
    merged: dict = {}
    for currency, due, n, face in expected:
        count, total = merged.get((currency, due), (0, D(0)))
        merged[(currency, due)] = (count + n, total + face)
    assert invoice_overdue_book() == sorted((c, d, n, f) for (c, d), (n, f) in merged.items())
