"""The investor's pages: marketplace with filters, listing detail with the calculator, the
two-step invest flow (idempotent confirmation), the portfolio."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils.html import escape

from marketplace.models import Investment
from tests.helpers import deposit, listed_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def listing(seller):
    return listed_invoice(seller)


@pytest.fixture
def investor(make_investor):
    investor = make_investor()
    deposit(investor, "1000.00")
    return investor


def test_marketplace_lists_filters_and_sorts(listing, investor, login, business_day):
    client = login(investor)
    page = client.get(reverse("marketplace"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Theodor Est" in html
    assert reverse("listing-detail", args=[listing.public_id]) in html
    assert f"{listing.remaining_amount:,.2f} EUR" in html
    assert "<progress" in html

    grade = listing.invoice.risk_grade
    other_grade = "A" if grade != "A" else "B"
    assert "Theodor Est" in client.get(reverse("marketplace"), {"grade": grade}).content.decode()
    assert (
        "Theodor Est"
        not in client.get(reverse("marketplace"), {"grade": other_grade}).content.decode()
    )
    assert (
        "Theodor Est"
        not in client.get(reverse("marketplace"), {"currency": "USD"}).content.decode()
    )
    assert (
        "Theodor Est"
        in client.get(
            reverse("marketplace"),
            {
                "tenor_min": "10",
                "tenor_max": "30",
                "sort": "tenor",
                "amount_min": "100",
                "amount_max": "1000",
            },
        ).content.decode()
    )
    assert (
        "Theodor Est"
        not in client.get(reverse("marketplace"), {"tenor_min": "25"}).content.decode()
    )
    assert (
        "Theodor Est"
        not in client.get(reverse("marketplace"), {"amount_min": "5000"}).content.decode()
    )

    bad = client.get(reverse("marketplace"), {"tenor_min": "30", "tenor_max": "10"})
    assert bad.status_code == 200
    assert bad.context["form"].errors["tenor_max"]

    # htmx asks for the rows only.
    fragment = client.get(reverse("marketplace"), {"sort": "yield"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content
    assert b"Theodor Est" in fragment.content


def test_listing_detail_and_calculator(listing, investor, login, business_day):
    client = login(investor)
    url = reverse("listing-detail", args=[listing.public_id])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Why this grade" not in html  # that's the seller's wording
    for factor in listing.invoice.risk_factors:
        assert escape(factor["label"]) in html
        assert escape(factor["detail"]) in html
    # Checks: each outcome in the investor's wording, never the text written for the seller.
    assert [c["code"] for c in page.context["checks"]] == [
        c["code"] for c in listing.invoice.verification
    ]
    for check in page.context["checks"]:
        assert escape(check["message"]) in html
    assert "your KYB" in str(listing.invoice.verification)  # the seller's wording is stored
    assert "your KYB" not in html and "your company" not in html
    assert 'hx-get="' in html

    page = client.get(url, {"amount": "100"})
    quote = page.context["quote"]
    assert quote.principal == Decimal("100")
    assert quote.days == 20  # 22 Nov -> 12 Dec 2020
    assert f"{quote.expected_return:,.2f} EUR" in page.content.decode()

    fragment = client.get(url, {"amount": "100"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content
    assert f"{quote.expected_return:,.2f} EUR".encode() in fragment.content

    fragment = client.get(url, {"amount": "-5"}, HTTP_HX_REQUEST="true")
    assert b"Enter a positive amount" in fragment.content or b"greater than" in fragment.content


def test_invest_needs_confirmation_and_is_idempotent(listing, investor, login, business_day):
    client = login(investor)
    url = reverse("listing-invest", args=[listing.public_id])

    confirm = client.post(url, {"amount": "100.00"})
    assert confirm.status_code == 200
    assert not Investment.objects.exists()  # nothing happens before confirmation
    key = confirm.context["idempotency_key"]
    html = confirm.content.decode()
    assert f'name="idempotency_key" value="{key}"' in html
    assert 'name="confirm" value="1"' in html
    assert "Confirm and invest 100.00 EUR" in html

    data = {"amount": "100.00", "confirm": "1", "idempotency_key": key}
    first = client.post(url, data)
    assert first.status_code == 302
    assert first["Location"] == reverse("investor-dashboard")
    second = client.post(url, data)  # a double click
    assert second.status_code == 302
    investment = Investment.objects.get()
    assert investment.amount == Decimal("100.00")
    assert investment.idempotency_key == key

    dashboard = client.get(reverse("investor-dashboard"))
    html = dashboard.content.decode()
    assert "100.00 EUR" in html
    assert f"{investment.expected_return:,.2f} EUR" in html
    assert "900.00 EUR" in html  # cash left
    assert investor.deposit_reference in html
    assert reverse("marketplace") in html
    listing.refresh_from_db()
    assert listing.funded_amount == Decimal("100")


def test_invest_errors_are_shown_and_write_nothing(listing, make_investor, login, business_day):
    poor = make_investor()
    client = login(poor)
    url = reverse("listing-invest", args=[listing.public_id])
    confirm = client.post(url, {"amount": "100"})
    key = confirm.context["idempotency_key"]
    response = client.post(url, {"amount": "100", "confirm": "1", "idempotency_key": key})
    assert response.status_code == 400
    form = response.context["invest_form"]
    assert form.non_field_errors()
    assert not Investment.objects.exists()

    too_many_decimals = client.post(url, {"amount": "10.001"})
    assert too_many_decimals.status_code == 400
    assert too_many_decimals.context["invest_form"].errors["amount"]

    tampered = client.post(url, {"amount": "100", "confirm": "1"})  # no key
    assert tampered.status_code == 400
    assert not Investment.objects.exists()


def test_only_investors_can_invest(listing, seller, login, business_day):
    client = login(seller)
    url = reverse("listing-invest", args=[listing.public_id])
    assert client.post(url, {"amount": "100"}).status_code == 403
    assert client.get(reverse("investor-dashboard")).status_code == 403


def test_unknown_listing_is_404(investor, login):
    client = login(investor)
    url = reverse("listing-detail", args=["00000000-0000-0000-0000-000000000000"])
    assert client.get(url).status_code == 404


def test_active_filters_show_as_chips_that_each_remove_one(listing, investor, login,
                                                          business_day):
    client = login(investor)
    query = {"grade": ["A", "B"], "currency": "EUR", "amount_min": "100", "tenor_max": "30",
             "sort": "tenor", "page": "1"}
    html = client.get(reverse("marketplace"), query).content.decode()
    chips = re.findall(r'<a class="chip" href="([^"]*)"><span>([^<]*)</span>', html)
    labels = [label for _, label in chips]
    assert labels == ["Grade A", "Grade B", "Currency EUR", "Tenor up to 30 days",
                      "Amount left from 100.00 EUR"]
    removes = {label: parse_qs(urlsplit(unescape(href)).query) for href, label in chips}
    # Each chip's link keeps every other filter (and the sort), drops only its own, and the page.
    assert removes["Grade A"] == {"grade": ["B"], "currency": ["EUR"], "amount_min": ["100"],
                                  "tenor_max": ["30"], "sort": ["tenor"]}
    assert "currency" not in removes["Currency EUR"]
    assert removes["Currency EUR"]["grade"] == ["A", "B"]
    assert "amount_min" not in removes["Amount left from 100.00 EUR"]
    assert 'aria-label="Active filters"' in html

    # Without a currency filter an amount applies to any currency, and says so.
    html = client.get(reverse("marketplace"), {"amount_max": "5000"}).content.decode()
    assert "Amount left up to 5,000.00 (any currency)" in html

    # htmx refreshes the results and the chips together.
    fragment = client.get(reverse("marketplace"), {"grade": "A"}, HTTP_HX_REQUEST="true")
    assert b'class="chip"' in fragment.content
    # Invalid filters: their errors show, no chips.
    bad = client.get(reverse("marketplace"), {"tenor_min": "30", "tenor_max": "10"})
    assert b'class="chip"' not in bad.content
    assert b'class="chip"' not in client.get(reverse("marketplace")).content
