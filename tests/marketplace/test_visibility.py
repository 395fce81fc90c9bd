"""Who may read the marketplace: investors whose KYC is approved, and staff - on every read path
of the API and the dashboards (list, filters/search, htmx fragments, detail, calculator, the
invest form). Sellers (the listing's own seller included), investors without an approved KYC
and anonymous visitors are refused; sellers follow their own listing on their invoice's pages.
Investors read the invoice's checks in neutral words, never the messages written for the
seller."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape, strip_tags

from accounts.selectors import kyc_profile_for_user
from accounts.services import kyc_reject, user_register
from invoices.verification import INVESTOR_WORDING, checks_for_investors
from marketplace.services import investment_create
from paymint.core import clock
from tests.factories import ListingFactory
from tests.helpers import (
    LISTING_DAY,
    STRONG_PASSWORD,
    api_client_for,
    db_counts,
    deposit,
    listed_invoice,
)

pytestmark = pytest.mark.django_db

#: Words addressed to the seller in the stored check messages ("matches your KYB").
SELLER_WORDING = ("your KYB", "your company", "you ")


@pytest.fixture
def listing(seller):
    """An open listing of ``seller``, made on :data:`LISTING_DAY` from a factory invoice (who
    may read it does not depend on what a document said), graded A and with the debtor's
    industry (declared by the seller), so that every filter below matches it."""
    with clock.frozen_at(LISTING_DAY):
        return ListingFactory(seller=seller, invoice__debtor_industry="C", invoice__risk_grade="A",
                              invoice__risk_score=85)


@pytest.fixture
def checked_listing(seller):
    """The Mustang invoice listed: read, verified and scored, so that it carries the stored
    verification checks (the seller's wording) that investors must read neutrally."""
    return listed_invoice(seller)


@pytest.fixture
def people(seller, make_investor, staff):
    """Every kind of account, keyed by how the marketplace treats it."""
    other_seller = user_register(email="other-seller@example.com", password=STRONG_PASSWORD,
                                 role="SELLER")
    no_kyc = user_register(email="no-kyc@example.com", password=STRONG_PASSWORD,
                           role="INVESTOR")
    rejected = make_investor(approved=False, email="rejected@example.com")
    kyc_reject(profile=kyc_profile_for_user(user=rejected), reviewer=staff,
               reason="Document unreadable")
    return {
        "own seller": seller,
        "other seller": other_seller,
        "investor, KYC pending": make_investor(approved=False, email="pending@example.com"),
        "investor, no KYC": no_kyc,
        "investor, KYC rejected": rejected,
        "approved investor": make_investor(email="approved@example.com"),
        "staff": staff,
    }


REFUSED = {
    "own seller": "NOT_AN_INVESTOR",
    "other seller": "NOT_AN_INVESTOR",
    "investor, KYC pending": "KYC_NOT_APPROVED",
    "investor, no KYC": "KYC_NOT_APPROVED",
    "investor, KYC rejected": "KYC_NOT_APPROVED",
}
ALLOWED = ("approved investor", "staff")


def api_reads(listing) -> list[str]:
    """Every API read path of the marketplace."""
    return [
        "/api/v1/marketplace",
        "/api/v1/marketplace?grade=A&currency=EUR&min_tenor=1&max_tenor=90&min_amount=1"
        "&max_amount=100000&min_yield=0.01&industry=C",
        f"/api/v1/marketplace/{listing.public_id}",
    ]


def web_reads(listing) -> list[tuple[str, dict, dict, str]]:
    """Every dashboard read of the marketplace: (path, query, headers, what a reader sees)."""
    detail = reverse("listing-detail", args=[listing.public_id])
    debtor = escape(listing.invoice.debtor_name)
    htmx = {"HTTP_HX_REQUEST": "true"}
    return [
        (reverse("marketplace"), {}, {}, debtor),
        (reverse("marketplace"), {"grade": "A", "currency": "EUR", "industry": "C",
                                  "yield_min": "1", "sort": "amount"}, {}, debtor),
        (reverse("marketplace"), {"sort": "yield"}, htmx, debtor),  # the filter form's fragment
        (detail, {}, {}, debtor),
        (detail, {"amount": "100"}, {}, "Expected back"),
        (detail, {"amount": "100"}, htmx, "Expected back"),  # the calculator's fragment
    ]


def private_to_the_listing(listing) -> list[str]:
    """What a refused user must not read (a page may echo its own URL, so not the id)."""
    invoice = listing.invoice
    return [invoice.debtor_name, invoice.invoice_number]


# --- API ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", list(REFUSED))
def test_api_refuses_sellers_and_investors_without_approved_kyc(who, people, listing):
    client = api_client_for(people[who])
    with clock.frozen_at(LISTING_DAY):
        for path in api_reads(listing):
            response = client.get(path)
            assert response.status_code == 403, (path, response.content)
            assert response.json() == {"code": REFUSED[who], "message": response.json()["message"],
                                       "fields": {}}
            body = response.content.decode()
            assert not any(m in body for m in [*private_to_the_listing(listing),
                                               str(listing.public_id)])
        # Refused before any input is read or any id looked up: an invalid filter and an
        # unknown id answer the same 403, not 400/404.
        assert client.get("/api/v1/marketplace?grade=Z").json()["code"] == REFUSED[who]
        assert client.get(f"/api/v1/marketplace/{uuid.uuid4()}").json()["code"] == REFUSED[who]
        before = db_counts()
        response = client.post(f"/api/v1/marketplace/{listing.public_id}/investments",
                               {"amount": "100.00"}, format="json")
        assert (response.status_code, response.json()["code"]) == (403, REFUSED[who])
        assert db_counts() == before


def test_api_refuses_anonymous_callers(listing):
    client = Client()
    for path in api_reads(listing):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json()["code"] == "NOT_AUTHENTICATED"


@pytest.mark.parametrize("who", ALLOWED)
def test_api_answers_approved_investors_and_staff(who, people, listing):
    client = api_client_for(people[who])
    with clock.frozen_at(LISTING_DAY):
        for path in api_reads(listing):
            response = client.get(path)
            assert response.status_code == 200, (path, response.content)
            assert str(listing.public_id) in response.content.decode(), path


def test_a_filled_listing_stays_visible_to_its_investors_and_staff(people, listing,
                                                                    make_investor):
    investor, outsider = people["approved investor"], make_investor(email="late@example.com")
    deposit(investor, "1000.00")
    path = f"/api/v1/marketplace/{listing.public_id}"
    with clock.frozen_at(LISTING_DAY):
        investment_create(investor=investor, listing=listing, amount=listing.advance_amount)
        assert api_client_for(investor).get(path).status_code == 200
        assert api_client_for(people["staff"]).get(path).status_code == 200
        response = api_client_for(outsider).get(path)
        assert (response.status_code, response.json()["code"]) == (404, "LISTING_NOT_FOUND")


# --- Dashboards -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", list(REFUSED))
def test_pages_refuse_sellers_and_investors_without_approved_kyc(who, people, listing):
    client = Client()
    client.force_login(people[who])
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        for path, query, headers, marker in web_reads(listing):
            response = client.get(path, query, **headers)
            assert response.status_code == 403, (path, query, headers)
            assert [t.name for t in response.templates][0] == "marketplace/no_access.html"
            html = response.content.decode()
            assert marker not in html, path
            assert not any(escape(m) in html for m in private_to_the_listing(listing)), path
            if REFUSED[who] == "KYC_NOT_APPROVED":
                assert f'href="{reverse("kyc")}"' in html  # what to do: the KYC page
            else:
                assert f'href="{reverse("seller-dashboard")}"' in html  # their own invoices
        # The invest form's first step renders the listing's terms: refused too.
        before = db_counts()
        response = client.post(reverse("listing-invest", args=[listing.public_id]),
                               {"amount": "100"})
        assert response.status_code == 403
        assert escape(listing.invoice.debtor_name) not in response.content.decode()
        assert db_counts() == before


def test_the_refusal_page_says_what_to_do(people, listing):
    expectations = {
        "investor, no KYC": "Complete your KYC",
        "investor, KYC pending": "being reviewed",
        "investor, KYC rejected": "was not accepted",
        "other seller": "open to investors only",
    }
    for who, text in expectations.items():
        client = Client()
        client.force_login(people[who])
        assert text in client.get(reverse("marketplace")).content.decode(), who


def test_pages_send_anonymous_visitors_to_sign_in(listing):
    client = Client()
    for path, query, headers, _ in web_reads(listing):
        response = client.get(path, query, **headers)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    response = client.post(reverse("listing-invest", args=[listing.public_id]), {"amount": "1"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("who", ALLOWED)
def test_pages_answer_approved_investors_and_staff(who, people, listing):
    client = Client()
    client.force_login(people[who])
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        for path, query, headers, marker in web_reads(listing):
            response = client.get(path, query, **headers)
            assert response.status_code == 200, (path, query, headers)
            assert marker in response.content.decode(), (path, query, headers)


def test_sellers_do_not_get_a_marketplace_link(people):
    client = Client()
    client.force_login(people["own seller"])
    html = client.get(reverse("seller-dashboard")).content.decode()
    assert f'href="{reverse("marketplace")}"' not in html


# --- The seller's own listing ---------------------------------------------------------------


def test_seller_follows_the_own_listing_on_the_invoice_pages(people, listing):
    seller, investor = people["own seller"], people["approved investor"]
    deposit(investor, "1000.00")
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        investment_create(investor=investor, listing=listing, amount="100.00")
        body = api_client_for(seller).get(f"/api/v1/invoices/{listing.invoice.public_id}").json()
        assert body["listing"]["id"] == str(listing.public_id)
        assert (body["listing"]["funded_amount"], body["listing"]["investor_count"]) == (
            "100.00", 1)
        client = Client()
        client.force_login(seller)
        page = client.get(reverse("seller-invoice", args=[listing.invoice.public_id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<progress" in html
    # As read on the page (the figures sit in elements the live updates rewrite).
    text = " ".join(strip_tags(html).split())
    assert f"100.00 EUR of {listing.advance_amount:,.2f} EUR funded by 1 investor" in text


# --- Checks in the investor's words ---------------------------------------------------------


def test_listing_shows_investors_neutral_checks(people, checked_listing):
    listing = checked_listing
    stored = listing.invoice.verification
    assert any(w in c["message"] for c in stored for w in SELLER_WORDING), stored
    seller_only = [c["message"] for c in stored if any(w in c["message"] for w in SELLER_WORDING)]
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        body = api_client_for(people["approved investor"]).get(
            f"/api/v1/marketplace/{listing.public_id}").json()
        client = Client()
        client.force_login(people["approved investor"])
        html = client.get(reverse("listing-detail", args=[listing.public_id])).content.decode()
    assert body["verification"] == checks_for_investors(stored)
    assert [(c["code"], c["passed"]) for c in body["verification"]] == [
        (c["code"], c["passed"]) for c in stored]
    for check in body["verification"]:
        assert not any(w in check["message"] for w in SELLER_WORDING), check
        assert escape(check["message"]) in html
    for message in seller_only:
        assert message not in json.dumps(body["verification"])
        assert escape(message) not in html
    # The seller still reads the checks written for them on their own page.
    seller = Client()
    seller.force_login(people["own seller"])
    own = seller.get(reverse("seller-invoice", args=[listing.invoice.public_id]))
    assert escape(seller_only[0]) in own.content.decode()


def test_checks_for_investors_words_each_outcome_by_code():
    stored = [
        {"code": "ISSUER_TAX_ID_MISMATCH", "passed": True, "blocking": True,
         "message": "Issuer tax id matches your KYB.", "field": "issuer_tax_id"},
        {"code": "ISSUER_TAX_ID_MISMATCH", "passed": False, "blocking": True,
         "message": "The issuer's tax id on the invoice is not your company's.",
         "field": "issuer_tax_id"},
        {"code": "INVALID_DEBTOR_TAX_ID", "passed": True, "blocking": False,
         "message": "No tax id on the invoice.", "field": "debtor_tax_id"},
        {"code": "INVALID_DEBTOR_TAX_ID", "passed": False, "blocking": False,
         "message": "Tax id XX123 could not be validated.", "field": "debtor_tax_id"},
        {"code": "SOMETHING_NEW", "passed": False, "blocking": False,
         "message": "Please upload your contract.", "field": None},
    ]
    shown = checks_for_investors(stored)
    assert [c["message"] for c in shown] == [
        INVESTOR_WORDING["ISSUER_TAX_ID_MISMATCH"][0],
        INVESTOR_WORDING["ISSUER_TAX_ID_MISMATCH"][1],
        "No debtor tax id on the invoice.",
        INVESTOR_WORDING["INVALID_DEBTOR_TAX_ID"][1],
        "Check not passed.",  # an unknown code never shows its (seller-worded) message
    ]
    assert [(c["code"], c["passed"], c["blocking"], c["field"]) for c in shown] == [
        (c["code"], c["passed"], c["blocking"], c["field"]) for c in stored]
    for text in (m for pair in INVESTOR_WORDING.values() for m in pair):
        assert not any(w in text for w in SELLER_WORDING), text
