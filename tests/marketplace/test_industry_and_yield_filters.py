"""Investors filter the marketplace by the debtor's industry and by yield (API and web)."""

from __future__ import annotations

from decimal import Decimal

from invoices.services import invoice_update_fields
from marketplace.services import listing_create
from paymint.core import clock
from tests.helpers import LISTING_DAY, priced_invoice


def test_filters_by_industry_and_minimum_yield(seller, make_investor, api_client, client):
    invoice = priced_invoice(seller)
    invoice = invoice_update_fields(invoice=invoice, actor=seller,
                                    changes={"debtor_industry": "C"})
    from invoices.services import invoice_submit

    with clock.frozen_at(LISTING_DAY):
        from django.test import TestCase

        with TestCase.captureOnCommitCallbacks(execute=True):
            invoice_submit(invoice=invoice, actor=seller)
        invoice.refresh_from_db()
        listing_create(invoice=invoice, seller=seller)
    investor = make_investor()
    api = api_client(investor)
    with clock.frozen_at(LISTING_DAY):
        def ids(query):
            return [r["id"] for r in api.get(f"/api/v1/marketplace?{query}").json()["results"]]

        assert len(ids("industry=C")) == 1
        assert ids("industry=F") == []
        assert len(ids("min_yield=0.08")) == 1  # grade A: 8 % a year
        assert ids("min_yield=0.0801") == []
        assert api.get("/api/v1/marketplace?industry=ZZ").status_code == 400
        body = api.get("/api/v1/marketplace").json()["results"][0]
        assert body["debtor_industry"] == "C"

        client.force_login(investor)
        page = client.get("/marketplace/", {"industry": "C", "yield_min": "8"})
        assert page.status_code == 200 and invoice.debtor_name.encode() in page.content
        page = client.get("/marketplace/", {"industry": "F"})
        assert invoice.debtor_name.encode() not in page.content


def test_industry_must_be_a_known_section(seller, api_client):
    invoice = priced_invoice(seller)
    response = api_client(seller).patch(f"/api/v1/invoices/{invoice.public_id}",
                                        {"debtor_industry": "ZZ"}, format="json")
    assert response.status_code == 400
    invoice.refresh_from_db()
    assert invoice.debtor_industry == ""
    assert Decimal(invoice.discount_rate) == Decimal("0.08")
