"""Auto-invest rules: matching listings are funded through the funding service, within each
rule's limits, in a fair rotating order, once however often the run is repeated."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from accounts.models import KycProfile
from marketplace.models import Investment, Listing
from marketplace.services import listing_create
from notifications.models import Notification
from paymint.core import clock
from paymint.core.models import DomainEvent
from pools import tasks
from pools.enums import AutoInvestOutcome, AutoInvestSkip
from pools.models import AutoInvestLog, AutoInvestRule
from pools.services import AUTO_INVEST_KEY, auto_invest_listing, auto_invest_rule_set
from tests.factories import InvoiceFactory, mustang_listing
from tests.helpers import (
    LISTING_DAY,
    api_client_for,
    assert_books_balanced,
    deposit,
)

D = Decimal
pytestmark = pytest.mark.django_db


ALL_GRADES = ["A", "B", "C", "D", "E"]


def rule_for(investor, grade=None, **overrides):
    """A rule for ``grade`` (every grade by default: the Mustang invoice listed again scores
    another grade, its debtor being more concentrated)."""
    fields = {
        "currencies": ["EUR"],
        "grades": [grade] if grade else ALL_GRADES,
        "amount_per_invoice": D("100.00"),
        "max_per_debtor": D("1000.00"),
    }
    return auto_invest_rule_set(investor=investor, **{**fields, **overrides})


def run(listing):
    with clock.frozen_at(LISTING_DAY):
        return auto_invest_listing(listing_id=listing.pk)


@pytest.fixture
def listing(seller):
    return mustang_listing(seller)


def test_matching_rules_fund_through_the_funding_service(listing, make_investor):
    grade = listing.invoice.risk_grade
    a, b = make_investor(), make_investor()
    for person in (a, b):
        deposit(person, D("1000.00"))
        rule_for(person, grade)
    logs = run(listing)
    assert [log.outcome for log in logs] == [AutoInvestOutcome.INVESTED] * 2
    investments = Investment.objects.filter(listing=listing).order_by("id")
    assert [(i.investor_id, i.amount) for i in investments] == [(a.pk, D("100")), (b.pk, D("100"))]
    key = AUTO_INVEST_KEY.format(listing=listing.public_id)
    assert {i.idempotency_key for i in investments} == {key}
    # The quote is stored on the investment, the log names it and the rule as it was.
    log = AutoInvestLog.objects.get(investor=a, listing=listing)
    assert log.investment.expected_return > log.investment.amount
    assert log.rule_snapshot["amount_per_invoice"] == "100.0000000"
    listing.refresh_from_db()
    assert listing.funded_amount == D("200.00")
    # One event per investment (the funding's own), none for the auto-invest log.
    names = list(DomainEvent.objects.values_list("name", flat=True))
    assert names.count("investment.confirmed") == 2
    assert not [n for n in names if n.startswith("auto_invest")]
    assert_books_balanced()


def test_an_automatic_investment_is_one_notification_saying_the_rule_made_it(
    listing, make_investor, django_capture_on_commit_callbacks
):
    person = make_investor()
    deposit(person, D("1000.00"))
    rule_for(person, listing.invoice.risk_grade)
    with django_capture_on_commit_callbacks(execute=True):
        run(listing)
    with django_capture_on_commit_callbacks(execute=True):
        assert run(listing) == []  # a second run tells nobody again
    [note] = Notification.objects.filter(recipient=person)
    investment = Investment.objects.get(investor=person)
    assert note.name == "investment.confirmed"
    assert note.title.startswith("Auto-invest funded")
    assert "Your auto-invest rule invested 100.00 EUR" in note.body
    assert f"expected return {investment.expected_return:,.2f} EUR" in note.body
    assert [m.subject for m in mail.outbox] == [f"PayMint: {note.title}"]


def test_running_twice_invests_once(listing, make_investor):
    person = make_investor()
    deposit(person, D("1000.00"))
    rule_for(person, listing.invoice.risk_grade)
    run(listing)
    assert run(listing) == []
    assert Investment.objects.filter(listing=listing).count() == 1
    assert AutoInvestLog.objects.count() == 1


def test_rules_that_do_not_match_are_left_out(listing, make_investor):
    grade = listing.invoice.risk_grade
    other_grade = "A" if grade != "A" else "B"
    tenor = (listing.due_date - LISTING_DAY).days
    people = [make_investor() for _ in range(5)]
    for person in people:
        deposit(person, D("1000.00"))
    rule_for(people[0], other_grade)
    rule_for(people[1], grade, currencies=["USD"])
    rule_for(people[2], grade, min_tenor_days=tenor + 1, max_tenor_days=tenor + 30)
    rule_for(people[3], grade, min_discount_rate=listing.discount_rate + D("0.01"))
    rule_for(people[4], grade, paused=True)
    assert run(listing) == []
    assert not Investment.objects.exists()


def test_limits_cash_to_keep_debtor_cap_and_ticket(listing, make_investor):
    keeper, capped, short = make_investor(), make_investor(), make_investor()
    deposit(keeper, D("130.00"))
    rule_for(keeper, cash_to_keep=D("50.00"))  # 80 spendable: invests 80
    deposit(capped, D("1000.00"))
    rule_for(capped, amount_per_invoice=D("60.00"), max_per_debtor=D("60.00"))
    deposit(short, D("40.00"))
    rule_for(short)  # 40 < the 50 minimum ticket: skipped, nothing asked
    run(listing)
    amounts = dict(Investment.objects.values_list("investor_id", "amount"))
    assert amounts == {keeper.pk: D("80.00"), capped.pk: D("60.00")}
    skip = AutoInvestLog.objects.get(investor=short)
    assert (skip.outcome, skip.reason) == (
        AutoInvestOutcome.SKIPPED,
        AutoInvestSkip.AMOUNT_BELOW_MIN_TICKET,
    )
    # The capped investor's next listing of the same debtor: the cap is reached.
    second = mustang_listing(listing.invoice.seller, invoice_number="RE-2")
    run(second)
    log = AutoInvestLog.objects.get(investor=capped, listing=second)
    assert log.reason == AutoInvestSkip.DEBTOR_CAP_REACHED


def test_a_refusal_of_the_funding_service_is_logged_with_its_code(listing, make_investor):
    person = make_investor()
    deposit(person, D("1000.00"))
    rule_for(person, listing.invoice.risk_grade)
    # Not KYC-approved any more is the simplest refusal the funding service makes itself.
    KycProfile.objects.filter(user=person).update(status="REJECTED")
    run(listing)
    log = AutoInvestLog.objects.get(investor=person)
    assert (log.outcome, log.reason) == (AutoInvestOutcome.SKIPPED, "KYC_NOT_APPROVED")
    assert not Investment.objects.exists()


def test_the_fair_order_rotates_across_listings(seller, make_investor):
    listings = [mustang_listing(seller)] + [
        mustang_listing(seller, invoice_number=f"RE-{n}") for n in (2, 3, 4)
    ]
    advance = listings[0].advance_amount
    people = [make_investor() for _ in range(3)]
    for person in people:
        deposit(person, D("5000.00"))
        rule_for(person, amount_per_invoice=advance, max_per_debtor=D("5000.00"))
    first = []
    for listing in listings:
        run(listing)
        funders = list(
            Investment.objects.filter(listing=listing).values_list("investor_id", flat=True)
        )
        assert len(funders) == 1  # each rule takes the whole listing
        first.append(funders[0])
    pks = [p.pk for p in people]
    assert first == [pks[0], pks[1], pks[2], pks[0]]


def test_listing_create_enqueues_the_run_after_commit(
    seller, make_investor, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr(tasks.listing_opened_task, "delay", lambda *a: calls.append(a))
    invoice = InvoiceFactory(mustang=True, seller=seller)
    with clock.frozen_at(LISTING_DAY), django_capture_on_commit_callbacks(execute=True):
        listing = listing_create(invoice=invoice, seller=seller)
    assert calls == [(listing.pk,)]


def test_the_task_runs_the_rules(listing, make_investor):
    person = make_investor()
    deposit(person, D("1000.00"))
    rule_for(person, listing.invoice.risk_grade)
    with clock.frozen_at(LISTING_DAY):
        assert tasks.listing_opened_task(listing.pk) == 1
        assert tasks.open_listings_auto_invest_task() == 1
    assert Listing.objects.get(pk=listing.pk).funded_amount == D("100.00")


class TestRuleApi:
    BODY = {
        "currencies": ["EUR"],
        "grades": ["A", "B"],
        "amount_per_invoice": "100.00",
        "max_per_debtor": "500.00",
        "min_tenor_days": 10,
        "max_tenor_days": 90,
        "min_discount_rate": "0.08",
        "cash_to_keep": "20.00",
    }

    def test_put_get_and_pause(self, make_investor):
        client = api_client_for(make_investor())
        assert client.get("/api/v1/auto-invest").json()["code"] == "AUTO_INVEST_RULE_NOT_FOUND"
        response = client.put(
            "/api/v1/auto-invest", self.BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1"
        )
        assert response.status_code == 200, response.json()
        assert response.json()["grades"] == ["A", "B"]
        replay = client.put(
            "/api/v1/auto-invest", self.BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1"
        )
        assert replay.headers["Idempotent-Replayed"] == "true"
        paused = client.put("/api/v1/auto-invest", {**self.BODY, "paused": True}, format="json")
        assert paused.json()["paused"] is True
        assert client.get("/api/v1/auto-invest").json()["paused"] is True
        assert AutoInvestRule.objects.count() == 1

    @pytest.mark.parametrize(
        "change, field",
        [
            ({"grades": ["Z"]}, "grades"),
            ({"currencies": ["XXX"]}, "currencies"),
            ({"min_tenor_days": 100, "max_tenor_days": 10}, "max_tenor_days"),
            ({"max_per_debtor": "50.00"}, "max_per_debtor"),
        ],
    )
    def test_invalid_rules_are_refused_and_nothing_is_written(self, make_investor, change, field):
        client = api_client_for(make_investor())
        response = client.put("/api/v1/auto-invest", {**self.BODY, **change}, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "INVALID_AUTO_INVEST_RULE"
        assert field in response.json()["fields"]
        assert not AutoInvestRule.objects.exists()

    def test_sellers_and_unapproved_investors_are_refused(self, seller, make_investor):
        for user, code in (
            (seller, "NOT_AN_INVESTOR"),
            (make_investor(approved=False), "KYC_NOT_APPROVED"),
        ):
            response = api_client_for(user).put("/api/v1/auto-invest", self.BODY, format="json")
            assert (response.status_code, response.json()["code"]) == (403, code)
        assert not AutoInvestRule.objects.exists()

    def test_the_log_shows_only_the_investors_own_rows(self, listing, make_investor):
        mine, theirs = make_investor(), make_investor()
        for person in (mine, theirs):
            deposit(person, D("1000.00"))
            rule_for(person, listing.invoice.risk_grade)
        run(listing)
        rows = api_client_for(mine).get("/api/v1/auto-invest/log").json()["results"]
        assert len(rows) == 1
        own = Investment.objects.get(investor=mine)
        assert rows[0]["investment_id"] == str(own.public_id)
        assert rows[0]["outcome"] == "INVESTED"
        assert rows[0]["expected_return"] == f"{own.expected_return:.2f}"
