"""manage.py verify_books (settlements/services/books.py): green on real books, and each
check finds the difference it is about, exits 1 and raises one compliance alert."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction

from compliance.models import ComplianceAlert
from marketplace.models import Investment, Listing
from paymint.core import clock
from settlements import tasks
from settlements.models import Posting, Settlement
from settlements.services import books_verify
from tests.helpers import MUSTANG_DUE
from tests.settlements.test_distribution import funded_and_repaid

D = Decimal

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    ids: list[int] = []
    monkeypatch.setattr(tasks.settlement_execute_task, "delay", ids.append)
    return ids


@pytest.fixture
def settled(seller, make_investor, queued):
    """An invoice funded by two investors, disbursed, repaid and settled."""
    settlement = funded_and_repaid(
        seller, [make_investor(), make_investor()], number=7, queued=queued
    )
    with clock.frozen_at(MUSTANG_DUE):
        tasks.settlement_execute_task(settlement.pk)
    settlement.refresh_from_db()
    assert settlement.status == "COMPLETED"
    return settlement


def run(*args) -> tuple[int, dict]:
    """verify_books --json: (exit status, report)."""
    out = io.StringIO()
    try:
        call_command("verify_books", "--json", *args, stdout=out)
        status = 0
    except SystemExit as exc:
        status = exc.code
    return status, json.loads(out.getvalue())


def test_real_books_are_green_and_raise_nothing(settled):
    status, report = run()
    assert (status, report["ok"], report["findings"]) == (0, True, [])
    assert report["counts"]["entries"] >= 6
    assert report["counts"]["listings"] == 1
    assert report["counts"]["investments"] == 2
    assert report["counts"]["settlements"] == 1
    assert not ComplianceAlert.objects.exists()


def test_a_listing_whose_funded_amount_differs_from_its_investments_is_found(settled):
    listing = Listing.objects.get(invoice=settled.invoice)
    Listing.objects.filter(pk=listing.pk).update(funded_amount=listing.funded_amount - 1)
    status, report = run()
    assert status == 1
    assert [(f["check"], f["key"]) for f in report["findings"]] == [
        ("listing_funded", str(listing.public_id))
    ]
    alert = ComplianceAlert.objects.get()
    assert (alert.kind, alert.severity) == ("RECONCILIATION", "HIGH")
    assert alert.dedupe_key == f"books:listing_funded:{listing.public_id}"
    run()  # the daily run again: the open finding is not raised twice
    assert ComplianceAlert.objects.count() == 1


def test_an_investment_larger_than_its_funding_entry_is_found(settled):
    investment = Investment.objects.filter(listing__invoice=settled.invoice).first()
    Investment.objects.filter(pk=investment.pk).update(amount=investment.amount + 1)
    status, report = run("--no-alert")
    checks = sorted(f["check"] for f in report["findings"])
    assert status == 1 and checks == ["investment_funding", "listing_funded"]
    assert not ComplianceAlert.objects.exists()


def test_a_settlement_out_of_step_with_its_entry_is_found(settled):
    Settlement.objects.filter(pk=settled.pk).update(repaid_amount=settled.repaid_amount + 1)
    status, report = run()
    assert status == 1
    assert report["findings"][0]["check"] == "settlement"
    assert report["findings"][0]["detail"]["entry_debit"] == str(settled.repaid_amount)
    Settlement.objects.filter(pk=settled.pk).update(
        repaid_amount=settled.repaid_amount, status="PENDING"
    )
    status, report = run("--no-alert")
    assert status == 1 and report["findings"][0]["detail"]["has_entry"] is True


def test_an_unbalanced_entry_and_trial_balance_are_found(settled):
    """Seen inside the transaction that wrote the bad leg (PostgreSQL refuses it at commit)."""
    entry = settled.entry
    with transaction.atomic():
        Posting.objects.create(
            entry=entry,
            leg=99,
            account=entry.postings.first().account,
            amount=D("0.01"),
            currency="EUR",
        )
        report = books_verify(alert=False)
        transaction.set_rollback(True)
    assert sorted((f.check, f.key) for f in report.findings) == [
        ("entry_unbalanced", entry.idempotency_key),
        ("trial_balance", "EUR"),
    ]


def test_since_limits_the_per_row_checks(settled):
    listing = Listing.objects.get(invoice=settled.invoice)
    Listing.objects.filter(pk=listing.pk).update(funded_amount=0)
    status, report = run("--since", "2999-01-01")
    assert (status, report["counts"]["entries"], report["counts"]["listings"]) == (0, 0, 0)
    status, _ = run("--since", "2000-01-01")
    assert status == 1


def test_the_daily_task_counts_the_findings(settled):
    assert tasks.books_verify_task() == 0
    Settlement.objects.filter(pk=settled.pk).update(status="PENDING")
    assert tasks.books_verify_task() == 1
