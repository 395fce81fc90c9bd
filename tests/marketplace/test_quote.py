"""The investment calculator (``GET /api/v1/marketplace/{id}/quote``, the listing page's) and
the quote rule: a quote is never more than what the investor is then paid when the debtor
pays in full on time - equal when the listing is disbursed on the day of the quote.

The rule (``invoices.pricing.investment_discount_fee``): each investment's discount fee is its
own principal x rate x days / 365, rounded once; the invoice's fee is their sum. The old rule -
the invoice's fee rounded once and split by largest remainder - paid some investors a cent less
than quoted (the demo: quoted 200.88, paid 200.87); ``test_the_old_rule_breaks_quotes`` shows
the random cases below catch it.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.test import TestCase

from invoices.pricing import accrual_days, discount_fee_exact, investment_quote
from marketplace.models import Investment
from marketplace.services import investment_create
from marketplace.web_selectors import listing_quote
from paymint.core import clock
from paymint.core.money import allocate, quantize_money
from settlements.enums import AccountKind
from settlements.ledger.posting import account_balance, ledger_account
from settlements.services import bank_event_apply
from settlements.waterfall import InvestorClaim, settlement_waterfall
from tests.factories import mustang_listing
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    api_client_for,
    assert_books_balanced,
    bank_event,
    db_counts,
    deposit,
)

D = Decimal
CENT = D("0.01")


def random_tickets(rng: random.Random, total: D, *, minimum: D = D("50.00")) -> list[D]:
    """Split ``total`` into 2-6 random tickets of at least ``minimum``, in cents: each gets the
    minimum and the rest is cut at random points."""
    count = max(min(rng.randint(2, 6), int(total // minimum)), 1)
    spare = int((total - minimum * count) * 100)
    cuts = sorted(rng.randint(0, spare) for _ in range(count - 1))
    edges = [0, *cuts, spare]
    return [minimum + D(b - a) / 100 for a, b in zip(edges[:-1], edges[1:], strict=True)]


# --- the rule, on many random fractions (pure) -------------------------------------------------


def paid_on_time(tickets: list[D], rate: D, days: int, face: D) -> dict[int, D]:
    """What the real disbursement and settlement pay each ticket when the debtor pays ``face``
    on the due date: the fees fixed at disbursement by the service's rule, then the waterfall."""
    claims = {
        i: InvestorClaim(
            principal=t,
            discount_fee=investment_quote(
                principal=t,
                currency="EUR",
                discount_rate=rate,
                start=LISTING_DAY,
                due_date=LISTING_DAY + dt.timedelta(days=days),
            ).expected_discount_fee,
        )
        for i, t in enumerate(tickets)
    }
    result = settlement_waterfall(repaid=face, currency="EUR", claims=claims)
    return {i: p.total for i, p in result.investors.items()}


def old_rule_paid(tickets: list[D], rate: D, days: int) -> dict[int, D]:
    total = quantize_money(discount_fee_exact(sum(tickets), rate, days), "EUR")
    shares = allocate(total, dict(enumerate(tickets)), "EUR")
    return {i: t + shares[i] for i, t in enumerate(tickets)}


def random_cases(count: int, seed: int = 11):
    rng = random.Random(seed)
    for _ in range(count):
        advance = D(rng.randint(20_000, 5_000_000)) / 100
        rate = D(rng.randint(1_000, 250_000)) / 1_000_000  # 0.1 % .. 25 % a year
        days = rng.randint(1, 180)
        yield random_tickets(rng, advance), rate, days, advance


def test_quotes_equal_payouts_on_random_fractions():
    checked = 0
    for tickets, rate, days, advance in random_cases(3000):
        face = advance * D("1.2")
        quotes = [
            investment_quote(
                principal=t,
                currency="EUR",
                discount_rate=rate,
                start=LISTING_DAY,
                due_date=LISTING_DAY + dt.timedelta(days=days),
            )
            for t in tickets
        ]
        paid = paid_on_time(tickets, rate, days, quantize_money(face, "EUR"))
        assert [q.expected_return for q in quotes] == [paid[i] for i in range(len(tickets))]
        checked += len(tickets)
    assert checked > 6000


def test_the_old_rule_breaks_quotes():
    """The random cases above would have caught the old rule: a quote above the payout."""
    broken = 0
    for tickets, rate, days, _ in random_cases(3000):
        old = old_rule_paid(tickets, rate, days)
        for i, ticket in enumerate(tickets):
            quoted = ticket + quantize_money(discount_fee_exact(ticket, rate, days), "EUR")
            broken += quoted > old[i]
    assert broken > 100


# --- the API and the page use one selector ------------------------------------------------


@pytest.fixture
def listing(seller):
    """The Mustang invoice's listing (513.94 EUR for 20 days), made by factories."""
    return mustang_listing(seller)


@pytest.fixture
def investor(make_investor):
    return make_investor()


@pytest.mark.django_db
class TestQuoteApi:
    def test_quote_is_what_funding_would_store(self, listing, investor):
        client = api_client_for(investor)
        before = db_counts()
        with clock.frozen_at(LISTING_DAY):
            response = client.get(
                f"/api/v1/marketplace/{listing.public_id}/quote", {"amount": "313.94"}
            )
        assert response.status_code == 200, response.json()
        assert response.json() == {
            "listing_id": str(listing.public_id),
            "principal": "313.94",
            "currency": "EUR",
            "discount_rate": "0.080000",
            "days": 20,
            # 313.94 x 0.08 x 20 / 365 = 1.3762 -> 1.38
            "expected_discount_fee": "1.38",
            "expected_return": "315.32",
            "expected_repayment_date": "2020-12-12",
        }
        assert db_counts() == before
        deposit(investor, "313.94")
        with clock.frozen_at(LISTING_DAY):
            investment, _ = investment_create(investor=investor, listing=listing, amount="313.94")
        assert (
            f"{investment.expected_discount_fee:.2f}",
            f"{investment.expected_return:.2f}",
            investment.expected_days,
        ) == ("1.38", "315.32", 20)

    def test_the_page_shows_the_same_quote(self, listing, investor, client):
        client.force_login(investor)
        with clock.frozen_at(LISTING_DAY):
            page = client.get(
                f"/marketplace/{listing.public_id}/", {"amount": "313.94"}, HTTP_HX_REQUEST="true"
            )
        assert page.status_code == 200
        assert "315.32" in page.content.decode()

    @pytest.mark.parametrize("amount", ["", "abc", "-5", "0", "10.001", "NaN"])
    def test_invalid_amount(self, listing, investor, amount):
        response = api_client_for(investor).get(
            f"/api/v1/marketplace/{listing.public_id}/quote", {"amount": amount}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "INVALID_AMOUNT"
        assert "amount" in response.json()["fields"]

    def test_refusals(self, listing, seller, make_investor):
        url = f"/api/v1/marketplace/{listing.public_id}/quote?amount=100"
        assert api_client_for(seller).get(url).json()["code"] == "NOT_AN_INVESTOR"
        pending = make_investor(approved=False)
        assert api_client_for(pending).get(url).json()["code"] == "KYC_NOT_APPROVED"
        investor = make_investor()
        missing = api_client_for(investor).get(
            "/api/v1/marketplace/00000000-0000-0000-0000-000000000000/quote?amount=100"
        )
        assert (missing.status_code, missing.json()["code"]) == (404, "LISTING_NOT_FOUND")
        from rest_framework.test import APIClient

        assert APIClient().get(url).status_code == 401

    def test_selector_parses_amount_like_the_funding(self, listing):
        with clock.frozen_at(LISTING_DAY):
            quote = listing_quote(listing=listing, amount="100")
        assert (quote.principal, quote.expected_return) == (D("100"), D("100.44"))


# --- against the real disbursement and settlement ------------------------------------------


def _listed(seller, number: int):
    """A listing of a factory invoice with the Mustang invoice's figures but a face value of
    571.04 + ``number`` EUR (reading the document is not the point)."""
    face = D("571.04") + number
    return mustang_listing(seller, invoice_number=f"QUOTE-{number}", face_value=face), face


def _cash(user) -> D:
    return account_balance(ledger_account(AccountKind.INVESTOR_CASH, "EUR", owner=user))


@pytest.mark.django_db
def test_random_fractions_are_paid_exactly_as_quoted(seller, make_investor):
    """Random splits of real listings, funded through the service, disbursed, repaid in full on
    the due date through the bank webhook's service and the settlement: each investor's
    payout is their quote to the cent; a listing filled two days after some quotes pays those
    investors the fee for the fewer days - less than quoted, never more."""
    rng = random.Random(2026)
    people = [make_investor() for _ in range(6)]
    for person in people:
        deposit(person, "10000.00")
    for number in range(5):
        listing, face = _listed(seller, number)
        tickets = random_tickets(rng, listing.advance_amount)
        late_fill = number == 4
        quotes = []
        for index, ticket in enumerate(tickets):
            day = LISTING_DAY + dt.timedelta(
                days=2 if late_fill and index == len(tickets) - 1 else 0
            )
            with clock.frozen_at(day):
                quotes.append(listing_quote(listing=listing, amount=str(ticket)))
                investment_create(investor=people[index], listing=listing, amount=ticket)
        before = [_cash(p) for p in people[: len(tickets)]]
        with clock.frozen_at(MUSTANG_DUE), TestCase.captureOnCommitCallbacks(execute=True):
            bank_event_apply(
                payload=bank_event(
                    f"evt_quote_{number}",
                    "repayment.received",
                    listing.invoice.repayment_reference,
                    face,
                )
            )
        investments = list(Investment.objects.filter(listing=listing).order_by("id"))
        assert all(inv.status == "SETTLED" for inv in investments)
        for index, (quote, inv) in enumerate(zip(quotes, investments, strict=True)):
            received = _cash(people[index]) - before[index]
            assert received == inv.repaid_amount
            if late_fill:
                days = accrual_days(LISTING_DAY + dt.timedelta(days=2), MUSTANG_DUE)
                assert received <= quote.expected_return
                assert received == quote.principal + quantize_money(
                    discount_fee_exact(quote.principal, quote.discount_rate, days), "EUR"
                )
            else:
                assert received == quote.expected_return == inv.expected_return
        assert_books_balanced()
